//! Differential tests: the same command against Debian's daemontools and
//! against upkeep, outputs and exit codes compared; and each side's tools
//! driving the other's supervise.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(5);
const DT: &str = "/usr/bin";

fn dt(name: &str) -> String {
    format!("{DT}/{name}")
}

fn run(program: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// svstat's seconds differ between two calls a moment apart: mask them.
fn mask_seconds(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive(' ') {
        if word.trim_end().chars().all(|c| c.is_ascii_digit()) && !word.trim().is_empty() {
            out.push_str("N ");
        } else {
            out.push_str(word);
        }
    }
    out
}

fn same(program: &str, args: &[&str], cwd: &Path) {
    let theirs = run(&dt(program), args, cwd);
    let ours = run(
        &format!(
            "{}/{program}",
            env!("CARGO_BIN_EXE_svc").rsplit_once('/').unwrap().0
        ),
        args,
        cwd,
    );
    assert_eq!(
        (
            mask_seconds(&String::from_utf8_lossy(&ours.stdout)),
            String::from_utf8_lossy(&ours.stderr),
            ours.status.code()
        ),
        (
            mask_seconds(&String::from_utf8_lossy(&theirs.stdout)),
            String::from_utf8_lossy(&theirs.stderr),
            theirs.status.code()
        ),
        "{program} {args:?} in {}",
        cwd.display()
    );
}

fn both_have_daemontools() -> bool {
    have("/usr/bin/svstat") && have("/usr/bin/supervise")
}

#[test]
fn usage_and_missing_dirs() {
    if !both_have_daemontools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::create_dir(d.join("new")).unwrap();
    fs::write(d.join("file"), "").unwrap();
    fs::create_dir_all(d.join("dead/supervise")).unwrap();
    nix::unistd::mkfifo(
        &d.join("dead/supervise/ok"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    nix::unistd::mkfifo(
        &d.join("dead/supervise/control"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    for args in [
        vec![],
        vec!["nonexistent"],
        vec!["new"],
        vec!["file"],
        vec!["dead"],
        vec!["nonexistent", "new", "dead"],
    ] {
        same("svstat", &args, d);
        same("svok", &args, d);
        same("svc", &args, d);
        let mut with_letters = vec!["-u", "-dx"];
        with_letters.extend(&args);
        same("svc", &with_letters, d);
    }
    for bad in [
        vec!["-z", "new"],
        vec!["-"],
        vec!["--", "new"],
        vec!["-u", "--", "-d"],
    ] {
        same("svc", &bad, d);
    }
    for args in [vec![], vec!["nonexistent"], vec!["a", "b"], vec!["file"]] {
        same("supervise", &args, d);
    }
}

#[test]
fn svstat_reads_each_others_status() {
    if !both_have_daemontools() {
        return;
    }
    for supervisor in [dt("supervise"), SUPERVISE.to_string()] {
        let s = Service::new("#!/bin/sh\nexec sleep 100\n");
        let _sup = s.supervise_with(&supervisor);
        wait_for("up", T, || s.pid() != 0);
        let parent = s.tmp.path();
        same("svstat", &["svc"], parent);
        run(&dt("svc"), &["-p"], &s.dir);
        Command::new(dt("svc"))
            .args(["-p", "svc"])
            .current_dir(parent)
            .status()
            .unwrap();
        wait_for("paused", T, || s.status().map(|x| x.1) == Some(1));
        same("svstat", &["svc"], parent);
        Command::new(dt("svc"))
            .args(["-cd", "svc"])
            .current_dir(parent)
            .status()
            .unwrap();
        wait_for("down", T, || s.pid() == 0);
        same("svstat", &["svc"], parent);
        fs::write(s.path("down"), "").unwrap();
        same("svstat", &["svc"], parent);
        Command::new(dt("svc"))
            .args(["-u", "svc"])
            .current_dir(parent)
            .status()
            .unwrap();
        wait_for("up", T, || s.pid() != 0);
        same("svstat", &["svc"], parent);
        Command::new(dt("svc"))
            .args(["-o", "svc"])
            .current_dir(parent)
            .status()
            .unwrap();
        wait_for("want once", T, || s.status().map(|x| x.2) == Some(0));
        same("svstat", &["svc"], parent);
        same("svok", &["svc"], parent);
    }
}

#[test]
fn a_second_supervise_says_the_same() {
    if !both_have_daemontools() {
        return;
    }
    for holder in [dt("supervise"), SUPERVISE.to_string()] {
        let s = Service::new("#!/bin/sh\nexec sleep 100\n");
        let _sup = s.supervise_with(&holder);
        same("supervise", &["svc"], s.tmp.path());
    }
}

#[test]
fn daemontools_svc_drives_upkeep_supervise() {
    if !both_have_daemontools() {
        return;
    }
    let s = Service::new(SIGNAL_RECORDER);
    let mut sup = s.supervise();
    wait_for("up", T, || s.pid() != 0 && !s.read("starts").is_empty());
    let svc = |l: &str| Command::new(dt("svc")).arg(l).arg(&s.dir).status().unwrap();
    svc("-h");
    wait_for("HUP", T, || s.read("sigs").contains("HUP"));
    let pid = s.pid();
    svc("-t");
    wait_for("restart", T, || s.pid() != 0 && s.pid() != pid);
    svc("-d");
    wait_for("down", T, || s.pid() == 0);
    svc("-u");
    wait_for("up", T, || s.pid() != 0);
    svc("-dx");
    assert_eq!(sup.wait_exit(T).0, Some(0));
}

#[test]
fn upkeep_svc_waits_on_daemontools_supervise() {
    if !both_have_daemontools() {
        return;
    }
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    let _sup = s.supervise_with(&dt("supervise"));
    wait_for("up", T, || s.pid() != 0);
    let out = s.svc(&["-d", "-wd", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(s.pid(), 0);
    let out = s.svc(&["-u", "-wU", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_ne!(s.pid(), 0);
    let pid = s.pid();
    let out = s.svc(&["-t", "-wr", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_ne!(s.pid(), pid);
    let out = s.svc(&["-wd", "-T", "200ms"]);
    assert_eq!(out.status.code(), Some(99));
}

/// daemontools' supervise started where upkeep's ran: the event/ dir that
/// upkeep's left is served by nobody, and upkeep's svc -w must notice and
/// wait through inotify instead of hanging.
#[test]
fn upkeep_svc_waits_on_daemontools_supervise_after_upkeeps() {
    if !both_have_daemontools() {
        return;
    }
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    {
        let _ours = s.supervise();
        wait_for("up", T, || s.pid() != 0);
        let out = s.svc(&["-d", "-wd", "-T", "5s"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    assert!(s.path("supervise/event").is_dir());
    let _theirs = s.supervise_with(&dt("supervise"));
    wait_for("up", T, || s.pid() != 0);
    for (letters, goal) in [("-d", "-wd"), ("-u", "-wu"), ("-d", "-wd")] {
        // A waiter on a FIFO nobody writes would only see the state when
        // its -T ran out.
        let t0 = std::time::Instant::now();
        let out = s.svc(&[letters, goal, "-T", "20s"]);
        assert_eq!(out.status.code(), Some(0), "{letters} {goal}: {out:?}");
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{letters} {goal} woke only at its time limit"
        );
    }
}
