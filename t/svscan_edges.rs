//! svscan at the edges: killed with SIGKILL again and again without losing
//! the log pipe, a log/ added while the operator says down, a symlink made
//! before its target, a missing dir at boot; how it stops a logger is in
//! svscan_edges/drain.rs.

mod common;
#[path = "svscan_edges/drain.rs"]
mod drain;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SVSCAN: &str = env!("CARGO_BIN_EXE_svscan");
const MULTILOG: &str = env!("CARGO_BIN_EXE_multilog");
const T: Duration = Duration::from_secs(10);

/// A scan dir (`tmp/scan`) and the svscan currently running on it; each
/// svscan's stderr goes to its own file. Dropping it stops everything,
/// including supervisors left by an svscan that was killed.
struct Scan {
    tmp: tempfile::TempDir,
    svscan: Option<Child>,
    starts: usize,
    /// Service dirs to clean up after (their supervise and run).
    dirs: Vec<PathBuf>,
}

impl Scan {
    fn new() -> Scan {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("scan")).unwrap();
        Scan {
            tmp,
            svscan: None,
            starts: 0,
            dirs: Vec::new(),
        }
    }
    fn root(&self) -> PathBuf {
        self.tmp.path().join("scan")
    }
    fn dir(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }
    fn add(&mut self, name: &str, run: &str) {
        let d = self.dir(name);
        fs::create_dir_all(&d).unwrap();
        write_exec(&d.join("run"), run);
        self.dirs.push(d);
    }
    /// Add `name/log` whole (made aside, renamed in).
    fn add_log(&mut self, name: &str, run: &str) {
        let tmp = self.dir(name).join("log.tmp");
        fs::create_dir(&tmp).unwrap();
        write_exec(&tmp.join("run"), run);
        fs::rename(&tmp, self.dir(name).join("log")).unwrap();
        self.dirs.push(self.dir(name).join("log"));
    }
    fn errors_file(&self, n: usize) -> PathBuf {
        self.tmp.path().join(format!("svscan-{n}.err"))
    }
    fn start(&mut self) {
        self.starts += 1;
        let err = fs::File::create(self.errors_file(self.starts)).unwrap();
        let child = Command::new(SVSCAN)
            .arg(self.root())
            .stdin(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        self.svscan = Some(child);
    }
    /// What the current svscan said on stderr.
    fn said(&self) -> String {
        fs::read_to_string(self.errors_file(self.starts)).unwrap_or_default()
    }
    /// Wait until the current svscan said it found `n` supervisors running.
    fn wait_found(&self, what: &str, n: usize) {
        wait_for(what, T, || {
            self.said().matches("already running").count() == n
        });
    }
    fn kill9(&mut self) {
        let mut child = self.svscan.take().expect("svscan running");
        child.kill().unwrap();
        child.wait().unwrap();
    }
    fn up(&self, name: &str) -> bool {
        up(&self.dir(name))
    }
    /// SIGTERM to the current svscan, and wait until it has exited.
    fn sigterm_until_exit(&mut self) {
        let svscan = self.svscan.as_mut().unwrap();
        signal(svscan.id() as i32, Signal::SIGTERM);
        wait_for("svscan to exit", T, || svscan.try_wait().unwrap().is_some());
        self.svscan = None;
    }
    /// Neither `name` nor `name/log` has a supervise.
    fn unsupervised(&self, name: &str) -> bool {
        supervisor_of(&self.dir(name)).is_none()
            && supervisor_of(&self.dir(&format!("{name}/log"))).is_none()
    }
}

/// The supervise holding DIR's lock, from /proc/locks.
fn supervisor_of(dir: &Path) -> Option<i32> {
    upkeep::lock::flock_holder(&dir.join("supervise/lock"))
        .ok()
        .flatten()
        .map(|p| p as i32)
}

impl Drop for Scan {
    fn drop(&mut self) {
        if let Some(mut child) = self.svscan.take() {
            terminate(&mut child, T);
        }
        // Whatever an svscan killed earlier left behind: its supervisors
        // (told to stop by the last svscan, but maybe not yet gone) and runs.
        for dir in &self.dirs {
            let end = Instant::now() + Duration::from_secs(5);
            while supervisor_of(dir).is_some() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            if let Some(sup) = supervisor_of(dir) {
                signal(sup, Signal::SIGKILL);
            }
            let pid = read_pid(dir);
            if pid > 1 && alive(pid) {
                signal(-(pid as i32), Signal::SIGKILL);
            }
        }
    }
}

/// `svc ARGS -T 5s DIR`, which must succeed.
fn svc_ok(dir: &Path, args: &[&str]) {
    let out = Command::new(SVC)
        .args(args)
        .args(["-T", "5s"])
        .arg(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// A supervise other than `first` takes over `dir`, and keeps it down by
/// `svc -d`: for 1.5 s (a window to see a wrong start in, not
/// synchronisation: a new supervise would start run at once) nothing runs.
fn replaced_and_kept_down(dir: &Path, first: i32) {
    wait_for("the replacing supervise", T, || {
        supervisor_of(dir).is_some_and(|p| p != first)
    });
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        assert_eq!(read_pid(dir), 0, "svc -d was reversed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn log_has(path: &Path, text: &str) -> bool {
    fs::read_to_string(path).unwrap_or_default().contains(text)
}

/// No lost log line: after `kill -9` of svscan a new svscan takes the pipe
/// back from the surviving supervisors, so when the main supervise dies
/// later its replacement writes where the logger reads — scanner death
/// after scanner death.
#[test]
fn the_log_pipe_survives_scanner_deaths() {
    let mut scan = Scan::new();
    scan.add(
        "w",
        "#!/bin/sh\nwhile :; do echo \"tick $(cat round 2>/dev/null)\"; sleep 0.05; done\n",
    );
    scan.add_log("w", &format!("#!/bin/sh\nexec {MULTILOG} ./main\n"));
    scan.start();
    wait_for("main and log up", T, || scan.up("w") && scan.up("w/log"));
    let current = scan.dir("w/log/main/current");
    wait_for("ticks logged", T, || log_has(&current, "tick"));
    let logger = read_pid(&scan.dir("w/log"));
    let log_dir = scan.dir("w/log");
    let kill_log_supervise = |round: usize| {
        let sup = supervisor_of(&log_dir).expect("log supervise");
        signal(sup, Signal::SIGKILL);
        wait_for(&format!("round {round}: log supervise gone"), T, || {
            supervisor_of(&log_dir) != Some(sup)
        });
    };
    // Round 0: only svscan and main's supervise die. Round 1: the log's
    // supervise dies too, under the new svscan. Round 2: it dies while no
    // svscan runs, so the new one finds only the logger holding the pipe.
    for round in 0..3 {
        scan.kill9();
        if round == 2 {
            kill_log_supervise(round);
        }
        scan.start();
        let survivors = if round == 2 { 1 } else { 2 };
        scan.wait_found(
            &format!("round {round}: the new svscan found them"),
            survivors,
        );
        if round == 1 {
            kill_log_supervise(round);
        }
        wait_for(&format!("round {round}: log supervised"), T, || {
            scan.up("w/log")
        });
        let main = supervisor_of(&scan.dir("w")).expect("main supervise");
        signal(main, Signal::SIGKILL);
        wait_for(
            &format!("round {round}: main supervise replaced"),
            T,
            || supervisor_of(&scan.dir("w")).is_some_and(|p| p != main) && scan.up("w"),
        );
        // A run started by the replacement writes to its stdout.
        let run = read_pid(&scan.dir("w"));
        svc_ok(&scan.dir("w"), &["-t", "-wr"]);
        assert_ne!(read_pid(&scan.dir("w")), run);
        fs::write(scan.dir("w/round"), format!("r{round}\n")).unwrap();
        wait_for(
            &format!("round {round}: the new run's lines in the log"),
            T,
            || log_has(&current, &format!("tick r{round}")),
        );
        assert_eq!(
            read_pid(&scan.dir("w/log")),
            logger,
            "round {round}: the logger was restarted (it saw EOF)"
        );
    }
}

/// A dir hidden (renamed to a dot name) after svscan was killed and
/// restarted: the supervisors it found there are stopped too, though their
/// control FIFOs are no longer where they were.
#[test]
fn a_found_service_hidden_later_is_stopped() {
    let mut scan = Scan::new();
    scan.add("s", "#!/bin/sh\nexec sleep 100\n");
    scan.add_log("s", "#!/bin/sh\nexec cat > /dev/null\n");
    scan.start();
    wait_for("up", T, || scan.up("s") && scan.up("s/log"));
    let (service, logger) = (read_pid(&scan.dir("s")), read_pid(&scan.dir("s/log")));
    scan.kill9();
    scan.start();
    scan.wait_found("the new svscan found both", 2);
    fs::rename(scan.dir("s"), scan.dir(".s")).unwrap();
    scan.dirs = vec![scan.dir(".s"), scan.dir(".s/log")];
    wait_for("the hidden service and its logger stopped", T, || {
        !alive(service) && !alive(logger)
    });
    wait_for("their supervisors gone", T, || scan.unsupervised(".s"));
}

/// `svc -d` given while svscan waits for the service's next stop to attach
/// a new log/ stands: the replacing supervise keeps the service down, and
/// `svc -u` later brings it up writing into the log.
#[test]
fn adding_a_log_does_not_reverse_svc_d() {
    let mut scan = Scan::new();
    scan.add(
        "s",
        "#!/bin/sh\necho $$ >> starts\necho hello\nexec sleep 100\n",
    );
    scan.start();
    wait_for("up", T, || scan.up("s"));
    scan.add_log("s", "#!/bin/sh\nexec cat >> out\n");
    wait_for("logger up", T, || scan.up("s/log"));
    let first = supervisor_of(&scan.dir("s")).expect("main supervise");
    svc_ok(&scan.dir("s"), &["-d", "-wd"]);
    replaced_and_kept_down(&scan.dir("s"), first);
    assert_eq!(
        fs::read_to_string(scan.dir("s/starts"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    svc_ok(&scan.dir("s"), &["-u", "-wu"]);
    wait_for("its output in the log", T, || {
        log_has(&scan.dir("s/log/out"), "hello")
    });
}

/// The same with a supervise left running by a killed svscan: the new
/// svscan's own `x` (to give it the log pipe) is not the operator's.
#[test]
fn adding_a_log_under_a_new_svscan_does_not_reverse_svc_d() {
    let mut scan = Scan::new();
    scan.add("s", "#!/bin/sh\necho $$ >> starts\nexec sleep 100\n");
    scan.start();
    wait_for("up", T, || scan.up("s"));
    scan.kill9();
    scan.add_log("s", "#!/bin/sh\nexec cat >> out\n");
    scan.start();
    scan.wait_found("the supervise left running", 1);
    wait_for("logger up", T, || scan.up("s/log"));
    let first = supervisor_of(&scan.dir("s")).expect("main supervise");
    svc_ok(&scan.dir("s"), &["-d", "-wd"]);
    replaced_and_kept_down(&scan.dir("s"), first);
}

/// A supervise killed while its service is down by `svc -d`: the one svscan
/// starts in its place keeps it down (nothing is left to adopt, and the
/// `down` file alone would say up).
#[test]
fn a_killed_supervise_keeps_svc_d() {
    killed_supervise_keeps_svc_d(false);
}

/// The same with a supervise left running by a killed svscan, which the
/// new svscan only watched.
#[test]
fn a_killed_foreign_supervise_keeps_svc_d() {
    killed_supervise_keeps_svc_d(true);
}

fn killed_supervise_keeps_svc_d(taken_over: bool) {
    let mut scan = Scan::new();
    scan.add("s", "#!/bin/sh\necho $$ >> starts\nexec sleep 100\n");
    scan.start();
    wait_for("up", T, || scan.up("s"));
    svc_ok(&scan.dir("s"), &["-d", "-wd"]);
    if taken_over {
        restart_svscan(&mut scan);
    }
    let first = supervisor_of(&scan.dir("s")).expect("supervise");
    signal(first, Signal::SIGKILL);
    replaced_and_kept_down(&scan.dir("s"), first);
    svc_ok(&scan.dir("s"), &["-u", "-wu"]);
}

/// kill -9 svscan and start another, which finds the one supervise running
/// and only watches it.
fn restart_svscan(scan: &mut Scan) {
    scan.kill9();
    scan.start();
    scan.wait_found("the supervise left running", 1);
}

/// Service `s`: normally down (a `down` file), told `u`, its run failing
/// at once (supervise in its backoff between starts, nothing to adopt);
/// returned: how many times run has started, once it has at least once.
fn normally_down_told_up(scan: &mut Scan) -> fn(&Scan) -> usize {
    scan.add("s", "#!/bin/sh\necho $$ >> starts\nexit 1\n");
    fs::write(scan.dir("s/down"), "").unwrap();
    scan.start();
    wait_for("supervise", T, || supervisor_of(&scan.dir("s")).is_some());
    svc_ok(&scan.dir("s"), &["-u"]);
    fn starts(scan: &Scan) -> usize {
        fs::read_to_string(scan.dir("s/starts"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
    wait_for("a first start", T, || starts(scan) >= 1);
    starts
}

/// A supervise left running by a killed svscan (the new one only watches
/// it) is killed while its service wants the opposite of `down`: the
/// supervise svscan starts in its place keeps the operator's word. Here
/// the service is normally down, told `u`, and between starts (a run that
/// fails at once, so supervise is in its backoff with nothing to adopt).
#[test]
fn a_killed_foreign_supervise_keeps_svc_u() {
    let mut scan = Scan::new();
    let starts = normally_down_told_up(&mut scan);
    restart_svscan(&mut scan);
    let first = supervisor_of(&scan.dir("s")).expect("supervise");
    signal(first, Signal::SIGKILL);
    wait_for("the replacing supervise", T, || {
        supervisor_of(&scan.dir("s")).is_some_and(|p| p != first)
    });
    let before = starts(&scan);
    wait_for("a start by the replacing supervise", T, || {
        starts(&scan) > before
    });
}

/// A normally-down service told `u`, between starts (nothing to adopt);
/// svscan is killed, then its supervise, so no svscan replaces it. The
/// next svscan (svscanboot's restart) starts the dir's first supervise of
/// its life with the dead one's want, not the `down` file's; with
/// `dead_supervise_exited` the supervise was told `x` instead of killed,
/// and the `down` file decides, as in daemontools.
fn svscan_restart_after_supervise_death(dead_supervise_exited: bool) {
    let mut scan = Scan::new();
    let starts = normally_down_told_up(&mut scan);
    scan.kill9();
    let first = supervisor_of(&scan.dir("s")).expect("supervise");
    if dead_supervise_exited {
        svc_ok(&scan.dir("s"), &["-x"]);
    } else {
        signal(first, Signal::SIGKILL);
    }
    wait_for("no supervise", T, || {
        supervisor_of(&scan.dir("s")).is_none()
    });
    let before = starts(&scan);
    scan.start();
    wait_for("the next svscan's supervise", T, || {
        supervisor_of(&scan.dir("s")).is_some()
    });
    if dead_supervise_exited {
        replaced_and_kept_down(&scan.dir("s"), first);
        assert_eq!(starts(&scan), before, "the down file was not obeyed");
    } else {
        wait_for("a start by the next svscan's supervise", T, || {
            starts(&scan) > before
        });
    }
}

/// A supervise left running by a killed svscan (the new one only watches
/// it) that the operator tells `x`: its replacement obeys the `down` file,
/// as one that svscan started would, not the want it exited with.
#[test]
fn a_foreign_supervise_told_to_exit_leaves_it_to_down() {
    let mut scan = Scan::new();
    normally_down_told_up(&mut scan);
    restart_svscan(&mut scan);
    let first = supervisor_of(&scan.dir("s")).expect("supervise");
    svc_ok(&scan.dir("s"), &["-x"]);
    // Nothing runs for 1.5 s: the want `u` was not handed on.
    replaced_and_kept_down(&scan.dir("s"), first);
}

#[test]
fn a_supervise_killed_after_its_svscan_keeps_svc_u() {
    svscan_restart_after_supervise_death(false);
}

#[test]
fn a_supervise_told_to_exit_after_its_svscan_died_leaves_it_to_down() {
    svscan_restart_after_supervise_death(true);
}

/// `/service/x -> /etc/sv/x` made before /etc/sv/x (even before /etc/sv)
/// exists: the service starts when its dir and run appear, without a
/// SIGHUP and without waiting for another change in the scan dir.
#[test]
fn a_symlink_made_before_its_target_is_noticed() {
    let mut scan = Scan::new();
    let etc = scan.tmp.path().join("etc");
    let target = etc.join("sv/x");
    symlink(&target, scan.dir("x")).unwrap();
    scan.dirs.push(target.clone());
    scan.add("other", "#!/bin/sh\nexec sleep 100\n");
    scan.start();
    wait_for("the first scan done", T, || scan.up("other"));
    fs::create_dir(&etc).unwrap();
    fs::create_dir(etc.join("sv")).unwrap();
    fs::create_dir(&target).unwrap();
    write_exec(&target.join("run.tmp"), "#!/bin/sh\nexec sleep 100\n");
    fs::rename(target.join("run.tmp"), target.join("run")).unwrap();
    // svscan has no timer: without the watch on the target's way, x would
    // only be noticed at the next change or SIGHUP, never within T.
    wait_for("x up once its target exists", T, || scan.up("x"));
}

/// A typo in the unit's dir must not be a silent restart loop: svscan's
/// fatal error before the readproctitle hand-off reaches svscanboot's stderr.
#[test]
fn svscanboot_says_why_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-dir");
    let mut boot = Command::new(env!("CARGO_BIN_EXE_svscanboot"))
        .arg(&missing)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = exited(&mut boot, T)
        .expect("svscanboot did not exit")
        .code();
    let mut err = String::new();
    use std::io::Read;
    boot.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(code, Some(111));
    assert!(
        err.contains(&format!(
            "svscan: fatal: unable to chdir to {}: file does not exist",
            missing.display()
        )),
        "stderr: {err:?}"
    );
}

/// Once svscan runs, its output and its services' errors go to
/// readproctitle, not to svscanboot's stderr, and the hand-off variable is
/// not in the services' environment.
#[test]
fn svscanboot_hands_errors_to_readproctitle_once_running() {
    let mut scan = Scan::new();
    scan.add(
        "noisy",
        "#!/bin/sh\nenv > env.out\necho 'later error' >&2\nexec sleep 100\n",
    );
    let err = scan.tmp.path().join("boot.err");
    let mut boot = Command::new(env!("CARGO_BIN_EXE_svscanboot"))
        .arg(scan.root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    struct Stop<'a>(&'a mut Child);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            terminate(self.0, T);
        }
    }
    let stop = Stop(&mut boot);
    wait_for("service up", T, || scan.up("noisy"));
    let title = || {
        let out = Command::new("pgrep")
            .args(["-a", "-P", &stop.0.id().to_string()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    wait_for("the error in readproctitle's title", T, || {
        title().contains("later error")
    });
    let env = fs::read_to_string(scan.dir("noisy/env.out")).unwrap();
    assert!(!env.contains("SVSCANBOOT_HANDOFF"), "{env}");
    drop(stop);
    let said = fs::read_to_string(&err).unwrap();
    assert!(!said.contains("later error"), "{said}");
}

/// SIGTERM to svscan right after one of its supervisors was killed, before
/// svscan started the next one: that side's run is still stopped (by a
/// supervise that adopts it, so `finish` runs as usual), main or log side,
/// and svscan exits only once nothing of either service is left.
#[test]
fn sigterm_right_after_a_supervise_kill_stops_its_run() {
    let mut scan = Scan::new();
    for name in ["m", "l"] {
        scan.add(name, "#!/bin/sh\nexec sleep 1000\n");
        write_exec(
            &scan.dir(name).join("finish"),
            "#!/bin/sh\necho finished >> finished\n",
        );
        scan.add_log(name, "#!/bin/sh\nexec cat > /dev/null\n");
    }
    scan.start();
    let sides = ["m", "m/log", "l", "l/log"];
    wait_for("all up", T, || sides.iter().all(|s| scan.up(s)));
    let runs: Vec<u32> = sides.iter().map(|s| read_pid(&scan.dir(s))).collect();
    // Within a second of their start: svscan waits before restarting them.
    for killed in ["m", "l/log"] {
        signal(
            supervisor_of(&scan.dir(killed)).expect("supervise"),
            Signal::SIGKILL,
        );
    }
    let svscan = scan.svscan.as_mut().unwrap();
    signal(svscan.id() as i32, Signal::SIGTERM);
    let mut code = None;
    wait_for("svscan to exit", T, || match svscan.try_wait().unwrap() {
        Some(st) => {
            code = st.code();
            true
        }
        None => false,
    });
    scan.svscan = None;
    assert_eq!(code, Some(0), "{}", scan.said());
    wait_for("no run left", T, || runs.iter().all(|&p| !alive(p)));
    assert!(
        sides.iter().all(|s| supervisor_of(&scan.dir(s)).is_none()),
        "a supervise outlived svscan"
    );
    assert!(
        log_has(&scan.dir("m/finished"), "finished"),
        "the killed supervise's run was not stopped through supervise"
    );
}
