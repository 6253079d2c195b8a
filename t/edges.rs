//! supervise at the edges: hostile durations, s6's edge values,
//! a kill right after a restart, a lock still held by a dying predecessor,
//! and names that are not UTF-8.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::marked::{self, marker, KillMarked};
use common::started::Started;
use common::*;

const T: Duration = Duration::from_secs(10);
const SVSCAN: &str = env!("CARGO_BIN_EXE_svscan");

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A service whose run is `sleep MARK`, and the guard that kills every
/// copy of it when the test ends.
fn marked_sleeper(base: u32) -> (String, KillMarked, Service) {
    let mark = marker(base);
    let cleanup = KillMarked(mark.clone());
    let s = Service::new(&format!("#!/bin/sh\nexec sleep {mark}\n"));
    (mark, cleanup, s)
}

fn svstat(args: &[&str], dir: &Path) -> String {
    let out = Command::new(SVSTAT).args(args).arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn copies(marker: &str) -> Vec<u32> {
    marked::marked(marker)
}

/// Processes still running supervise's program in `dir`: a supervise, or
/// a child of one held before its exec.
fn supervise_code_in(dir: &Path) -> Vec<u32> {
    let exe = fs::canonicalize(SUPERVISE).unwrap();
    let dir = fs::canonicalize(dir).unwrap();
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let proc = e.path();
        if fs::read_link(proc.join("exe")).ok().as_ref() == Some(&exe)
            && fs::read_link(proc.join("cwd")).ok().as_ref() == Some(&dir)
        {
            found.push(pid);
        }
    }
    found
}

// ---- durations and s6's edge values ----------------------------------------

/// supervise's files holding one duration.
const DURATION_FILES: [&str; 5] = [
    "timeout-ready",
    "timeout-finish",
    "timeout-kill",
    "check-interval",
    "check-timeout",
];

#[test]
fn huge_durations_are_reported_once_and_never_panic() {
    let s = Service::new("#!/bin/sh\necho $$ >> starts\nexec sleep 1105\n");
    write_exec(&s.path("finish"), "#!/bin/sh\necho f >> finished\n");
    write_exec(&s.path("check"), "#!/bin/sh\nexit 0\n");
    let huge = "300000000000y";
    for f in DURATION_FILES {
        fs::write(s.path(f), huge).unwrap();
    }
    fs::write(s.path("backoff"), format!("1s {huge}")).unwrap();
    let mut sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("ready", T, || s.state_field("state") == "ready");
    let first = s.pid();
    let out = s.svc(&["-t", "-wR", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_ne!(s.pid(), first);
    let out = s.svc(&["-d", "-wD", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(s.read("finished").lines().count(), 2);
    s.send("x");
    let st = sup.wait_exit(T).expect("supervise exits");
    assert_eq!(st.code(), Some(0), "{}", sup.stderr());
    let err = sup.stderr();
    assert!(!err.contains("panicked"), "{err}");
    for f in DURATION_FILES.iter().chain(&["backoff"]) {
        let lines = err
            .lines()
            .filter(|l| l.contains(&format!("/{f}:")) && l.contains("out of range"))
            .count();
        assert_eq!(lines, 1, "{f}: {err}");
    }
}

#[test]
fn svc_takes_a_huge_time_limit() {
    let s = Service::new("#!/bin/sh\nexec sleep 1106\n");
    let _sup = s.supervise();
    let out = s.svc(&["-d", "-wd", "-T", "300000000000y"]);
    assert_ne!(out.status.code(), Some(101), "{out:?}");
    let out = s.svc(&["-u", "-wu", "-T", "100y"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn zero_timeout_finish_and_timeout_kill_mean_no_limit_as_in_s6() {
    // run shrugs off TERM for a moment, then leaves gracefully; finish
    // takes its time. With 0 in both files, neither is KILLed.
    let s = Service::new(
        "#!/bin/sh\ntrap 'sleep 0.3; echo graceful >> exits; exit 0' TERM\n\
         echo $$ > pid\nwhile :; do sleep 1 & wait $!; done\n",
    );
    write_exec(
        &s.path("finish"),
        "#!/bin/sh\nsleep 0.3\necho done >> finished\n",
    );
    fs::write(s.path("timeout-kill"), "0\n").unwrap();
    fs::write(s.path("timeout-finish"), "0\n").unwrap();
    let _sup = s.supervise();
    wait_for("up", T, || !s.read("pid").is_empty());
    let out = s.svc(&["-d", "-wD", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(s.read("exits"), "graceful\n", "run was KILLed");
    assert_eq!(s.read("finished"), "done\n", "finish was KILLed");
}

#[test]
fn down_signal_0_sends_no_signal_as_in_s6() {
    let s = Service::new(SIGNAL_RECORDER);
    fs::write(s.path("down-signal"), "0\n").unwrap();
    fs::write(s.path("timeout-kill"), "200\n").unwrap();
    let _sup = s.supervise();
    wait_for("recorder up", T, || !s.read("starts").is_empty());
    let out = s.svc(&["-d", "-wd", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // CONT, then KILL at timeout-kill: no TERM ever.
    assert!(!s.read("sigs").contains("TERM"), "{}", s.read("sigs"));
}

#[test]
fn notification_fd_1_is_run_s_stdout_as_in_s6() {
    let s =
        Service::new("#!/bin/sh\nwhile [ ! -e go ]; do sleep 0.01; done\necho\nexec sleep 1112\n");
    fs::write(s.path("notification-fd"), "1\n").unwrap();
    let _sup = s.supervise();
    // Not ready before it says so on fd 1.
    wait_for("up, not ready", T, || s.state_field("state") == "up");
    fs::write(s.path("go"), "").unwrap();
    wait_for("ready once it said so", T, || {
        s.state_field("state") == "ready"
    });
}

/// Whatever descriptor number notification-fd names, it never takes the
/// place of the pipe through which the child reports a failed exec.
#[test]
fn an_exec_failure_is_reported_whatever_the_notification_fd() {
    let scratch = tempfile::tempdir().unwrap();
    for fd in 3..48 {
        let s = Service::new("");
        fs::remove_file(s.path("run")).unwrap();
        fs::write(s.path("notification-fd"), format!("{fd}\n")).unwrap();
        fs::write(s.path("backoff"), "1s 1s").unwrap();
        let mut sup = Started::supervise(&s.dir, scratch.path());
        wait_for("the first start", T, || {
            s.state_field("fast_failures") == "1"
        });
        s.send("dx");
        assert!(sup.wait_exit(T).is_some());
        let err = sup.stderr();
        assert!(
            err.contains("unable to start") && err.contains("/run: file does not exist"),
            "notification-fd {fd}: {err}"
        );
    }
}

// ---- no duplicate -----------------------------------------------------------

#[test]
fn a_kill_right_after_a_restart_never_leaves_an_unrecorded_copy() {
    let trials = rounds("UPKEEP_RESTART_KILLS", 200);
    let (mark, _cleanup, s) = marked_sleeper(1108);
    // A successor that adopts a run TERMed a moment ago sees it die young,
    // which it counts as a crash: keep that backoff short.
    fs::write(s.path("backoff"), "1ms 5ms").unwrap();
    let mut sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("up", T, || s.state_field("state") == "ready");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for trial in 0..trials {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let before = s.pid();
        s.send("t");
        let delay = Duration::from_micros(rng % 2000);
        let start = Instant::now();
        while start.elapsed() < delay {
            std::hint::spin_loop();
        }
        signal(sup.pid(), Signal::SIGKILL);
        assert!(sup.wait_exit(T).is_some());
        sup = Started::supervise(&s.dir, s.tmp.path());
        wait_for("svok", T, || {
            Command::new(SVOK).arg(&s.dir).status().unwrap().success()
        });
        wait_for("up again", T, || {
            s.state_field("state") == "ready" && s.pid() != 0
        });
        // Every copy that exists is recorded (or the one TERMed before the
        // kill, on its way out). A copy unrecorded would exec within
        // moments of the kill: give it time to show.
        let end = Instant::now() + Duration::from_millis(20);
        while Instant::now() < end {
            let found = copies(&mark);
            let recorded = s.pid();
            assert!(
                found.iter().all(|&p| p == recorded || p == before),
                "trial {trial}: copies {found:?}, recorded {recorded}, before {before}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    wait_for("one copy", T, || copies(&mark).len() == 1);
    s.send("dx");
    assert!(sup.wait_exit(T).is_some());
    wait_for("no copy", T, || copies(&mark).is_empty());
    // A child held at its gate when its supervise was killed is gone too.
    wait_for("nothing held", T, || supervise_code_in(&s.dir).is_empty());
}

/// A supervise killed the moment its status names a new run: svstat must
/// say it is not running (no child of it, not yet exec'd, may still hold
/// supervise/ok), and the next supervise must get the lock.
#[test]
fn a_dead_supervise_is_never_reported_up_nor_holds_the_lock() {
    let trials = rounds("UPKEEP_HONESTY_KILLS", 100);
    let (_mark, _cleanup, s) = marked_sleeper(1111);
    let mut sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("up", T, || s.state_field("state") == "ready");
    for trial in 0..trials {
        let before = s.pid();
        s.send("t");
        // No sleep here: the window is the child's way from fork to exec.
        let end = Instant::now() + T;
        while s.pid() == before || s.pid() == 0 {
            assert!(Instant::now() < end, "trial {trial}: no restart");
        }
        signal(sup.pid(), Signal::SIGKILL);
        assert!(sup.wait_exit(T).is_some());
        let line = svstat(&[], &s.dir);
        if !line.ends_with("supervise not running\n") {
            let holder = upkeep::lock::flock_holder(&s.path("supervise/lock")).unwrap();
            let info = holder.map(|p| {
                (
                    fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default(),
                    fs::read_link(format!("/proc/{p}/fd")).ok(),
                )
            });
            let locks = fs::read_to_string("/proc/locks").unwrap_or_default();
            panic!(
                "trial {trial}: {line} killed {} holder {holder:?} {info:?}\n{locks}",
                sup.pid()
            );
        }
        sup = Started::supervise(&s.dir, s.tmp.path());
        wait_for("up again", T, || {
            sup.stderr().contains("fatal") || s.state_field("state") == "ready"
        });
        assert!(
            !sup.stderr().contains("fatal"),
            "trial {trial}: {}",
            sup.stderr()
        );
        wait_for("svok", T, || {
            Command::new(SVOK).arg(&s.dir).status().unwrap().success()
        });
    }
}

#[test]
fn garbage_in_status_and_state_never_panics_the_successor() {
    let (mark, _cleanup, s) = marked_sleeper(1113);
    let mut sup = Started::supervise(&s.dir, s.tmp.path());
    // state says ready once run's pid is on disk, before its exec
    // (doc/DESIGN.md): a supervise killed before the exec takes its child
    // with it, and there is nothing to adopt. Kill it once run runs.
    wait_for("up", T, || {
        s.state_field("state") == "ready" && copies(&mark) == [s.pid()]
    });
    let pid = s.pid();
    signal(sup.pid(), Signal::SIGKILL);
    assert!(sup.wait_exit(T).is_some());
    // Bad luck on disk: the time label and the count are garbage, the rest
    // is right.
    let state = s.read("supervise/state");
    let restarts = state.lines().find(|l| l.starts_with("restarts=")).unwrap();
    let state = state.replace(restarts, "restarts=18446744073709551615");
    fs::write(s.path("supervise/state"), state).unwrap();
    let mut status = fs::read(s.path("supervise/status")).unwrap();
    status[..12].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    fs::write(s.path("supervise/status"), &status).unwrap();
    let mut sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("adopted", T, || {
        sup.stderr().contains("adopted") || sup.child.try_wait().unwrap().is_some()
    });
    assert!(sup.child.try_wait().unwrap().is_none(), "{}", sup.stderr());
    assert_eq!(s.pid(), pid);
    let out = Command::new(SVSTAT).arg("-l").arg(&s.dir).output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_new_supervise_waits_for_a_dying_predecessors_lock() {
    let s = Service::new("#!/bin/sh\nexec sleep 1109\n");
    fs::create_dir(s.path("supervise")).unwrap();
    fs::write(s.path("supervise/lock"), "").unwrap();
    chmod(&s.path("supervise/lock"), 0o644);
    // Something holds the lock for a moment (as a supervise killed an
    // instant ago, or the child it forked, until the kernel closes it).
    let mut holder = Started::spawn(
        Command::new("flock")
            .arg(s.path("supervise/lock"))
            .args(["sleep", "0.3"]),
        s.tmp.path(),
        None,
    );
    wait_for("lock held", T, || {
        upkeep::lock::flock_holder(&s.path("supervise/lock"))
            .unwrap()
            .is_some()
    });
    let mut sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("up after the holder is gone", T, || s.pid() != 0);
    assert!(holder.wait_exit(T).is_some());
    assert!(sup.child.try_wait().unwrap().is_none(), "{}", sup.stderr());
    // A live supervise is still refused, as daemontools' is.
    let out = Command::new(SUPERVISE).arg(&s.dir).output().unwrap();
    assert_eq!(out.status.code(), Some(111));
}

// ---- names that are not UTF-8 -------------------------------------------------

#[test]
fn a_dir_named_with_a_non_utf8_byte_works_everywhere() {
    let mark = marker(1110);
    let _cleanup = KillMarked(mark.clone());
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(OsStr::from_bytes(b"sv\xff"));
    fs::create_dir(&dir).unwrap();
    write_exec(&dir.join("run"), &format!("#!/bin/sh\nexec sleep {mark}\n"));
    write_exec(
        &dir.join("finish"),
        "#!/bin/sh\nprintf '%s' \"$3\" > name\n",
    );
    let sup = Started::supervise(&dir, root.path());
    wait_for("up", T, || read_pid(&dir) != 0);
    assert!(Command::new(SVOK).arg(&dir).status().unwrap().success());
    let out = Command::new(SVSTAT).arg(&dir).output().unwrap();
    let mut expected = dir.as_os_str().as_bytes().to_vec();
    expected.extend(b": up (pid ");
    assert!(out.stdout.starts_with(&expected), "{out:?}");
    let json = svstat(&["--json"], &dir);
    assert!(json.contains("\"up\":true"), "{json}");
    let out = Command::new(SVC)
        .args(["-d", "-wD", "-T", "5s"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(fs::read(dir.join("name")).unwrap(), b"sv\xff");
    drop(sup);
    // svok on a missing dir so named: 111, no panic.
    let out = Command::new(SVOK)
        .arg(OsStr::from_bytes(b"\xff"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    // Under svscan.
    fs::remove_dir_all(dir.join("supervise")).unwrap();
    let scan_dir = root.path().join(OsStr::from_bytes(b"scan\xfe"));
    fs::create_dir(&scan_dir).unwrap();
    fs::rename(&dir, scan_dir.join(OsStr::from_bytes(b"\xff"))).unwrap();
    let svc_dir = scan_dir.join(OsStr::from_bytes(b"\xff"));
    let mut cmd = Command::new(SVSCAN);
    cmd.arg(&scan_dir);
    let scan = Started::spawn(&mut cmd, root.path(), None);
    wait_for("up under svscan", T, || read_pid(&svc_dir) != 0);
    let err = scan.stderr();
    assert!(!err.contains("exited 101"), "{err}");
    let pid = read_pid(&svc_dir);
    signal(scan.pid(), Signal::SIGTERM);
    wait_for("stopped with svscan", T, || !alive(pid));
}

/// Every program, on argv that is not UTF-8 and other oddities, exits with
/// a code of its own: never 101 (a Rust panic) and never by a signal.
#[test]
fn no_program_panics_on_any_argv() {
    let bin_dir = Path::new(SUPERVISE).parent().unwrap();
    let mut programs: Vec<PathBuf> = fs::read_dir(bin_dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_none_or(|e| e != "d")
                && fs::metadata(p).unwrap().permissions().mode() & 0o111 != 0
        })
        .collect();
    programs.sort();
    assert!(programs.len() >= 15, "{programs:?}");
    let pool: &[&[u8]] = &[
        b"\xff",
        b"-\xff",
        b"--\xff",
        b"\xff=\xfe",
        b"-",
        b"--",
        b"",
        b"./\xff/\xfe",
        b"-T",
        b"-w\xff",
        b"1\xff",
        b"300000000000y",
    ];
    let scratch = tempfile::tempdir().unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut failures = Vec::new();
    for program in &programs {
        for case in 0..8 {
            let mut argv: Vec<&OsStr> = Vec::new();
            // Always at least one odd argument: some programs do real work
            // when given none (svscan scans ".", pppoe-connect dials).
            for _ in 0..(1 + case % 3) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                argv.push(OsStr::from_bytes(pool[(rng % pool.len() as u64) as usize]));
            }
            if argv.iter().all(|a| !a.as_bytes().contains(&0xff)) {
                argv.push(OsStr::from_bytes(b"\xff"));
            }
            let cwd = tempfile::tempdir_in(scratch.path()).unwrap();
            let mut cmd = Command::new(program);
            cmd.args(&argv).current_dir(cwd.path());
            let mut run = Started::spawn(&mut cmd, scratch.path(), None);
            // Programs that run on (svscan on a dir, a chain-loader's
            // child) are ended here; only what they did before counts.
            let status = run.wait_exit(Duration::from_secs(3));
            let Some(status) = status else { continue };
            use std::os::unix::process::ExitStatusExt;
            if status.code() == Some(101) || status.signal().is_some() {
                failures.push(format!(
                    "{} {argv:?}: {status:?}: {}",
                    program.display(),
                    run.stderr()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
