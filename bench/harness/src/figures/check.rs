//! Figure: what periodic health checks cost (upkeep only: daemontools, runit
//! and s6 have no periodic checks). Two supervises side by side over the
//! same window: one on a service with a `check` (a `#!/bin/sh` that exits
//! 0) every second, one on the same service without a check. The checks are
//! supervise's children, reaped by it, so their CPU lands in supervise's
//! cutime+cstime; the harness counts the checks independently (inotify on
//! the check file) and times the same script run by itself, so the children
//! figure can be checked against count × cost.

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::resource::{getrusage, UsageWho};
use nix::unistd::{sysconf, SysconfVar};

use super::start_supervised;
use crate::report::{Csv, Row};
use crate::systems::{status_pid, write_run, Sys, SLEEPER};
use crate::{procs, wait_for, Ctx};

const CHECK: &str = "#!/bin/sh\nexit 0\n";
/// What supervise reads: a bare integer would be milliseconds.
const INTERVAL: &str = "1s\n";
/// Opens of the check file closer than this belong to one check (the
/// kernel's exec and the shell each open it); checks are 1 s apart.
const SAME_CHECK: Duration = Duration::from_millis(300);

/// One supervise's CPU so far.
#[derive(Clone, Copy, Default)]
struct Cpu {
    /// Its own run time, /proc/PID/schedstat (ns).
    self_ns: u64,
    /// utime + stime, clock ticks (the same time, coarser: a cross-check).
    self_ticks: u64,
    /// cutime + cstime: the children it has reaped, clock ticks.
    children_ticks: u64,
}

fn cpu(pid: i32) -> Result<Cpu, String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("read /proc/{pid}/stat: {e}"))?;
    // Fields after the command name: state is field 3, utime 14 .. cstime 17.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    if f.len() != 4 {
        return Err(format!("/proc/{pid}/stat: too short"));
    }
    let self_ns = procs::cpu_ns(pid).ok_or(format!("read /proc/{pid}/schedstat"))?;
    Ok(Cpu {
        self_ns,
        self_ticks: f[0] + f[1],
        children_ticks: f[2] + f[3],
    })
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let window = Duration::from_secs(if ctx.quick { 15 } else { 60 });
    let hz = sysconf(SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&t| t > 0)
        .unwrap_or(100) as f64;
    let base = ctx.dir("check")?;
    let checked = base.join("checked");
    let plain = base.join("plain");
    write_run(&checked, SLEEPER)?;
    write_run(&plain, SLEEPER)?;
    let check = checked.join("check");
    fs::write(&check, CHECK).map_err(|e| format!("write {}: {e}", check.display()))?;
    fs::set_permissions(&check, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", check.display()))?;
    let interval = checked.join("check-interval");
    fs::write(&interval, INTERVAL).map_err(|e| format!("write {}: {e}", interval.display()))?;
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| format!("inotify_init: {e}"))?;
    ino.add_watch(&check, AddWatchFlags::IN_OPEN)
        .map_err(|e| format!("inotify_add_watch {}: {e}", check.display()))?;

    let mut sups: Vec<Child> = Vec::new();
    let result = (|| {
        let (sup, _) = start_supervised(ctx, Sys::Upkeep, &checked, "check-checked")?;
        sups.push(sup);
        let (sup, _) = start_supervised(ctx, Sys::Upkeep, &plain, "check-plain")?;
        sups.push(sup);
        if !wait_for(Duration::from_secs(10), || check_result(&checked) == "ok") {
            return Err(format!(
                "{}: no passing check within 10 s (check={})",
                checked.display(),
                check_result(&checked)
            ));
        }
        measure(&ino, &sups, &[&checked, &plain], window)
    })();
    for s in &sups {
        procs::kill_tree(s.id() as i32);
    }
    procs::reap();
    let (before, after, checks, secs) = result?;
    // The same script, run by the harness itself: its CPU per run.
    let direct_us = direct_cost(&check, checks.max(10))?;

    let per_hour = 3600.0 / secs;
    let self_s = |i: usize| (after[i].self_ns - before[i].self_ns) as f64 / 1e9;
    let children_s = (after[0]
        .children_ticks
        .saturating_sub(before[0].children_ticks)) as f64
        / hz;
    let plain_children = after[1]
        .children_ticks
        .saturating_sub(before[1].children_ticks);
    let expected_s = checks as f64 * direct_us / 1e6;

    let mut csv = Csv::new(
        "check",
        "service,window_s,self_cpu_ns,self_ticks,children_ticks,clk_tck,checks,direct_cpu_per_check_us,self_s_per_h,total_s_per_h",
    );
    for (i, name) in ["check-1s", "no-check"].iter().enumerate() {
        let kids = after[i].children_ticks - before[i].children_ticks;
        let n = if i == 0 { checks } else { 0 };
        csv.row(&[
            name,
            &format!("{secs:.3}"),
            &(after[i].self_ns - before[i].self_ns),
            &(after[i].self_ticks - before[i].self_ticks),
            &kids,
            &hz,
            &n,
            &format!("{direct_us:.1}"),
            &format!("{:.4}", self_s(i) * per_hour),
            &format!("{:.4}", (self_s(i) + kids as f64 / hz) * per_hour),
        ]);
    }
    csv.write(&ctx.results)?;

    ctx.note(format!(
        "Cost of health checks (upkeep only: daemontools, runit and s6 have no periodic checks): two upkeep supervises at once, each on `run` = `exec sleep`; one dir also has `check` (`#!/bin/sh`, `exit 0`) and `check-interval` = `1s`, the other has no check (the baseline). Once the first check has passed (`check=ok` in `supervise/state`), both are measured over the same {:.0} s window: supervise's own CPU from /proc/PID/schedstat, the checks' from its /proc/PID/stat cutime+cstime (checks are its children, reaped by it: the kernel adds each one's exact run time to a total that /proc shows in clock ticks of 1/{hz:.0} s, so the window's difference is within one tick, ±{:.2} s/h), both scaled to an hour. Checks counted by the harness (inotify IN_OPEN on the check file, opens within 300 ms taken as one check): {checks} in {secs:.1} s. Cross-check: the same script run by the harness itself costs {direct_us:.0} µs CPU per run (getrusage of its children), so {checks} checks ≈ {:.3} s against {children_s:.3} s in supervise's cutime+cstime. The no-check supervise reaped {plain_children} ticks of children in the window.",
        secs,
        1.0 / hz * per_hour,
        expected_s,
    ));

    let mut rows = Vec::new();
    let mut add = |id: &str, label: String, unit: &'static str, v: f64| {
        let mut r = Row::new(id, &label, unit, true);
        r.set(Sys::Upkeep, Some(v));
        rows.push(r);
    };
    add(
        "check-total",
        "supervise + check CPU per hour, check every 1 s".into(),
        "s/h",
        (self_s(0) + children_s) * per_hour,
    );
    add(
        "check-supervise",
        "supervise alone per hour, check every 1 s".into(),
        "s/h",
        self_s(0) * per_hour,
    );
    add(
        "check-idle",
        "supervise idle per hour, no check (baseline)".into(),
        "s/h",
        self_s(1) * per_hour,
    );
    add(
        "check-count",
        format!("checks run in the window ({secs:.0} s, sanity)"),
        "checks",
        checks as f64,
    );
    Ok(rows)
}

type Measured = (Vec<Cpu>, Vec<Cpu>, usize, f64);

/// CPU of every supervise at the start and end of `window`, the checks seen
/// meanwhile, and the window's exact length in seconds.
fn measure(
    ino: &Inotify,
    sups: &[Child],
    dirs: &[&Path],
    window: Duration,
) -> Result<Measured, String> {
    let pids: Vec<i32> = sups.iter().map(|s| s.id() as i32).collect();
    let runs: Vec<Option<u32>> = dirs.iter().map(|d| status_pid(Sys::Upkeep, d)).collect();
    // Opens before the window (the first checks) are not counted.
    while ino.read_events().is_ok() {}
    let before = pids
        .iter()
        .map(|&p| cpu(p))
        .collect::<Result<Vec<_>, _>>()?;
    let t0 = Instant::now();
    let mut checks = 0;
    let mut last: Option<Instant> = None;
    while t0.elapsed() < window {
        let left = window.saturating_sub(t0.elapsed()).as_millis().min(1000) as u16;
        let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(left));
        let now = Instant::now();
        let mut seen = false;
        while let Ok(events) = ino.read_events() {
            seen |= !events.is_empty();
        }
        if seen {
            if last.is_none_or(|l| now - l > SAME_CHECK) {
                checks += 1;
            }
            last = Some(now);
        }
    }
    let after = pids
        .iter()
        .map(|&p| cpu(p))
        .collect::<Result<Vec<_>, _>>()?;
    let secs = t0.elapsed().as_secs_f64();
    for (d, r) in dirs.iter().zip(&runs) {
        if status_pid(Sys::Upkeep, d) != *r {
            return Err(format!(
                "{}: the service restarted in the window",
                d.display()
            ));
        }
    }
    Ok((before, after, checks, secs))
}

/// The check's `result` in `dir/supervise/state` (empty if unreadable).
fn check_result(dir: &Path) -> String {
    fs::read_to_string(dir.join("supervise/state"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("check=").map(str::to_string))
        })
        .unwrap_or_default()
}

/// Mean CPU (µs) of `check 1` run `n` times by the harness itself, one at a
/// time, from getrusage of its reaped children.
fn direct_cost(check: &Path, n: usize) -> Result<f64, String> {
    let used = || -> Result<f64, String> {
        let u = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| format!("getrusage: {e}"))?;
        let us = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 * 1e6 + t.tv_usec() as f64;
        Ok(us(u.user_time()) + us(u.system_time()))
    };
    let path = check.to_string_lossy().into_owned();
    let cwd = check.parent().unwrap_or(Path::new("/"));
    let t0 = used()?;
    for _ in 0..n {
        let ok = std::process::Command::new(&path)
            .arg("1")
            .current_dir(cwd)
            .env_clear()
            .env("PATH", procs::PATH)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err(format!("{path} 1: did not exit 0"));
        }
    }
    Ok((used()? - t0) / n as f64)
}
