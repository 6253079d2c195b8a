//! Figure: restart after `kill -9` of a service whose supervise adopted it
//! (upkeep only: the peers cannot adopt). A run is a normal child again
//! once restarted, so every adopted sample is a fresh adoption: kill -9 the
//! supervise, start a new one on the dir, wait until it holds a pidfd on the
//! still-running service, then kill -9 the service and time the restart
//! exactly as the restart figure does. Child restarts by the same
//! supervisors alternate with them, so both come from one run.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::inotify::Inotify;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::restart::{kill_and_time, watch_status, Killed, MIN_UP, SETTLE};
use super::{ms_since, start_supervised};
use crate::report::{mean, percentile, Csv, Row};
use crate::systems::{status_pid, write_run, Sys, SLEEPER};
use crate::{procs, sleep_until, wait_for, Ctx};

/// Services: kills rotate over them so each has aged past MIN_UP by its next
/// turn without the run waiting idle (a turn takes ~60 ms).
const SERVICES: usize = 8;
const ADOPT_LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Adopted,
    Child,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Adopted => "adopted",
            Kind::Child => "child",
        }
    }
}

struct Svc {
    dir: PathBuf,
    sup: Child,
    ino: Inotify,
    up_since: Instant,
    next: Kind,
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let kills = if ctx.quick { 50 } else { 200 };
    let base = ctx.dir("adopt")?;
    let mut svcs = Vec::new();
    for i in 0..SERVICES {
        let dir = base.join(format!("upkeep-{i}"));
        write_run(&dir, SLEEPER)?;
        let (sup, _) = start_supervised(ctx, Sys::Upkeep, &dir, &format!("adopt-{i}"))?;
        let ino = watch_status(&dir)?;
        svcs.push(Svc {
            dir,
            sup,
            ino,
            up_since: Instant::now(),
            next: Kind::Adopted,
        });
    }
    let result = measure(ctx, &mut svcs, kills);
    for svc in &svcs {
        procs::kill_tree(svc.sup.id() as i32);
    }
    procs::reap();
    let (samples, cpu, timeouts) = result?;
    ctx.note(format!(
        "Restart under an adopting supervise (upkeep only: the peers have no adoption): {SERVICES} services (`run` = `exec sleep`). For each adopted sample, once the service has been up ≥ 1.2 s: kill -9 its supervise, start a new supervise on the dir, wait until it has adopted the service (the status rewritten by it, same pid, and a pidfd on that pid among its fds), 25 ms of quiet, then kill -9 the service and time it exactly as the restart figure does (kill(2) until `supervise/status` names a new pid, seen through inotify). The restarted run is the new supervise's child, so the next sample of that service is a child restart, timed the same way: the two kinds alternate, {kills} of each. Supervise CPU per restart: mean of its /proc/PID/schedstat run time from just before the kill until 25 ms after the new pid showed. The killed adopted service is reaped by the harness (as svscan, a subreaper, would) only after the sample. Timeouts (> 5 s): adopted {}, child {}.",
        timeouts[0], timeouts[1]
    ));
    let mut rows = Vec::new();
    for (kind, what) in [
        (
            Kind::Adopted,
            "restart after kill -9 under an adopting supervise",
        ),
        (Kind::Child, "restart after kill -9 of a child (adopt run)"),
    ] {
        let k = kind as usize;
        for p in [50.0, 90.0, 99.0] {
            let mut r = Row::new(
                &format!("adopt-{}-p{p}", kind.name()),
                &format!("{what}, p{p}"),
                "ms",
                true,
            );
            r.set(Sys::Upkeep, percentile(&samples[k], p));
            rows.push(r);
        }
    }
    for kind in [Kind::Adopted, Kind::Child] {
        let k = kind as usize;
        let mut r = Row::new(
            &format!("adopt-{}-cpu", kind.name()),
            &format!("supervise CPU time per {} restart", kind.name()),
            "µs",
            true,
        );
        r.set(Sys::Upkeep, mean(&cpu[k]));
        rows.push(r);
    }
    Ok(rows)
}

type Series = [Vec<f64>; 2];

/// Takes `kills` samples of each kind. Returns latencies (ms), supervise
/// CPU per restart (µs) and timeouts, by kind.
fn measure(
    ctx: &Ctx,
    svcs: &mut [Svc],
    kills: usize,
) -> Result<(Series, Series, [usize; 2]), String> {
    let mut samples: Series = Default::default();
    let mut cpu: Series = Default::default();
    let mut timeouts = [0usize; 2];
    let mut csv = Csv::new(
        "adopt",
        "kind,sample,latency_ms,outcome,killed_pid,new_pid,supervise_cpu_us,adopt_setup_ms",
    );
    let mut generation = 0;
    while samples.iter().any(|s| s.len() < kills) {
        generation += 1;
        for svc in svcs.iter_mut() {
            let kind = svc.next;
            let k = kind as usize;
            if samples[k].len() >= kills {
                continue;
            }
            sleep_until(svc.up_since + MIN_UP);
            let mut setup = String::new();
            if kind == Kind::Adopted {
                let t = Instant::now();
                readopt(ctx, svc, generation)?;
                setup = format!("{:.1}", ms_since(t));
                std::thread::sleep(SETTLE);
            }
            let sup = svc.sup.id() as i32;
            let before = procs::cpu_ns(sup);
            let Killed { old, new, ms } = kill_and_time(Sys::Upkeep, &svc.dir, &svc.ino)?;
            let outcome = if new == 0 {
                // A missed death: counted as the time given up after.
                timeouts[k] += 1;
                wait_for(Duration::from_secs(30), || {
                    status_pid(Sys::Upkeep, &svc.dir).unwrap_or(0) != 0
                });
                "timeout"
            } else {
                "restarted"
            };
            std::thread::sleep(SETTLE);
            let used = match (before, procs::cpu_ns(sup)) {
                (Some(b), Some(a)) => {
                    let us = a.saturating_sub(b) as f64 / 1000.0;
                    cpu[k].push(us);
                    format!("{us:.1}")
                }
                _ => String::new(),
            };
            csv.row(&[
                &kind.name(),
                &samples[k].len(),
                &format!("{ms:.4}"),
                &outcome,
                &old,
                &new,
                &used,
                &setup,
            ]);
            samples[k].push(ms);
            // The killed adopted service was reparented to us (subreaper).
            procs::reap();
            svc.up_since = Instant::now();
            svc.next = match kind {
                Kind::Adopted => Kind::Child,
                Kind::Child => Kind::Adopted,
            };
        }
    }
    csv.write(&ctx.results)?;
    Ok((samples, cpu, timeouts))
}

/// Kills `svc`'s supervise with SIGKILL and starts a new one on the dir;
/// returns once the new one has adopted the still-running service.
fn readopt(ctx: &Ctx, svc: &mut Svc, generation: usize) -> Result<(), String> {
    let dir = &svc.dir;
    let pid = status_pid(Sys::Upkeep, dir).unwrap_or(0);
    if pid == 0 {
        return Err(format!("{}: service down before adoption", dir.display()));
    }
    let old = svc.sup.id();
    kill(Pid::from_raw(old as i32), Signal::SIGKILL).map_err(|e| format!("kill {old}: {e}"))?;
    // Reaped here, so its lock is gone before the next supervise starts.
    svc.sup.wait().map_err(|e| format!("wait {old}: {e}"))?;
    if !procs::alive(pid as i32) {
        return Err(format!(
            "{}: service {pid} died with its supervise",
            dir.display()
        ));
    }
    let stale = status_inode(dir);
    let argv = ctx.bins.supervisor(Sys::Upkeep, dir);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let tag = format!("adopt-{}-{generation}", name.unwrap_or_default());
    svc.sup = procs::start(&argv, dir, &ctx.log(&tag))?;
    let sup = svc.sup.id() as i32;
    let adopted = wait_for(ADOPT_LIMIT, || {
        status_inode(dir) != stale
            && status_pid(Sys::Upkeep, dir) == Some(pid)
            && holds_pidfd(sup, pid)
    });
    if !adopted {
        return Err(format!(
            "{}: service {pid} not adopted within {} s (now {:?})",
            dir.display(),
            ADOPT_LIMIT.as_secs(),
            status_pid(Sys::Upkeep, dir)
        ));
    }
    Ok(())
}

/// The inode of `dir/supervise/status`: supervise replaces it by rename on
/// every write, so a new inode means a new write.
fn status_inode(dir: &Path) -> Option<u64> {
    fs::metadata(dir.join("supervise/status"))
        .ok()
        .map(|m| m.ino())
}

/// True when `holder` has a pidfd open on `pid` (its fdinfo says `Pid:`).
fn holds_pidfd(holder: i32, pid: u32) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{holder}/fdinfo")) else {
        return false;
    };
    let want = pid.to_string();
    fds.flatten().any(|fd| {
        fs::read_to_string(fd.path()).is_ok_and(|info| {
            info.lines().any(|l| {
                l.strip_prefix("Pid:")
                    .is_some_and(|v| v.trim() == want.as_str())
            })
        })
    })
}
