//! Drain time of a backlog (a figure for bench/vrrp-drain, not a test that
//! runs by default): N events queued in the fifo while the reader is
//! stopped, then the time until the state files show the last one, and
//! until its hooks have run. `VRRP_NOTIFY_BIN` measures another build.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{eventually, setup, state_files, write_script, STATES};

struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
}

/// One drain: (until the state files show the last event, until its hook ran).
fn drain_once(n: usize, hooks: bool, poller: bool) -> (Duration, Option<Duration>) {
    let bin = std::env::var("VRRP_NOTIFY_BIN").unwrap_or_else(|_| super::BIN.to_string());
    let (_tmp, dir) = setup();
    let done = dir.join("done");
    if hooks {
        for s in STATES {
            write_script(
                &dir.join("hooks").join(s),
                &format!("[ \"$4\" = 255 ] && : >{}\nexit 0", done.display()),
            );
        }
    }
    let state = dir.join("state");
    let reader = Stopped(
        Command::new(&bin)
            .arg("--fifo")
            .arg(dir.join("fifo"))
            .arg("--state-dir")
            .arg(&state)
            .arg("--hooks")
            .arg(dir.join("hooks"))
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let fifo = dir.join("fifo");
    assert!(eventually(Duration::from_secs(5), || fifo.exists()));
    let mut w = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    // The reader is up (it made the state dir) before it is stopped.
    w.write_all(b"INSTANCE \"VI_1\" FAULT 1\n").unwrap();
    assert!(eventually(Duration::from_secs(5), || state
        .join("keepalived_vrrp.FAULT")
        .exists()));
    signal(reader.0.id(), nix::sys::signal::Signal::SIGSTOP);
    let mut backlog = String::new();
    for i in 0..n {
        backlog += &format!("INSTANCE \"VI_1\" {} {}\n", STATES[i % 2], i % 250);
    }
    backlog += "INSTANCE \"VI_1\" BACKUP 255\n";
    w.write_all(backlog.as_bytes()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let load = poller.then(|| {
        let (stop, state) = (stop.clone(), state.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = state_files(&state, "keepalived_vrrp");
            }
        })
    });
    let last = state.join("keepalived_vrrp.BACKUP");
    let t0 = Instant::now();
    signal(reader.0.id(), nix::sys::signal::Signal::SIGCONT);
    while !fs::read_to_string(&last).is_ok_and(|t| t.ends_with(" BACKUP 255\n")) {
        assert!(t0.elapsed() < Duration::from_secs(300));
        std::thread::yield_now();
    }
    let files = t0.elapsed();
    let hooked = hooks.then(|| {
        while !done.exists() {
            assert!(t0.elapsed() < Duration::from_secs(600));
            std::thread::sleep(Duration::from_millis(1));
        }
        t0.elapsed()
    });
    stop.store(true, Ordering::Relaxed);
    if let Some(t) = load {
        t.join().unwrap();
    }
    (files, hooked)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "a bench figure: bench/vrrp-drain"]
fn drain_figure() {
    let n = 2000;
    let runs = 5;
    let bin: PathBuf = std::env::var("VRRP_NOTIFY_BIN")
        .unwrap_or_else(|_| super::BIN.to_string())
        .into();
    for (hooks, poller, what) in [
        (false, false, "no hooks"),
        (false, true, "no hooks, a reader polling the state dir"),
        (true, false, "a hook per state"),
    ] {
        let samples: Vec<(Duration, Option<Duration>)> =
            (0..runs).map(|_| drain_once(n, hooks, poller)).collect();
        let files = median(samples.iter().map(|s| s.0).collect());
        let hooked = samples
            .iter()
            .map(|s| s.1)
            .collect::<Option<Vec<_>>>()
            .map(median);
        println!(
            "drain {n} queued events, {what} ({}): state files at the last event after {files:?}{} (median of {runs})",
            bin.display(),
            hooked
                .map(|h| format!(", its hooks run after {h:?}"))
                .unwrap_or_default()
        );
    }
}
