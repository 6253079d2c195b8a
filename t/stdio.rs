//! The daemons start without Rust's runtime set-up (`upkeep::daemon_main!`),
//! so they make sure of what it did: started with descriptors 0, 1 and 2
//! closed, they hold /dev/null there, never one of their own files (a lock
//! or FIFO on fd 1 would get a child's output), and SIGPIPE is ignored.

mod common;

use std::path::Path;
use std::process::{Child, Command};

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(10);

/// `program args...` with 0, 1 and 2 closed (sh execs it in place).
fn start_closed(program: &str, args: &[&Path]) -> Child {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"exec "$@" <&- >&- 2>&-"#)
        .arg("sh")
        .arg(program)
        .args(args)
        .spawn()
        .unwrap()
}

fn fd_target(pid: u32, fd: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("<{e}>"))
}

fn assert_stdio_on_dev_null(pid: u32) {
    for fd in 0..3 {
        assert_eq!(fd_target(pid, fd), "/dev/null", "fd {fd} of {pid}");
    }
    assert!(ignores(&pid.to_string(), libc::SIGPIPE), "SIGPIPE of {pid}");
}

#[test]
fn supervise_started_with_stdio_closed_holds_dev_null_there() {
    let s = Service::new("#!/bin/sh\nexec sleep 600\n");
    let sup = TermOnDrop(start_closed(SUPERVISE, &[&s.dir]));
    wait_for("run up", T, || s.pid() != 0);
    assert_stdio_on_dev_null(sup.0.id());
    // run gets them as they are.
    wait_for("run to exec", T, || {
        std::fs::read_to_string(format!("/proc/{}/comm", s.pid())).unwrap_or_default() == "sleep\n"
    });
    for fd in 0..3 {
        assert_eq!(fd_target(s.pid(), fd), "/dev/null", "run's fd {fd}");
    }
    drop(sup);
}

#[test]
fn svscan_started_with_stdio_closed_holds_dev_null_there() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = TermOnDrop(start_closed(env!("CARGO_BIN_EXE_svscan"), &[tmp.path()]));
    let pid = scan.0.id();
    // Its inotify is open once it runs (not sh, before the exec).
    wait_for("svscan set up", T, || {
        (3..16).any(|fd| fd_target(pid, fd) == "anon_inode:inotify")
    });
    assert_stdio_on_dev_null(pid);
    drop(scan);
}
