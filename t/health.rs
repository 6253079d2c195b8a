//! Health checks, readiness and adoption (doc/DESIGN.md, supervise): what
//! Pacemaker's monitor gives, and a supervisor whose death costs nothing.

mod common;

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(10);

fn svstat_json(s: &Service) -> String {
    String::from_utf8(
        Command::new(SVSTAT)
            .arg("--json")
            .arg(&s.dir)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
}

#[test]
fn passing_checks_change_nothing_and_make_ready() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    write_exec(
        &s.path("check"),
        "#!/bin/sh\necho \"$1\" >> checked\nexit 0\n",
    );
    fs::write(s.path("check-interval"), "100ms").unwrap();
    let _sup = s.supervise();
    wait_for("ready through the first check", T, || {
        s.state_field("state") == "ready"
    });
    let pid = s.pid();
    wait_for("several checks", T, || {
        s.read("checked").lines().count() >= 4
    });
    assert!(
        s.read("checked").lines().all(|l| l == pid.to_string()),
        "check gets run's pid"
    );
    assert_eq!(s.pid(), pid);
    assert_eq!(s.state_field("check"), "ok");
    assert!(svstat_json(&s).contains("\"check\":\"ok\""));
}

#[test]
fn failing_checks_restart_after_n() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    // Healthy once (ready), then failing.
    write_exec(
        &s.path("check"),
        "#!/bin/sh\nif [ -e healthy ]; then rm healthy; exit 0; fi\necho x >> failures\nexit 1\n",
    );
    fs::write(s.path("healthy"), "").unwrap();
    fs::write(s.path("check-interval"), "50ms").unwrap();
    fs::write(s.path("check-failures"), "3").unwrap();
    let mut sup = s.supervise();
    wait_for("ready", T, || s.state_field("state") == "ready");
    let pid = s.pid();
    wait_for("restart after 3 failures", T, || {
        s.pid() != 0 && s.pid() != pid
    });
    assert_eq!(
        s.read("failures").lines().count(),
        3,
        "exactly check-failures failures before the restart"
    );
    // status is out before state: wait for the state's account too.
    wait_for("restarts=1", T, || s.state_field("restarts") == "1");
    s.send("dx");
    let (_, err) = sup.wait_exit(T);
    assert!(
        err.contains("check failed 3 times in a row: restarting"),
        "{err}"
    );
}

#[test]
fn a_hanging_check_is_killed_and_counts_as_timeout() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    write_exec(&s.path("check"), "#!/bin/sh\nif [ -e healthy ]; then rm healthy; exit 0; fi\necho $$ >> hung\nexec sleep 100\n");
    fs::write(s.path("healthy"), "").unwrap();
    fs::write(s.path("check-interval"), "50ms").unwrap();
    fs::write(s.path("check-timeout"), "1s").unwrap();
    fs::write(s.path("check-failures"), "2").unwrap();
    let _sup = s.supervise();
    wait_for("ready", T, || s.state_field("state") == "ready");
    let pid = s.pid();
    wait_for("first hanging check", T, || !s.read("hung").is_empty());
    let hung: u32 = s.read("hung").lines().next().unwrap().parse().unwrap();
    wait_for("hung check killed", T, || !alive(hung));
    wait_for("restart after two timeouts", T, || {
        s.pid() != pid && s.pid() != 0
    });
    // Never overlapping: at most one check at a time, so exactly two hung.
    assert_eq!(s.read("hung").lines().count(), 2);
}

#[test]
fn not_ready_in_time_is_restarted() {
    let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 100\n");
    fs::write(s.path("notification-fd"), "3").unwrap();
    fs::write(s.path("timeout-ready"), "200ms").unwrap();
    let _sup = s.supervise();
    wait_for("restarted for not being ready", T, || {
        s.read("starts").lines().count() >= 2
    });
    assert_eq!(
        s.state_field("fast_failures"),
        "0",
        "a readiness restart is not a crash"
    );
}

#[test]
fn adoption_after_supervise_is_killed() {
    let s = Service::new("#!/bin/sh\necho $$ >> starts\nexec sleep 100\n");
    let mut sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    let pid = s.pid();
    let since = fs::read(s.path("supervise/status")).unwrap()[..12].to_vec();
    signal(sup.pid(), Signal::SIGKILL);
    let _ = sup.wait_exit(T);
    assert!(alive(pid), "the service must survive its supervisor");
    let mut second = s.supervise();
    wait_for("adopted", T, || {
        s.pid() == pid && s.state_field("state") == "ready"
    });
    assert_eq!(s.read("starts").lines().count(), 1, "never two copies");
    assert_eq!(
        fs::read(s.path("supervise/status")).unwrap()[..12].to_vec(),
        since,
        "original start time"
    );
    // Signals go to the adopted process; its death is noticed and it is restarted.
    s.send("k");
    wait_for("restart after the adopted run dies", T, || {
        s.pid() != 0 && s.pid() != pid
    });
    wait_for("last_exit=unknown", T, || {
        s.state_field("last_exit") == "unknown"
    });
    assert!(!alive(pid));
    s.send("dx");
    assert_eq!(second.wait_exit(T).0, Some(0));
}

#[test]
fn a_reused_pid_is_never_adopted() {
    let s = Service::new("#!/bin/sh\necho $$ >> starts\nexec sleep 100\n");
    fs::create_dir(s.path("supervise")).unwrap();
    // A state file naming a live process that is not ours (this test), with
    // a start time that does not match it.
    let me = std::process::id();
    fs::write(
        s.path("supervise/state"),
        format!(
            "state=up\npid={me}\npgid={me}\nsince=400000000000000000000000\nwant=up\nstarttime=1\n"
        ),
    )
    .unwrap();
    let _sup = s.supervise();
    wait_for("a fresh run", T, || s.pid() != 0 && s.pid() != me);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(100) {
        std::thread::yield_now();
    }
    assert_eq!(s.read("starts").lines().count(), 1);
}

#[test]
fn no_check_runs_while_the_service_is_down() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    write_exec(&s.path("check"), "#!/bin/sh\necho x >> checked\n");
    fs::write(s.path("check-interval"), "50ms").unwrap();
    let _sup = s.supervise();
    wait_for("checked while up", T, || {
        s.read("checked").lines().count() >= 2
    });
    let out = s.svc(&["-d", "-wD", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0));
    let n = s.read("checked").lines().count();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        s.read("checked").lines().count(),
        n,
        "a check ran while the service was down"
    );
}

#[test]
fn svstat_help_documents_checks_and_readiness() {
    let out = Command::new(SVSTAT).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for word in [
        "notification-fd",
        "check-interval",
        "check-failures",
        "ready",
        "--json",
    ] {
        assert!(text.contains(word), "svstat --help does not mention {word}");
    }
}

/// Under svscan with a log/, a check's stdout and stderr go where run's
/// output goes (the log pipe), not to svscan's error output.
#[test]
fn a_checks_output_goes_to_the_services_log() {
    let tmp = tempfile::tempdir().unwrap();
    let scan_dir = tmp.path().join("scan");
    let s = scan_dir.join("s");
    fs::create_dir_all(s.join("log")).unwrap();
    write_exec(&s.join("run"), "#!/bin/sh\nexec sleep 100\n");
    write_exec(
        &s.join("check"),
        "#!/bin/sh\necho check-said-out\necho check-said-err >&2\n",
    );
    fs::write(s.join("check-interval"), "100ms").unwrap();
    write_exec(&s.join("log/run"), "#!/bin/sh\nexec cat >> out\n");
    let errors = tmp.path().join("svscan.err");
    let mut svscan = Command::new(env!("CARGO_BIN_EXE_svscan"))
        .arg(&scan_dir)
        .stdin(std::process::Stdio::null())
        .stderr(fs::File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    struct Stop(u32);
    impl Drop for Stop {
        fn drop(&mut self) {
            signal(self.0 as i32, Signal::SIGTERM);
        }
    }
    let stop = Stop(svscan.id());
    let logged = || fs::read_to_string(s.join("log/out")).unwrap_or_default();
    wait_for("both lines of a check in the log", T, || {
        logged().contains("check-said-out") && logged().contains("check-said-err")
    });
    assert!(
        !fs::read_to_string(&errors).unwrap().contains("check-said"),
        "a check's output reached svscan's stderr"
    );
    drop(stop);
    wait_for("svscan to exit", T, || svscan.try_wait().unwrap().is_some());
}
