//! Every program answers `--help` (a page on stdout, exit 0) and
//! `--version` (exit 0), and keeps daemontools' usage line and exit code
//! 100 for bad usage.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn programs() -> Vec<(String, PathBuf)> {
    let manifest = include_str!("../Cargo.toml");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_svc")).parent().unwrap();
    let mut in_bin = false;
    let mut out = Vec::new();
    for line in manifest.lines() {
        if line.starts_with("[[") || line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(name) = line.strip_prefix("name = ") {
                let name = name.trim_matches('"').to_string();
                out.push((name.clone(), bin_dir.join(name)));
            }
        }
    }
    assert!(out.len() >= 21, "{out:?}");
    out
}

fn run(bin: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_program_has_help_and_version() {
    for (name, bin) in programs() {
        let (code, out, err) = run(&bin, &["--help"]);
        assert_eq!(code, Some(0), "{name} --help: {err}");
        assert!(
            out.to_lowercase().contains("usage") && out.contains(name.as_str()),
            "{name} --help printed:\n{out}"
        );
        assert!(err.is_empty(), "{name} --help wrote to stderr: {err}");
        let (code, out, err) = run(&bin, &["--version"]);
        assert_eq!(code, Some(0), "{name} --version: {err}");
        assert!(
            out.contains(env!("CARGO_PKG_VERSION")),
            "{name} --version printed: {out}"
        );
    }
}

#[test]
fn bad_usage_keeps_daemontools_line_and_code() {
    let bin = |n: &str| {
        programs()
            .into_iter()
            .find(|(name, _)| name == n)
            .unwrap()
            .1
    };
    // envdir's usage exits 111 in daemontools, and so here.
    for (prog, line, want) in [
        ("supervise", "supervise: usage: supervise dir", 100),
        ("svok", "svok: usage: svok dir", 100),
        ("fghack", "fghack: usage: fghack child", 100),
        (
            "setuidgid",
            "setuidgid: usage: setuidgid account child",
            100,
        ),
        ("envdir", "envdir: usage: envdir dir child", 111),
    ] {
        let (code, _, err) = run(&bin(prog), &[]);
        assert_eq!(code, Some(want), "{prog}: {err}");
        assert_eq!(err.trim_end(), line, "{prog}");
    }
    // svc without a dir does nothing, silently, as daemontools' svc
    // (t/compat.rs holds it to that); --help is how to ask.
    let (code, _, err) = run(&bin("svc"), &[]);
    assert_eq!((code, err.as_str()), (Some(0), ""));
    let (code, _, err) = run(&bin("svc"), &["-u"]);
    assert_eq!((code, err.as_str()), (Some(0), ""));
}
