//! supervise's behaviour, observed from outside: every control letter, finish,
//! backoff, the lock, signals to supervise itself.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(5);

fn sigs(s: &Service) -> Vec<String> {
    s.read("sigs").lines().map(str::to_string).collect()
}

fn wait_recorder_ready(s: &Service) -> u32 {
    wait_for("run to start", T, || {
        s.read("starts").lines().count() >= 1 && s.pid() != 0
    });
    // The traps are set before `starts` is written.
    s.pid()
}

#[test]
fn signal_letters_reach_run() {
    let s = Service::new(SIGNAL_RECORDER);
    let _sup = s.supervise();
    let pid = wait_recorder_ready(&s);
    for (letter, name) in [
        ("a", "ALRM"),
        ("h", "HUP"),
        ("i", "INT"),
        ("q", "QUIT"),
        ("1", "USR1"),
        ("2", "USR2"),
        ("w", "WINCH"),
    ] {
        s.send(letter);
        wait_for(&format!("{name} after {letter}"), T, || {
            sigs(&s).contains(&name.to_string())
        });
    }
    assert_eq!(
        s.pid(),
        pid,
        "signals that are trapped must not restart run"
    );
}

#[test]
fn pause_and_continue() {
    let s = Service::new(SIGNAL_RECORDER);
    let _sup = s.supervise();
    let pid = wait_recorder_ready(&s);
    s.send("p");
    wait_for("run stopped", T, || proc_state(pid) == 'T');
    wait_for("paused flag", T, || s.status().map(|st| st.1) == Some(1));
    let out = Command::new(SVSTAT).arg(&s.dir).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(", paused"));
    s.send("c");
    wait_for("run continued", T, || proc_state(pid) != 'T');
    wait_for("paused flag cleared", T, || {
        s.status().map(|st| st.1) == Some(0)
    });
    wait_for("CONT seen", T, || sigs(&s).contains(&"CONT".to_string()));
}

#[test]
fn term_and_kill_restart_at_once() {
    let s = Service::new(SIGNAL_RECORDER);
    let _sup = s.supervise();
    let first = wait_recorder_ready(&s);
    s.send("t");
    wait_for("restart after t", T, || s.pid() != 0 && s.pid() != first);
    assert!(sigs(&s).contains(&"TERM".to_string()));
    // status is out before state: wait for the state's account too.
    wait_for("last_exit=0", T, || s.state_field("last_exit") == "0");
    let second = s.pid();
    s.send("k");
    wait_for("restart after k", T, || s.pid() != 0 && s.pid() != second);
    wait_for("last_exit=signal:KILL", T, || {
        s.state_field("last_exit") == "signal:KILL"
    });
    assert_eq!(
        s.state_field("fast_failures"),
        "0",
        "operator restarts are not crashes"
    );
}

#[test]
fn down_up_once_exit() {
    let s = Service::new(SIGNAL_RECORDER);
    let mut sup = s.supervise();
    let pid = wait_recorder_ready(&s);
    s.send("d");
    wait_for("down", T, || s.status() == Some((0, 0, b'd')));
    assert!(!alive(pid));
    assert!(sigs(&s).contains(&"TERM".to_string()));
    s.send("u");
    wait_for("up again", T, || {
        s.pid() != 0 && s.status().unwrap().2 == b'u'
    });
    s.send("o");
    wait_for("want once", T, || s.status().map(|st| st.2) == Some(0));
    let once = s.pid();
    s.send("t");
    wait_for("down after once", T, || s.pid() == 0);
    // Not restarted: give it a moment in which a restart would have shown.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.pid(), 0, "o must not restart");
    assert!(!alive(once));
    s.send("x");
    let (code, _) = sup.wait_exit(T);
    assert_eq!(code, Some(0));
}

#[test]
fn x_waits_for_the_service_to_go_down() {
    let s = Service::new(SIGNAL_RECORDER);
    let mut sup = s.supervise();
    let pid = wait_recorder_ready(&s);
    s.send("x");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        sup.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "x alone must not stop an up service"
    );
    s.send("d");
    let (code, _) = sup.wait_exit(T);
    assert_eq!(code, Some(0));
    assert!(!alive(pid));
}

#[test]
fn big_k_kills_the_whole_group() {
    let s = Service::new("#!/bin/sh\nsleep 100 &\necho $! > child\nexec sleep 100\n");
    let _sup = s.supervise();
    wait_for("child pid", T, || !s.read("child").trim().is_empty());
    let child: u32 = s.read("child").trim().parse().unwrap();
    let pid = s.pid();
    s.send("K");
    wait_for("group killed", T, || !alive(child) && !alive(pid));
}

#[test]
fn finish_gets_code_signal_and_name() {
    let s = Service::new(
        "#!/bin/sh\necho $$ > pid\nif [ -e exit3 ]; then rm exit3; exit 3; fi\nexec sleep 100\n",
    );
    write_exec(&s.path("finish"), "#!/bin/sh\necho \"$@\" >> finished\n");
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    let first = s.pid();
    // The next run exits 3 at once.
    fs::write(s.path("exit3"), "").unwrap();
    s.send("k");
    wait_for("finish after kill -9, then after exit 3", T, || {
        let lines: Vec<String> = s.read("finished").lines().map(str::to_string).collect();
        lines.len() >= 2
    });
    let lines: Vec<String> = s.read("finished").lines().map(str::to_string).collect();
    // The fourth argument, as s6's: run's process group (its pid).
    let second: u32 = s.read("pid").trim().parse().unwrap();
    assert_eq!(
        lines[..2],
        [format!("256 9 svc {first}"), format!("3 0 svc {second}")]
    );
}

/// keepalived's VRRP child can outlive a kill -9 of keepalived and lose the
/// TERM supervise sends run's group then (it ignores signals while it sets
/// itself up: the gateway soak found one still MASTER, holding the VIP, ten
/// minutes later). The shipped finish TERMs what is left until it is gone.
#[test]
fn the_shipped_keepalived_finish_ends_a_child_that_outlived_keepalived() {
    let s = Service::new(
        "#!/bin/sh\necho $$ > pid\n\
         sh -c 'echo $$ > child; trap \"\" TERM; sleep 0.5; trap - TERM; exec sleep 100' &\n\
         exec sleep 100\n",
    );
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("service/keepalived/finish"),
        s.path("finish"),
    )
    .unwrap();
    let _sup = s.supervise();
    wait_for("up, with its child", T, || {
        s.pid() != 0 && !s.read("child").trim().is_empty()
    });
    let child: u32 = s.read("child").trim().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("the child that ignored the first TERM gone", T, || {
        !alive(child)
    });
}

#[test]
fn hanging_finish_is_killed() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    write_exec(
        &s.path("finish"),
        "#!/bin/sh\necho $$ > finish.pid\nexec sleep 100\n",
    );
    fs::write(s.path("timeout-finish"), "200ms").unwrap();
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    let started = Instant::now();
    s.send("d");
    wait_for("finish running", T, || !s.read("finish.pid").is_empty());
    // finish may write its pid before supervise writes the state that
    // names it: wait for that, not a snapshot.
    wait_for("state finishing", T, || {
        s.state_field("state") == "finishing"
    });
    let fpid: u32 = s.read("finish.pid").trim().parse().unwrap();
    wait_for("finish killed", T, || !alive(fpid));
    wait_for("state down", T, || s.state_field("state") == "down");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn fast_failures_back_off_and_u_clears_it() {
    let s = Service::new("#!/bin/sh\necho x >> starts\nexit 1\n");
    fs::write(s.path("backoff"), "100ms 400ms").unwrap();
    let _sup = s.supervise();
    // Delays 100, 200, 400, 400 ms: in 1.2 s at most ~5 starts.
    std::thread::sleep(Duration::from_millis(1200));
    let starts = s.read("starts").lines().count();
    assert!(
        (3..=6).contains(&starts),
        "{starts} starts in 1.2 s with backoff 100ms..400ms"
    );
    wait_for("backoff state", T, || s.state_field("state") == "backoff");
    assert!(s.state_field("fast_failures").parse::<u32>().unwrap() >= 3);
    // Read at the next start: the backoff after it is 10 s, so only `u`
    // can bring the start after that within 2 s.
    fs::write(s.path("backoff"), "10s 10s").unwrap();
    wait_for("a 10 s backoff", T, || {
        s.state_field("state") == "backoff" && backoff_left(&s) > Duration::from_secs(5)
    });
    let before = s.read("starts").lines().count();
    s.send("u");
    wait_for("u starts at once", Duration::from_secs(2), || {
        s.read("starts").lines().count() > before
    });
}

/// Time until the start that supervise/state's `next_start` announces.
fn backoff_left(s: &Service) -> Duration {
    // A TAI64N label in hex: seconds are 2^62 + 10 + unix seconds.
    let label = s.state_field("next_start");
    let Some(secs) = label
        .get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
    else {
        return Duration::ZERO;
    };
    let unix = secs.saturating_sub((1 << 62) + 10);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Duration::from_secs(unix.saturating_sub(now))
}

#[test]
fn default_backoff_bounds_a_crash_loop() {
    let s = Service::new("#!/bin/sh\necho x >> starts\nexit 1\n");
    let _sup = s.supervise();
    // Default 1 s, 2 s, ...: in 2.5 s at most 3 starts (daemontools: 3, a tight loop: thousands).
    std::thread::sleep(Duration::from_millis(2500));
    let starts = s.read("starts").lines().count();
    assert!((2..=3).contains(&starts), "{starts} starts in 2.5 s");
}

#[test]
fn long_runs_restart_without_delay() {
    let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 100\n");
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    std::thread::sleep(Duration::from_millis(1100));
    let pid = s.pid();
    signal(pid as i32, Signal::SIGKILL);
    let t0 = Instant::now();
    wait_for("restart", T, || s.pid() != 0 && s.pid() != pid);
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "restart took {:?}",
        t0.elapsed()
    );
    wait_for("state of the new run", T, || {
        s.state_field("pid") == s.pid().to_string()
    });
    assert_eq!(s.state_field("fast_failures"), "0");
}

#[test]
fn d_cancels_a_pending_start() {
    let s = Service::new("#!/bin/sh\necho x >> starts\nexit 1\n");
    fs::write(s.path("backoff"), "300ms 300ms").unwrap();
    let _sup = s.supervise();
    wait_for("backoff", T, || s.state_field("state") == "backoff");
    s.send("d");
    wait_for("down", T, || s.state_field("state") == "down");
    let n = s.read("starts").lines().count();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        s.read("starts").lines().count(),
        n,
        "d must cancel the pending start"
    );
}

#[test]
fn down_signal_and_timeout_kill() {
    let s = Service::new("#!/bin/sh\ntrap 'echo HUP >> sigs' HUP\ntrap '' TERM\necho $$ > pid\nwhile :; do sleep 1 & wait $!; done\n");
    fs::write(s.path("down-signal"), "HUP\n").unwrap();
    fs::write(s.path("timeout-kill"), "300ms\n").unwrap();
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0 && !s.read("pid").is_empty());
    let pid = s.pid();
    s.send("d");
    wait_for("HUP as down signal", T, || {
        sigs(&s).contains(&"HUP".to_string())
    });
    wait_for("KILL after timeout-kill", T, || !alive(pid) && s.pid() == 0);
    wait_for("last_exit=signal:KILL", T, || {
        s.state_field("last_exit") == "signal:KILL"
    });
}

#[test]
fn leftover_group_members_are_termed() {
    let s = Service::new("#!/bin/sh\nsleep 100 &\necho $! > child\nexec sleep 100\n");
    let _sup = s.supervise();
    wait_for("child", T, || !s.read("child").trim().is_empty());
    let child: u32 = s.read("child").trim().parse().unwrap();
    s.send("d");
    wait_for("grandchild gone after d", T, || !alive(child));
}

#[test]
fn a_missing_run_is_retried_with_backoff_and_reported_once() {
    let s = Service::new("");
    fs::remove_file(s.path("run")).unwrap();
    fs::write(s.path("backoff"), "50ms 100ms").unwrap();
    let mut sup = s.supervise();
    wait_for("several attempts", T, || {
        s.state_field("fast_failures").parse::<u32>().unwrap_or(0) >= 4
    });
    write_exec(&s.path("run"), "#!/bin/sh\nexec sleep 100\n");
    wait_for("up once run exists", T, || {
        s.state_field("state") == "ready"
    });
    s.send("dx");
    let (code, err) = sup.wait_exit(T);
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("unable to start"))
        .collect();
    assert_eq!(lines.len(), 1, "one report per streak: {err}");
    assert!(lines[0].ends_with("/run: file does not exist"), "{err}");
}

#[test]
fn garbage_on_control_changes_nothing() {
    let s = Service::new(SIGNAL_RECORDER);
    let _sup = s.supervise();
    let pid = wait_recorder_ready(&s);
    let before = fs::read(s.path("supervise/status")).unwrap();
    let letters = b"udoahktipcxq12wK";
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i * 7 % 256) as u8)
        .filter(|b| !letters.contains(b))
        .collect();
    fs::write(s.path("supervise/control"), &junk).unwrap();
    s.send("h");
    wait_for("HUP after junk", T, || {
        sigs(&s).contains(&"HUP".to_string())
    });
    assert_eq!(s.pid(), pid);
    assert_eq!(fs::read(s.path("supervise/status")).unwrap(), before);
}

#[test]
fn sigterm_to_supervise_stops_the_service() {
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        let s = Service::new("#!/bin/sh\nsleep 100 &\necho $! > child\nexec sleep 100\n");
        let mut sup = s.supervise();
        wait_for("child", T, || !s.read("child").trim().is_empty());
        let child: u32 = s.read("child").trim().parse().unwrap();
        let pid = s.pid();
        signal(sup.pid(), sig);
        let (code, _) = sup.wait_exit(T);
        assert_eq!(code, Some(0), "{sig:?}");
        wait_for("service gone", T, || !alive(pid) && !alive(child));
    }
}

#[test]
fn second_supervise_is_refused() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    let _sup = s.supervise();
    let out = Command::new(SUPERVISE).arg(&s.dir).output().unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "supervise: fatal: unable to acquire {}/supervise/lock: temporary failure\n",
            s.dir.display()
        )
    );
}

#[test]
fn readiness_through_notification_fd() {
    let s = Service::new(
        "#!/bin/sh\nwhile [ ! -e go ]; do sleep 0.01; done\necho >&3\nexec sleep 100\n",
    );
    fs::write(s.path("notification-fd"), "3").unwrap();
    let _sup = s.supervise();
    wait_for("up", T, || s.state_field("state") == "up");
    let waiter = std::thread::spawn({
        let dir = s.dir.clone();
        move || {
            Command::new(SVC)
                .args(["-wU", "-T", "5s"])
                .arg(&dir)
                .status()
                .unwrap()
                .code()
        }
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.state_field("state"), "up");
    fs::write(s.path("go"), "").unwrap();
    wait_for("ready", T, || s.state_field("state") == "ready");
    assert_eq!(waiter.join().unwrap(), Some(0));
}

#[test]
fn status_and_state_are_world_readable_and_atomic() {
    use std::os::unix::fs::PermissionsExt;
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    let _sup = s.supervise();
    // status is written before state (doc/DESIGN.md): wait for both.
    wait_for("up", T, || {
        s.pid() != 0 && s.path("supervise/state").exists()
    });
    for f in ["status", "state"] {
        let mode = fs::metadata(s.path(&format!("supervise/{f}")))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{f}");
    }
    let control = fs::metadata(s.path("supervise/control"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(control, 0o600);
    assert!(!s.path("supervise/status.new").exists());
}

/// Kill run once it has been up long enough to be restarted at once, and
/// wait for the next one; its state once it settled (up: waiting for its
/// readiness fd; ready: no such fd).
fn restart_and_settle(s: &Service) -> String {
    let pid = s.pid();
    // Up over a second (no backoff), and every file older than the racy
    // margin of supervise's dir view, so the start before this one could
    // trust what it saw and only a change since makes it look again.
    std::thread::sleep(Duration::from_millis(2300));
    signal(pid as i32, Signal::SIGKILL);
    wait_for("restart", T, || s.pid() != 0 && s.pid() != pid);
    // status is written before state: until state names the new pid it
    // still describes the run that was killed.
    wait_for("settled", T, || {
        let new = s.pid();
        s.state_field("pid") == new.to_string()
            && matches!(s.state_field("state").as_str(), "up" | "ready")
            && s.pid() == new
    });
    s.state_field("state")
}

#[test]
fn a_config_file_changed_between_restarts_takes_effect() {
    let s = Service::new("#!/bin/sh\nexec sleep 100\n");
    // Out of range: ignored (no readiness fd), but the file is there.
    fs::write(s.path("notification-fd"), "99999\n").unwrap();
    let _sup = s.supervise();
    wait_for("ready", T, || s.state_field("state") == "ready");
    // This start sees every file old enough to remember.
    assert_eq!(restart_and_settle(&s), "ready");
    // Rewritten in place (same inode, same dir entry): fd 3, never written.
    fs::write(s.path("notification-fd"), "3\n").unwrap();
    assert_eq!(restart_and_settle(&s), "up", "in-place edit ignored");
    assert_eq!(restart_and_settle(&s), "up");
    fs::remove_file(s.path("notification-fd")).unwrap();
    assert_eq!(restart_and_settle(&s), "ready", "removal ignored");
    assert_eq!(restart_and_settle(&s), "ready");
    // A new file (the dir changes, not a file seen before).
    fs::write(s.path("notification-fd"), "3\n").unwrap();
    assert_eq!(restart_and_settle(&s), "up", "new file ignored");
}
