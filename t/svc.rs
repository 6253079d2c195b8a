//! svc -w and -T: waiting for states, time limits, exit codes.

mod common;

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(5);

#[test]
fn wait_for_down_up_restart() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    let out = s.svc(&["-d", "-wd", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(s.pid(), 0, "-wd returned before down");
    let out = s.svc(&["-u", "-wu", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_ne!(s.pid(), 0, "-wu returned before up");
    let pid = s.pid();
    let out = s.svc(&["-t", "-wr", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        s.pid() != 0 && s.pid() != pid,
        "-wr returned before the restart"
    );
    let out = s.svc(&["-wU", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn time_limit_exits_99() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    fs::write(s.path("down"), "").unwrap();
    let _sup = s.supervise();
    let t0 = Instant::now();
    let out = s.svc(&["-wu", "-T", "200ms"]);
    assert_eq!(out.status.code(), Some(99));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("svc: fatal: timed out waiting for {}\n", s.dir.display())
    );
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert!(t0.elapsed() < Duration::from_secs(3));
}

#[test]
fn big_d_waits_for_finish() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    write_exec(
        &s.path("finish"),
        "#!/bin/sh\nwhile [ ! -e release ]; do sleep 0.01; done\necho done > finished\n",
    );
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    let dir = s.dir.clone();
    let waiter = std::thread::spawn(move || {
        Command::new(SVC)
            .args(["-d", "-wD", "-T", "5s"])
            .arg(&dir)
            .output()
            .unwrap()
    });
    wait_for("finishing", T, || s.state_field("state") == "finishing");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !waiter.is_finished(),
        "-wD returned while finish was running"
    );
    fs::write(s.path("release"), "").unwrap();
    let out = waiter.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(s.read("finished"), "done\n");
}

#[test]
fn big_r_waits_for_the_new_run_to_be_ready() {
    let s = Service::new("#!/bin/sh\nn=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n\nsleep 0.2\necho >&3\nexec sleep 100\n");
    fs::write(s.path("notification-fd"), "3").unwrap();
    let _sup = s.supervise();
    wait_for("ready", T, || s.state_field("state") == "ready");
    let out = s.svc(&["-t", "-wR", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(s.state_field("state"), "ready");
    assert_eq!(s.read("n").trim(), "2");
}

#[test]
fn not_running_and_mixed_dirs() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    let idle = tempfile::tempdir().unwrap();
    let out = Command::new(SVC)
        .args(["-u", "-wu", "-T", "2s"])
        .arg(&s.dir)
        .arg(idle.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("svc: warning: unable to control"));
    // Without -w, daemontools' exit code: 0 even when a dir failed.
    let out = Command::new(SVC)
        .arg("-u")
        .arg(idle.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn wait_notices_supervise_going_away() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    let mut sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    let dir = s.dir.clone();
    let waiter = std::thread::spawn(move || {
        Command::new(SVC)
            .args(["-wr", "-T", "10s"])
            .arg(&dir)
            .output()
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    signal(sup.pid(), Signal::SIGKILL);
    let out = waiter.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    // The orphaned service holds supervise's stderr open: end it first.
    signal(s.pid() as i32, Signal::SIGKILL);
    sup.wait_exit(T);
}

#[test]
fn a_hundred_concurrent_waiters() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    let mut waiters: Vec<_> = (0..100)
        .map(|_| {
            Command::new(SVC)
                .args(["-wd", "-T", "60s"])
                .arg(&s.dir)
                .spawn()
                .unwrap()
        })
        .collect();
    // Each waiter has its FIFO in supervise/event/ (or, where supervise
    // serves none, its inotify watch) once it waits; none may be done yet.
    let event = s.path("supervise/event");
    for w in &mut waiters {
        let pid = w.id();
        wait_for("the waiter's watch", T, || {
            has_inotify(pid) || holds_a_file_in(pid, &event) || w.try_wait().unwrap().is_some()
        });
        assert_eq!(w.try_wait().unwrap(), None, "a waiter finished before d");
    }
    s.send("d");
    for mut w in waiters {
        assert_eq!(w.wait().unwrap().code(), Some(0));
    }
}

#[test]
fn svc_never_writes_through_a_symlink_nor_into_a_regular_file() {
    // No supervise, a dir where someone planted supervise/control: a
    // symlink to a file root cares about, or a regular file.
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    fs::create_dir(s.path("supervise")).unwrap();
    let victim = s.tmp.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, s.path("supervise/control")).unwrap();
    std::os::unix::fs::symlink(&victim, s.path("supervise/ok")).unwrap();
    // A warning; exit 0 without -w, as daemontools' svc.
    let out = s.svc(&["-d"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("supervise/control is not a FIFO"),
        "{out:?}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let ok = Command::new(SVOK).arg(&s.dir).status().unwrap();
    assert_eq!(ok.code(), Some(100), "svok saw a supervise in a symlink");
    // A regular file (`echo d > supervise/control` while nothing ran).
    fs::remove_file(s.path("supervise/control")).unwrap();
    fs::remove_file(s.path("supervise/ok")).unwrap();
    fs::write(s.path("supervise/control"), "").unwrap();
    fs::write(s.path("supervise/ok"), "").unwrap();
    let out = s.svc(&["-u"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("supervise/control is not a FIFO"),
        "{out:?}"
    );
    assert_eq!(s.read("supervise/control"), "", "letters went nowhere");
    let ok = Command::new(SVOK).arg(&s.dir).status().unwrap();
    assert_eq!(ok.code(), Some(100), "svok saw a supervise in a file");
}

/// Whether process `pid` holds an inotify descriptor.
fn has_inotify(pid: u32) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|e| fs::read_link(e.path()).is_ok_and(|l| l.as_os_str() == "anon_inode:inotify"))
}

/// Whether process `pid` has a file in `dir` open (not `dir` itself,
/// which a waiter opens before it makes its FIFO).
fn holds_a_file_in(pid: u32, dir: &std::path::Path) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|e| fs::read_link(e.path()).is_ok_and(|l| l.starts_with(dir) && l.as_path() != dir))
}

/// The shipped MASTER hook (service/vrrp-notify/hooks/MASTER) while
/// pppoe's supervise is between a kill and its restart: the `u` is sent
/// again until a supervise takes it, so the service comes up.
#[test]
fn the_master_hook_waits_for_a_restarted_supervise() {
    let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 1106\n");
    fs::write(s.path("down"), "").unwrap();
    let shipped = fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("service/vrrp-notify/hooks/MASTER"),
    )
    .unwrap();
    let hook = s.tmp.path().join("MASTER");
    write_exec(
        &hook,
        &shipped.replace("/service/pppoe", &s.dir.display().to_string()),
    );
    let bin = std::path::Path::new(SVC).parent().unwrap();
    let mut run = Command::new(&hook)
        .args(["INSTANCE", "VI_1", "MASTER", "150"])
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .spawn()
        .unwrap();
    // No supervise yet: the hook keeps trying.
    std::thread::sleep(Duration::from_millis(600));
    assert!(run.try_wait().unwrap().is_none(), "the hook gave up");
    let _sup = s.supervise();
    let status = exited(&mut run, Duration::from_secs(20)).expect("the hook hangs");
    assert!(status.success(), "{status:?}");
    wait_for("the service up despite its down file", T, || {
        s.read("starts").lines().count() == 1
    });
}
