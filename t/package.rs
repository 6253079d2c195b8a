//! The Debian package, as INSTALL builds it: `dpkg-buildpackage` on a copy
//! of the repository's tracked files, `lintian` on the .deb (clean but for
//! the overrides debian/ justifies), `dpkg` installing it into a throw-away
//! root, and the installed `svscan` running the installed demo service
//! with the installed `svstat`, `svc` and `tai64nlocal` looking at it.
//! Needs root and dpkg-dev, debhelper and lintian; with CI=true it must run.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{have, wait_for};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Copy the files git tracks, and new ones it does not ignore, as they are
/// in the work tree, into `to`.
fn copy_tracked(to: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = run(Command::new("git").arg("-C").arg(repo).args([
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    ]));
    for name in list.split('\0').filter(|n| !n.is_empty()) {
        let from = repo.join(name);
        let dest = to.join(name);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        // A file deleted in the work tree but still tracked is left out.
        if let Ok(meta) = fs::symlink_metadata(&from) {
            if meta.is_file() {
                fs::copy(&from, &dest).unwrap();
            }
        }
    }
}

use common::TermOnDrop as Scanner;

/// An ELF64 program's (position-independent, has an interpreter, has
/// GNU_RELRO), from its headers.
fn elf_kind(path: &Path) -> (bool, bool, bool) {
    let elf = fs::read(path).unwrap();
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let types: Vec<u32> = (0..u16_at(56))
        .map(|i| u32_at(phoff + i * u16_at(54)))
        .collect();
    const ET_DYN: usize = 3;
    const PT_INTERP: u32 = 3;
    const PT_GNU_RELRO: u32 = 0x6474_e552;
    (
        u16_at(16) == ET_DYN,
        types.contains(&PT_INTERP),
        types.contains(&PT_GNU_RELRO),
    )
}

fn build_package(work: &Path) -> PathBuf {
    let src = work.join("upkeep");
    copy_tracked(&src);
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    run(Command::new("dpkg-buildpackage")
        .args(["-b", "-uc", "-us", "-d"])
        .current_dir(&src)
        .env("CARGO_TARGET_DIR", &target));
    let deb = fs::read_dir(work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("dpkg-buildpackage made no .deb");
    deb
}

#[test]
fn builds_lints_installs_and_runs() {
    if !common::need_root("the package test") {
        return;
    }
    if !(have("/usr/bin/dpkg-buildpackage") && have("/usr/bin/lintian") && have("/usr/bin/dh")) {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let deb = build_package(work.path());

    // lintian: no error or warning left (overrides in debian/ say why).
    let lint = run(Command::new("lintian")
        .args(["--fail-on", "error,warning"])
        .arg(&deb));
    assert!(
        !lint
            .lines()
            .any(|l| l.starts_with("E:") || l.starts_with("W:")),
        "{lint}"
    );

    // Files the package must carry, where Debian and Pacemaker look.
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for f in [
        "./usr/bin/svscan",
        "./usr/bin/pppoe-stop",
        "./usr/share/man/man8/supervise.8.gz",
        "./usr/share/upkeep/service/demo/run",
        "./usr/share/upkeep/service/ppp/adsl-lost",
        "./lib/systemd/system/upkeep.service",
        "./usr/lib/ocf/resource.d/upkeep/upkeep",
        "./usr/share/bash-completion/completions/svc",
        "./usr/lib/nagios/plugins/check_upkeep",
    ] {
        assert!(
            listing.contains(f),
            "{f} missing from the package:\n{listing}"
        );
    }

    // Install into a throw-away root.
    let root = work.path().join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["--force-depends", "--force-not-root", "-i"])
        .arg(&deb));
    let unit = fs::read_to_string(root.join("lib/systemd/system/upkeep.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/bin/svscanboot /service"),
        "{unit}"
    );
    let bin = root.join("usr/bin");

    // debian/build-dist: the daemons static-pie (no interpreter, still
    // PIE with RELRO), the two programs that call getpwnam dynamic.
    for p in ["supervise", "svscan", "multilog", "svc", "vrrp-notify"] {
        assert_eq!(elf_kind(&bin.join(p)), (true, false, true), "{p}");
    }
    for p in ["setuidgid", "envuidgid"] {
        assert_eq!(elf_kind(&bin.join(p)), (true, true, true), "{p}");
    }

    // The installed svscan over a copy of the installed demo.
    let scan = work.path().join("service");
    fs::create_dir(&scan).unwrap();
    run(Command::new("cp")
        .arg("-R")
        .arg(root.join("usr/share/upkeep/service/demo"))
        .arg(&scan));
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let _scanner = Scanner(
        Command::new(bin.join("svscan"))
            .arg(&scan)
            .env("PATH", &path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let demo = scan.join("demo");
    let svstat = |dir: &Path| {
        Command::new(bin.join("svstat"))
            .arg(dir)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    wait_for("the installed demo up", Duration::from_secs(30), || {
        svstat(&demo).contains(": up (pid ") && svstat(&demo.join("log")).contains(": up (pid ")
    });
    run(Command::new(bin.join("svc"))
        .args(["-t", "-wr", "-T", "20s"])
        .arg(&demo));
    let current = demo.join("log/main/current");
    wait_for("the demo's log", Duration::from_secs(30), || {
        fs::read(&current).is_ok_and(|b| !b.is_empty())
    });
    let local = run(Command::new("sh").arg("-c").arg(format!(
        "{} < {}",
        bin.join("tai64nlocal").display(),
        current.display()
    )));
    assert!(
        local.lines().next().is_some_and(|l| l.starts_with("20")),
        "{local}"
    );
}
