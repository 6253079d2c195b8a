//! Hook mode as keepalived runs it: one process per event, started in the
//! events' order without waiting, 1-3 ms apart while an earlier hook still
//! runs. The events applied must be in that order (none applied after a
//! newer one), and the last one must always be applied.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::kills::Rng;
use super::{hook_mode, lines, log_hooks, setup, state_files, STATES};

/// The lock hook-mode invocations take turns on, in the state directory
/// (vrrp-notify(8): "an exclusive lock on statedir/.lock").
const LOCK: &str = ".lock";

/// SIGSTOP `pid` and wait until it is stopped: a process still in its
/// flock(2) wait when the lock is released could take the lock and only
/// then stop.
fn stop(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    super::common::wait_for("the process stopped", Duration::from_secs(5), || {
        super::common::proc_state(pid as u32) == 'T'
    });
}

/// The exit code of `c`, failing (not hanging) after 20 s.
fn exit_code(c: &mut Child) -> Option<i32> {
    super::common::exited(c, Duration::from_secs(20))
        .expect("still running after 20 s")
        .code()
}

/// Hooks logging `STATE PRIO`, and the state dir with its lock held by the
/// test: hook-mode processes started now wait for it in their start order.
fn logged_and_locked(dir: &Path) -> (PathBuf, PathBuf, upkeep::lock::Lock) {
    let log = log_hooks(dir, &STATES, |_, log| format!("echo \"$3 $4\" >>{log}"));
    let state = dir.join("state");
    fs::create_dir(&state).unwrap();
    let held =
        upkeep::lock::exclusive(upkeep::lock::open_lock_file(&state.join(LOCK)).unwrap()).unwrap();
    (log, state, held)
}

/// Start the newer event (BACKUP 2) behind the stopped older one, release
/// the state dir's lock, and see the newer process end with 0.
fn newer_applies(dir: &Path, procs: &mut Procs, held: upkeep::lock::Lock, options: &[&str]) {
    let newer = hook_mode(dir, &["INSTANCE", "VI_1", "BACKUP", "2"], options)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    procs.0.push(newer);
    drop(held);
    assert_eq!(exit_code(&mut procs.0[1]), Some(0));
}

/// Continue the stopped older process (MASTER 1) once the newer one
/// (BACKUP 2) applied its event: it must end with 0 and leave the newer
/// event standing. Returns what it said.
fn resume_older(older: &mut Child, log: &Path, state: &Path, dir: &Path) -> String {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(older.id() as i32),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    assert_eq!(exit_code(older), Some(0));
    assert_eq!(lines(log), ["BACKUP 2"]);
    assert_eq!(
        state_files(state, "keepalived_vrrp"),
        ["keepalived_vrrp.BACKUP"]
    );
    fs::read_to_string(dir.join("older.err")).unwrap()
}

/// Kills the processes of a trial that fails midway.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn hook_mode_applies_in_keepalived_start_order() {
    let trials = 100;
    let (_tmp, dir) = setup();
    let log = log_hooks(&dir, &STATES, |_, log| {
        format!("echo \"START $3 $4\" >>{log}\nsleep 0.02\necho \"END $3 $4\" >>{log}")
    });
    let mut rng = Rng::from_time();
    let (mut all_applied, mut dropped) = (0, 0);
    for trial in 0..trials {
        let _ = fs::remove_file(&log);
        let n = 3 + rng.below(2) as usize;
        let mut events: Vec<(&str, usize)> = Vec::new();
        let mut procs = Procs(Vec::new());
        for i in 0..n {
            // Each event differs from the one before.
            let mut s = STATES[rng.below(4) as usize];
            while events.last().is_some_and(|(p, _)| *p == s) {
                s = STATES[rng.below(4) as usize];
            }
            let prio = (trial * 10 + i) % 250;
            events.push((s, prio));
            procs.0.push(
                hook_mode(&dir, &["INSTANCE", "VI_1", s, &prio.to_string()], &[])
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
            std::thread::sleep(Duration::from_micros(1000 + rng.below(2000)));
        }
        for c in &mut procs.0 {
            assert_eq!(exit_code(c), Some(0), "trial {trial}");
        }
        let got = lines(&log);
        let applied: Vec<String> = got
            .iter()
            .filter_map(|l| l.strip_prefix("START ").map(String::from))
            .collect();
        let idx: Vec<usize> = applied
            .iter()
            .map(|a| {
                events
                    .iter()
                    .position(|(s, p)| *a == format!("{s} {p}"))
                    .unwrap_or_else(|| panic!("trial {trial}: unknown {a}"))
            })
            .collect();
        assert!(
            idx.windows(2).all(|w| w[0] < w[1]),
            "trial {trial}: launched {events:?}, hooks ran {got:?}"
        );
        assert_eq!(
            idx.last(),
            Some(&(n - 1)),
            "trial {trial}: launched {events:?}, hooks ran {got:?}"
        );
        let (s, p) = events[n - 1];
        let state = dir.join("state");
        assert_eq!(
            state_files(&state, "keepalived_vrrp"),
            [format!("keepalived_vrrp.{s}")],
            "trial {trial}"
        );
        assert!(
            fs::read_to_string(state.join(format!("keepalived_vrrp.{s}")))
                .unwrap()
                .ends_with(&format!(" INSTANCE \"VI_1\" {s} {p}\n"))
        );
        assert_eq!(
            fs::read_to_string(state.join("keepalived_vrrp.current")).unwrap(),
            format!("{s}\n")
        );
        if idx.len() == n {
            all_applied += 1;
        } else {
            dropped += n - idx.len();
        }
    }
    eprintln!(
        "vrrp-notify hook mode: {trials} trials, {all_applied} applied every event in order, {dropped} events dropped as superseded"
    );
}

/// Where the start order cannot be known (here: an older process that is
/// not recognised as one of ours, stopped until a newer one has applied its
/// event), the older event is dropped: never applied after a newer one.
#[test]
fn hook_mode_never_applies_an_event_older_than_one_applied() {
    let (_tmp, dir) = setup();
    let (log, state, held) = logged_and_locked(&dir);
    // The program under another name (its comm), so not seen as a sibling.
    // (A symlink: a fresh copy could be "text file busy" while another
    // test thread forks.)
    let copy = dir.join("notify-copy");
    std::os::unix::fs::symlink(super::BIN, &copy).unwrap();
    let mut older = std::process::Command::new(&copy);
    older
        .arg("--state-dir")
        .arg(&state)
        .arg("--hooks")
        .arg(dir.join("hooks"))
        .args(["INSTANCE", "VI_1", "MASTER", "1"])
        .stderr(fs::File::create(dir.join("older.err")).unwrap());
    let mut procs = Procs(vec![older.spawn().unwrap()]);
    let older_pid = procs.0[0].id() as i32;
    stop(older_pid);
    newer_applies(&dir, &mut procs, held, &[]);
    let err = resume_older(&mut procs.0[0], &log, &state, &dir);
    assert!(
        err.contains("not applying INSTANCE \"VI_1\" MASTER 1: a later event (INSTANCE \"VI_1\" BACKUP 2) is already applied"),
        "{err}"
    );
}

/// An older process that does not take its turn (stopped here) is waited
/// for no longer than its hooks could take (twice --hook-timeout, plus a
/// second); when it comes back, its event is older than the one applied and
/// is dropped.
#[test]
fn hook_mode_waits_for_a_stuck_older_process_only_so_long() {
    let (_tmp, dir) = setup();
    let (log, state, held) = logged_and_locked(&dir);
    let timeout = ["--hook-timeout", "100ms"];
    let older = hook_mode(&dir, &["INSTANCE", "VI_1", "MASTER", "1"], &timeout)
        .stderr(fs::File::create(dir.join("older.err")).unwrap())
        .spawn()
        .unwrap();
    let mut procs = Procs(vec![older]);
    stop(procs.0[0].id() as i32);
    let started = std::time::Instant::now();
    newer_applies(&dir, &mut procs, held, &timeout);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1200), "{waited:?}");
    assert_eq!(lines(&log), ["BACKUP 2"]);
    let err = resume_older(&mut procs.0[0], &log, &state, &dir);
    assert!(err.contains("not applying"), "{err}");
}
