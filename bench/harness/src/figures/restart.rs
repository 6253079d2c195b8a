//! Figure 1: restart latency after `kill -9` of a service that has been up
//! for more than a second — from kill(2) until the new pid is in the
//! supervisor's status record.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{ms_since, start_supervised};
use crate::report::{percentile, Csv, Row};
use crate::systems::{status_pid, write_run, Sys, ALL, SLEEPER};
use crate::{procs, sleep_until, Ctx};

/// Services per system: kills rotate over them, so each one has aged past
/// a second by its next kill without the run waiting idle.
const PER_SYSTEM: usize = 4;
/// Every supervisor here restarts at once only after a run of ≥ 1 s.
pub(super) const MIN_UP: Duration = Duration::from_millis(1200);
/// Quiet time after each restart before the next kill.
pub(super) const SETTLE: Duration = Duration::from_millis(25);
/// A restart not seen within this long counts as a timeout.
pub(super) const GIVE_UP: Duration = Duration::from_secs(5);

struct Svc {
    sys: Sys,
    dir: PathBuf,
    child: Child,
    ino: Inotify,
    up_since: Instant,
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let kills = if ctx.quick { 50 } else { 200 };
    let base = ctx.dir("restart")?;
    let mut svcs = Vec::new();
    for i in 0..PER_SYSTEM {
        for sys in ALL {
            let dir = base.join(format!("{}-{i}", sys.name()));
            write_run(&dir, SLEEPER)?;
            let (child, pid) =
                start_supervised(ctx, sys, &dir, &format!("restart-{}-{i}", sys.name()))?;
            let ino = watch_status(&dir)?;
            let _ = pid;
            svcs.push(Svc {
                sys,
                dir,
                child,
                ino,
                up_since: Instant::now(),
            });
        }
    }
    // CPU time each supervisor spends per restart, from here to the end.
    let cpu_before: Vec<Option<u64>> = svcs
        .iter()
        .map(|s| procs::cpu_ns(s.child.id() as i32))
        .collect();
    let mut samples: [Vec<f64>; 4] = Default::default();
    let mut timeouts = [0usize; 4];
    let mut csv = Csv::new("restart", "system,kill,latency_ms,outcome");
    while samples.iter().any(|s| s.len() < kills) {
        for svc in svcs.iter_mut() {
            let n = svc.sys.idx();
            if samples[n].len() >= kills {
                continue;
            }
            sleep_until(svc.up_since + MIN_UP);
            let Killed { new, ms: lat, .. } = kill_and_time(svc.sys, &svc.dir, &svc.ino)?;
            if new == 0 {
                timeouts[n] += 1;
                // Counted as the time given up after: a lower bound.
                csv.row(&[
                    &svc.sys.name(),
                    &samples[n].len(),
                    &format!("{lat:.4}"),
                    &"timeout",
                ]);
                // Wait for it to come back before going on.
                crate::wait_for(Duration::from_secs(30), || {
                    status_pid(svc.sys, &svc.dir).unwrap_or(0) != 0
                });
                samples[n].push(lat);
            } else {
                csv.row(&[
                    &svc.sys.name(),
                    &samples[n].len(),
                    &format!("{lat:.4}"),
                    &"restarted",
                ]);
                samples[n].push(lat);
            }
            svc.up_since = Instant::now();
            std::thread::sleep(SETTLE);
        }
    }
    let mut cpu = [0u64; 4];
    let mut cpu_known = [true; 4];
    for (svc, before) in svcs.iter().zip(&cpu_before) {
        match (before, procs::cpu_ns(svc.child.id() as i32)) {
            (Some(b), Some(a)) => cpu[svc.sys.idx()] += a.saturating_sub(*b),
            _ => cpu_known[svc.sys.idx()] = false,
        }
    }
    for svc in &svcs {
        procs::kill_tree(svc.child.id() as i32);
    }
    csv.write(&ctx.results)?;
    ctx.note(format!(
        "Restart after kill -9: {PER_SYSTEM} services per system (`run` = `exec sleep`), each up ≥ 1.2 s, killed in turn ({kills} kills per system, systems interleaved); time from kill(2) until the supervisor's status names a new pid (daemontools and upkeep: `supervise/status` bytes 12..16; runit: `supervise/pid`, its first status file written; s6: `supervise/status` bytes 24..32), seen through inotify on `supervise/`. Supervisor CPU per restart: its /proc/PID/schedstat run time over the whole series divided by its restarts (includes the idle 1.2 s between kills, which costs nothing when idle). Timeouts (> 5 s): {}.",
        ALL.iter()
            .map(|s| format!("{} {}", s.name(), timeouts[s.idx()]))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut rows = Vec::new();
    for (p, id) in [
        (50.0, "restart-p50"),
        (90.0, "restart-p90"),
        (99.0, "restart-p99"),
    ] {
        let mut r = Row::new(id, &format!("restart after kill -9, p{p}"), "ms", true);
        for sys in ALL {
            r.set(sys, percentile(&samples[sys.idx()], p));
        }
        rows.push(r);
    }
    let mut r = Row::new("restart-cpu", "supervisor CPU time per restart", "µs", true);
    for sys in ALL {
        let n = samples[sys.idx()].len();
        r.set(
            sys,
            (cpu_known[sys.idx()] && n > 0).then(|| cpu[sys.idx()] as f64 / n as f64 / 1000.0),
        );
    }
    rows.push(r);
    Ok(rows)
}

/// An inotify watch on `dir/supervise/`: every status write wakes it.
pub(super) fn watch_status(dir: &Path) -> Result<Inotify, String> {
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| format!("inotify_init: {e}"))?;
    ino.add_watch(
        &dir.join("supervise"),
        AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_CREATE,
    )
    .map_err(|e| format!("inotify_add_watch {}: {e}", dir.display()))?;
    Ok(ino)
}

/// One measured restart.
pub(super) struct Killed {
    /// The pid that was killed.
    pub old: u32,
    /// The pid the status names afterwards; 0 when none came within GIVE_UP.
    pub new: u32,
    /// From kill(2) until the status named `new` (or until given up).
    pub ms: f64,
}

/// Kills the service the status of `dir` names with SIGKILL and times how
/// long until the status names a new pid, woken by `ino` (from
/// `watch_status`) and re-reading the status on every event.
pub(super) fn kill_and_time(sys: Sys, dir: &Path, ino: &Inotify) -> Result<Killed, String> {
    let _ = ino.read_events(); // drain what the last restart left
    let old = status_pid(sys, dir).unwrap_or(0);
    if old == 0 {
        return Err(format!("{}: service down before a kill", dir.display()));
    }
    let t0 = Instant::now();
    kill(Pid::from_raw(old as i32), Signal::SIGKILL).map_err(|e| format!("kill {old}: {e}"))?;
    let mut new = 0;
    loop {
        let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        // The short timeout is a safety net: an event normally comes first.
        let _ = poll(&mut fds, PollTimeout::from(2u8));
        let _ = ino.read_events();
        let p = status_pid(sys, dir).unwrap_or(0);
        if p != 0 && p != old {
            new = p;
            break;
        }
        if t0.elapsed() > GIVE_UP {
            break;
        }
    }
    Ok(Killed {
        old,
        new,
        ms: ms_since(t0),
    })
}
