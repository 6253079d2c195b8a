//! README's first minute, run as written: svscan over (a copy of) the
//! bundled service/ dir, then every `$ ` line of the "The first minute"
//! section in order, each compared with the lines README shows after it
//! (digits may differ: pids, times, counts). Every command must exit 0 and
//! print nothing on stderr.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::wait_for;

struct Step {
    command: String,
    expected: Vec<String>,
}

/// The `$ ` lines of README's first-minute section and what follows each.
fn readme_steps() -> Vec<Step> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("The first minute"))
        .expect("README has no 'The first minute' section");
    let mut steps: Vec<Step> = Vec::new();
    for line in section.lines() {
        let Some(block) = line.strip_prefix("    ") else {
            continue;
        };
        if let Some(command) = block.strip_prefix("$ ") {
            steps.push(Step {
                command: command.to_string(),
                expected: Vec::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(block.to_string());
        }
    }
    assert!(
        steps.len() >= 5,
        "too few commands in README's first minute"
    );
    steps
}

/// Does `got` read like `want`, every run of digits in `want` standing for
/// any run of digits?
fn alike(want: &str, got: &str) -> bool {
    let (mut w, mut g) = (want.as_bytes(), got.as_bytes());
    loop {
        match (w.first(), g.first()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.is_ascii_digit() && b.is_ascii_digit() => {
                w = trim_digits(w);
                g = trim_digits(g);
            }
            (Some(a), Some(b)) if a == b => {
                w = &w[1..];
                g = &g[1..];
            }
            _ => return false,
        }
    }
}

fn trim_digits(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    &s[n..]
}

/// The bundled service/ dir without what a demo run left in it.
fn copy_services(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "supervise" || (from.ends_with("log") && name == "main") {
            continue;
        }
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_dir() {
            copy_services(&entry.path(), &to.join(&name));
        } else if meta.is_file() {
            fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

use common::TermOnDrop as Scanner;

#[test]
fn readme_first_minute_works_as_written() {
    let bin: PathBuf = Path::new(env!("CARGO_BIN_EXE_svscan"))
        .parent()
        .unwrap()
        .to_path_buf();
    let work = tempfile::tempdir().unwrap();
    copy_services(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("service"),
        &work.path().join("service"),
    );
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let scanner = Command::new(bin.join("svscan"))
        .arg("service")
        .current_dir(work.path())
        .env("PATH", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _scanner = Scanner(scanner);

    let sh = |command: &str| {
        let command = command.replace("target/release/", &format!("{}/", bin.display()));
        Command::new("sh")
            .arg("-c")
            .arg(&command)
            .current_dir(work.path())
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    // A user reads the README for a few seconds: the demo is ready by then
    // (its health check has passed) and has logged two ticks.
    wait_for(
        "the demo ready, two ticks logged",
        Duration::from_secs(60),
        || {
            let st = sh("target/release/svstat -l service/demo");
            let log =
                fs::read(work.path().join("service/demo/log/main/current")).unwrap_or_default();
            String::from_utf8_lossy(&st.stdout).contains("state ready")
                && log.iter().filter(|&&b| b == b'\n').count() >= 2
        },
    );

    for step in readme_steps() {
        let out = sh(&step.command);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "`{}` failed ({:?}): {stderr}",
            step.command,
            out.status
        );
        let got: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            got.len(),
            step.expected.len(),
            "`{}` printed:\n{stdout}\nREADME shows:\n{}",
            step.command,
            step.expected.join("\n")
        );
        for (want, got) in step.expected.iter().zip(&got) {
            assert!(
                alike(want, got),
                "`{}` printed {got:?}, README shows {want:?}",
                step.command
            );
        }
    }
}

#[test]
fn digits_stand_for_digits_only() {
    assert!(alike("up (pid 8422) 7 seconds", "up (pid 1) 12 seconds"));
    assert!(!alike("up (pid 8422) 7 seconds", "down (pid 1) 12 seconds"));
    assert!(!alike("down 7 seconds", "down 7 seconds, normally up"));
}
