//! Figures 3, 4 and 5, on a running scanner: N new service dirs appearing
//! until all are up; then, with 500 services up, memory per supervisor and
//! idle wake-ups of the scanner and of one supervisor.

use std::collections::HashSet;
use std::fs;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::ms_since;
use crate::report::{mean, median, Csv, Row};
use crate::systems::{write_run, Bins, Sys, ALL};
use crate::{procs, Ctx};

/// How long the scanner runs on its empty directory before services
/// appear, by repetition: spread over the 5 s polling cycle of daemontools'
/// svscan and runit's runsvdir so their median sits mid-cycle, neither their
/// best nor their worst case.
fn settle_before(rep: usize, reps: usize) -> Duration {
    if reps == 1 {
        return Duration::from_millis(2500);
    }
    Duration::from_millis(500 + (4000 * rep / (reps - 1)) as u64)
}
/// Quiet time after the last service is up, before memory and wake-ups.
const SETTLE_AFTER: Duration = Duration::from_secs(1);
const IDLE: Duration = Duration::from_secs(10);
const GIVE_UP: Duration = Duration::from_secs(60);

/// How long `n` services may take to come up: 60 s, more for thousands.
pub(super) fn give_up(n: usize) -> Duration {
    GIVE_UP.max(Duration::from_millis(20 * n as u64))
}

struct Idle {
    scanner: u64,
    supervisor: u64,
}

pub(super) struct Outcome {
    pub first_up_ms: Option<f64>,
    pub half_up_ms: Option<f64>,
    pub all_up_ms: Option<f64>,
    pub up: usize,
    pub mem: Vec<procs::Mem>,
    pub scanner_mem: Option<procs::Mem>,
    idle: Option<Idle>,
    /// The scanner said it cannot run so many services (its own limit).
    pub refused: Option<String>,
}

/// What to measure once all services are up.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Measure {
    Nothing,
    Memory,
    MemoryAndIdle,
}

/// One scanner, `n` services appearing under it; memory and idle wake-ups
/// too as `measure` says.
pub(super) fn one(
    ctx: &Ctx,
    sys: Sys,
    n: usize,
    rep: usize,
    reps: usize,
    measure: Measure,
) -> Result<Outcome, String> {
    let base = ctx.dir(&format!("scan-{}-{n}-{rep}", sys.name()))?;
    let scan = base.join("services");
    let stage = base.join("stage");
    let marks = base.join("marks");
    for d in [&scan, &stage, &marks] {
        fs::create_dir_all(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
    }
    // The run marks itself up with a shell builtin (no fork), then becomes
    // the service; "up" below means "run has started", for every system.
    let body = format!(
        ": > {}/\"${{PWD##*/}}\"\nexec sleep 1000000\n",
        marks.display()
    );
    let names: Vec<String> = (0..n).map(|i| format!("s{i:04}")).collect();
    for name in &names {
        write_run(&stage.join(name), &body)?;
    }
    let mut argv = ctx.bins.scanner(sys, &scan);
    if sys == Sys::S6 && n > 500 {
        // s6-svscan keeps at most 500 services unless told more with -c.
        argv.insert(1, "-c".into());
        argv.insert(2, (n + 24).to_string());
    }
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let log = ctx.log(&format!("scan-{}-{n}-{rep}", sys.name()));
    let scanner = procs::start(&argv, &base, &log)?;
    let spid = scanner.id() as i32;
    std::thread::sleep(settle_before(rep, reps));
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| format!("inotify_init: {e}"))?;
    ino.add_watch(
        &marks,
        AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
    )
    .map_err(|e| format!("inotify_add_watch {}: {e}", marks.display()))?;
    let mut seen = HashSet::new();
    let t0 = Instant::now();
    for name in &names {
        fs::rename(stage.join(name), scan.join(name)).map_err(|e| format!("rename {name}: {e}"))?;
    }
    if sys == Sys::S6 {
        // s6-svscan never polls: it is told to rescan (as its users do).
        procs::run_quiet(&["/usr/bin/s6-svscanctl", "-a", &scan.to_string_lossy()]);
    }
    let mut all_up = None;
    let mut first = None;
    let mut half = None;
    let mut refused = None;
    let mut looked = Instant::now();
    while t0.elapsed() < give_up(n) {
        // daemontools' svscan and runit's runsvdir have a fixed limit and
        // say so; waiting out the deadline would only cost time.
        if looked.elapsed() > Duration::from_secs(1) {
            looked = Instant::now();
            let text = fs::read_to_string(&log).unwrap_or_default();
            if let Some(l) = text.lines().find(|l| l.contains("too many services")) {
                refused = Some(l.trim().to_string());
                break;
            }
        }
        let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(50u8));
        let mut overflow = false;
        while let Ok(events) = ino.read_events() {
            for e in events {
                if e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    overflow = true;
                }
                if let Some(name) = e.name {
                    seen.insert(name);
                }
            }
        }
        if overflow {
            if let Ok(rd) = fs::read_dir(&marks) {
                for e in rd.flatten() {
                    seen.insert(e.file_name());
                }
            }
        }
        if first.is_none() && !seen.is_empty() {
            first = Some(ms_since(t0));
        }
        if half.is_none() && seen.len() * 2 >= n {
            half = Some(ms_since(t0));
        }
        if seen.len() >= n {
            all_up = Some(ms_since(t0));
            break;
        }
    }
    let mut out = Outcome {
        first_up_ms: first,
        half_up_ms: half,
        all_up_ms: all_up,
        up: seen.len(),
        mem: Vec::new(),
        scanner_mem: None,
        idle: None,
        refused,
    };
    if measure != Measure::Nothing && all_up.is_some() {
        std::thread::sleep(SETTLE_AFTER);
        let sups: Vec<i32> = procs::children(spid)
            .into_iter()
            .filter(|&p| procs::comm(p) == Bins::supervisor_comm(sys))
            .collect();
        out.mem = sups.iter().filter_map(|&p| procs::memory(p)).collect();
        out.scanner_mem = procs::memory(spid);
        if let Some(&one) = sups.first().filter(|_| measure == Measure::MemoryAndIdle) {
            let before = (procs::context_switches(spid), procs::context_switches(one));
            std::thread::sleep(IDLE);
            let after = (procs::context_switches(spid), procs::context_switches(one));
            if let ((Some(a0), Some(b0)), (Some(a1), Some(b1))) = (before, after) {
                out.idle = Some(Idle {
                    scanner: a1 - a0,
                    supervisor: b1 - b0,
                });
            }
        }
    }
    procs::kill_tree(spid);
    let _ = fs::remove_dir_all(&base);
    Ok(out)
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let reps = if ctx.quick { 1 } else { 5 };
    let sizes = [500usize, 1000];
    let mut up_csv = Csv::new(
        "scan",
        "system,services,rep,first_up_ms,half_up_ms,all_up_ms,services_up",
    );
    let mut mem_csv = Csv::new("memory", "system,process,pid_index,rss_kb,pss_kb,uss_kb");
    let mut idle_csv = Csv::new("idle", "system,process,context_switches_in_10s");
    let mut up_ms: [[Vec<f64>; 4]; 2] = Default::default();
    let mut missing = Vec::new();
    let mut pss = [None; 4];
    let mut uss = [None; 4];
    let mut rss = [None; 4];
    let mut scanner_rss = [None; 4];
    let mut idle = [None, None, None, None];
    let mut floor_ms: [Vec<f64>; 2] = Default::default();
    // Systems interleaved within each repetition, so a change in the
    // machine's load over the run falls on all of them alike.
    for rep in 0..reps {
        for (k, &n) in sizes.iter().enumerate() {
            for sys in ALL {
                let measure = n == 500 && rep == 0;
                let what = if measure {
                    Measure::MemoryAndIdle
                } else {
                    Measure::Nothing
                };
                let o = one(ctx, sys, n, rep, reps, what)?;
                up_csv.row(&[
                    &sys.name(),
                    &n,
                    &rep,
                    &o.first_up_ms.map(|t| format!("{t:.2}")).unwrap_or_default(),
                    &o.half_up_ms.map(|t| format!("{t:.2}")).unwrap_or_default(),
                    &o.all_up_ms
                        .map(|t| format!("{t:.2}"))
                        .unwrap_or_else(|| "timeout".into()),
                    &o.up,
                ]);
                match o.all_up_ms {
                    Some(t) => up_ms[k][sys.idx()].push(t),
                    None => missing.push(format!(
                        "{} {n}: {} of {n} up after {} s",
                        sys.name(),
                        o.up,
                        GIVE_UP.as_secs()
                    )),
                }
                if measure {
                    let v: Vec<&procs::Mem> = o.mem.iter().collect();
                    for (i, m) in v.iter().enumerate() {
                        mem_csv.row(&[&sys.name(), &"supervisor", &i, &m.rss, &m.pss, &m.uss]);
                    }
                    if let Some(m) = o.scanner_mem {
                        mem_csv.row(&[&sys.name(), &"scanner", &0, &m.rss, &m.pss, &m.uss]);
                        scanner_rss[sys.idx()] = Some(m.rss);
                    }
                    pss[sys.idx()] = mean(&v.iter().map(|m| m.pss).collect::<Vec<_>>());
                    uss[sys.idx()] = mean(&v.iter().map(|m| m.uss).collect::<Vec<_>>());
                    rss[sys.idx()] = median(&v.iter().map(|m| m.rss).collect::<Vec<_>>());
                    if let Some(i) = &o.idle {
                        idle_csv.row(&[&sys.name(), &"scanner", &i.scanner]);
                        idle_csv.row(&[&sys.name(), &"supervisor", &i.supervisor]);
                        idle[sys.idx()] = Some((i.scanner, i.supervisor));
                    }
                }
            }
            let t = baseline(ctx, n)?;
            up_csv.row(&[
                &"no supervisor (harness starts each run itself)",
                &n,
                &rep,
                &"",
                &"",
                &format!("{t:.2}"),
                &n,
            ]);
            floor_ms[k].push(t);
        }
    }
    let floor: Vec<String> = sizes
        .iter()
        .zip(&floor_ms)
        .map(|(n, f)| format!("{n}: {:.0} ms", median(f).unwrap_or(f64::NAN)))
        .collect();
    for c in [&up_csv, &mem_csv, &idle_csv] {
        c.write(&ctx.results)?;
    }
    ctx.note(format!(
        "New services under a running scanner: the scanner runs {} on an empty directory, then N prepared service dirs are renamed into it (s6: followed by `s6-svscanctl -a`, which s6 needs; the others get no command); time until every `run` has started (each marks itself with a shell builtin before `exec sleep`, seen through inotify). daemontools' svscan and runit's runsvdir look for new dirs every 5 s, so their figure depends on where in that cycle the dirs appear. s6-svscan gets `-c {{N+24}}` for more than 500 services (its default limit is 500). Median of {reps} run(s) per size. The floor on this machine — the harness itself starting the same N run scripts, one after another, no supervisor (median): {}.{}",
        if reps == 1 { "2.5 s".to_string() } else { format!("0.5 s to 4.5 s (spread evenly over the {reps} runs)") },
        floor.join(", "),
        if missing.is_empty() { String::new() } else { format!(" Runs that did not finish: {}.", missing.join("; ")) }
    ));
    ctx.note(format!(
        "Memory: with 500 services up under each scanner (after {} s quiet), /proc/PID/smaps_rollup of every supervisor process (supervise, runsv, s6-supervise): mean Pss, mean USS (Private_Clean + Private_Dirty), median Rss. Each system measured alone (one scanner at a time).",
        SETTLE_AFTER.as_secs()
    ));
    ctx.note(format!(
        "Idle wake-ups: voluntary + involuntary context switches (/proc/PID/status) over {} s with 500 services up and nothing happening, of the scanner and of its first supervisor.",
        IDLE.as_secs()
    ));
    let mut rows = Vec::new();
    for (k, &n) in sizes.iter().enumerate() {
        let mut r = Row::new(
            &format!("scan-{n}"),
            &format!("{n} new services all up, scanner running"),
            "ms",
            true,
        );
        for sys in ALL {
            r.set(sys, median(&up_ms[k][sys.idx()]));
        }
        rows.push(r);
    }
    let mut r = Row::new(
        "mem-pss",
        "avg PSS per supervisor, 500 services",
        "kB",
        true,
    );
    ALL.iter().for_each(|&s| r.set(s, pss[s.idx()]));
    rows.push(r);
    let mut r = Row::new(
        "mem-uss",
        "avg USS per supervisor, 500 services",
        "kB",
        true,
    );
    ALL.iter().for_each(|&s| r.set(s, uss[s.idx()]));
    rows.push(r);
    let mut r = Row::new(
        "mem-rss",
        "RSS of one idle supervisor (median of 500)",
        "kB",
        true,
    );
    ALL.iter().for_each(|&s| r.set(s, rss[s.idx()]));
    rows.push(r);
    let mut r = Row::new(
        "mem-scanner-rss",
        "RSS of the scanner, 500 services",
        "kB",
        true,
    );
    ALL.iter().for_each(|&s| r.set(s, scanner_rss[s.idx()]));
    rows.push(r);
    let mut r = Row::new(
        "idle-scanner",
        "scanner context switches in 10 s idle",
        "count",
        true,
    );
    ALL.iter()
        .for_each(|&s| r.set(s, idle[s.idx()].map(|i| i.0 as f64)));
    rows.push(r);
    let mut r = Row::new(
        "idle-supervisor",
        "supervisor context switches in 10 s idle",
        "count",
        true,
    );
    ALL.iter()
        .for_each(|&s| r.set(s, idle[s.idx()].map(|i| i.1 as f64)));
    rows.push(r);
    Ok(rows)
}

/// The machine's floor for figure 5: the harness itself starts N run
/// scripts (same script, same marks) with no supervisor in between.
pub(super) fn baseline(ctx: &Ctx, n: usize) -> Result<f64, String> {
    let base = ctx.dir(&format!("scan-floor-{n}"))?;
    let marks = base.join("marks");
    fs::create_dir_all(&marks).map_err(|e| format!("mkdir {}: {e}", marks.display()))?;
    let body = format!(
        ": > {}/\"${{PWD##*/}}\"\nexec sleep 1000000\n",
        marks.display()
    );
    let dirs: Vec<_> = (0..n).map(|i| base.join(format!("s{i:04}"))).collect();
    for d in &dirs {
        write_run(d, &body)?;
    }
    let t0 = Instant::now();
    let mut kids = Vec::new();
    for d in &dirs {
        let c = std::process::Command::new("./run")
            .current_dir(d)
            .env_clear()
            .env("PATH", procs::PATH)
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("start {}/run: {e}", d.display()))?;
        kids.push(c);
    }
    let ok = crate::wait_for(give_up(n), || {
        fs::read_dir(&marks)
            .map(|r| r.count() >= n)
            .unwrap_or(false)
    });
    let t = ms_since(t0);
    for k in &kids {
        procs::kill_tree(k.id() as i32);
    }
    let _ = fs::remove_dir_all(&base);
    if ok {
        Ok(t)
    } else {
        Err(format!(
            "baseline: {n} run scripts not all started in {} s",
            give_up(n).as_secs()
        ))
    }
}
