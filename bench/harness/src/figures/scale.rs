//! Figure: how cost grows with the number of services. The scan figure's
//! experiment (a running scanner, N prepared dirs renamed in, until every
//! `run` has started) at N = 100, 1,000 and 10,000, with memory at every
//! N; rows for 10,000 and line charts of cost per service against N.
//!
//! 10,000 services are 20,000 processes and as many inotify instances and
//! file descriptors as some scanners hold: the kernel's limits are read
//! first and raised for the figure (root), then put back.

use super::scan::{baseline, one, Measure};
use crate::report::{mean, svg_lines, Csv, Row, Series};
use crate::systems::{Sys, ALL};
use crate::Ctx;
use std::fs;

const SIZES: [usize; 3] = [100, 1000, 10_000];

/// A kernel setting in /proc/sys raised for the figure, put back on drop.
struct Raised {
    path: &'static str,
    old: Option<u64>,
}

impl Raised {
    /// Raises `path` to at least `want`; says what it found and did.
    fn at_least(path: &'static str, want: u64, log: &mut Vec<String>) -> Raised {
        let old = fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        match old {
            Some(v) if v >= want => {
                log.push(format!("{path} = {v} (enough)"));
                Raised { path, old: None }
            }
            Some(v) => match fs::write(path, want.to_string()) {
                Ok(()) => {
                    log.push(format!("{path} = {v}, raised to {want} for the figure"));
                    Raised { path, old }
                }
                Err(e) => {
                    log.push(format!("{path} = {v}, cannot raise to {want}: {e}"));
                    Raised { path, old: None }
                }
            },
            None => {
                log.push(format!("{path}: unreadable"));
                Raised { path, old: None }
            }
        }
    }
}

impl Drop for Raised {
    fn drop(&mut self) {
        if let Some(v) = self.old {
            let _ = fs::write(self.path, v.to_string());
        }
    }
}

/// RLIMIT_NOFILE and RLIMIT_NPROC as high as root may set them (children
/// inherit them: the scanners, then their supervisors).
fn raise_rlimits(log: &mut Vec<String>) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
    let nr_open = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20);
    for (name, res, want) in [
        ("RLIMIT_NOFILE", Resource::RLIMIT_NOFILE, nr_open),
        ("RLIMIT_NPROC", Resource::RLIMIT_NPROC, RLIM_INFINITY),
    ] {
        let Ok((soft, hard)) = getrlimit(res) else {
            continue;
        };
        let shown = |v: u64| {
            if v == RLIM_INFINITY {
                "unlimited".to_string()
            } else {
                v.to_string()
            }
        };
        if soft >= want {
            log.push(format!("{name} {} (enough)", shown(soft)));
            continue;
        }
        let done = match setrlimit(res, want, want.max(hard)) {
            Ok(()) => Ok((want, want.max(hard))),
            // No CAP_SYS_RESOURCE (a container): the hard limit is as far
            // as we may go.
            Err(e) => match setrlimit(res, hard, hard) {
                Ok(()) => Err((e, hard)),
                Err(_) => Err((e, soft)),
            },
        };
        log.push(match done {
            Ok((s, h)) => format!(
                "{name} {}/{} raised to {}/{}",
                shown(soft),
                shown(hard),
                shown(s),
                shown(h)
            ),
            Err((e, now)) => format!(
                "{name} {}/{}: cannot raise to {} ({e}), soft limit now {}",
                shown(soft),
                shown(hard),
                shown(want),
                shown(now)
            ),
        });
    }
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let reps = if ctx.quick { 1 } else { 3 };
    let biggest = *SIZES.last().unwrap_or(&10_000) as u64;
    let mut limits = Vec::new();
    raise_rlimits(&mut limits);
    // Two processes per service, plus the rest of the machine.
    let _pid_max = Raised::at_least(
        "/proc/sys/kernel/pid_max",
        4 * biggest + 65_536,
        &mut limits,
    );
    let _threads = Raised::at_least(
        "/proc/sys/kernel/threads-max",
        4 * biggest + 65_536,
        &mut limits,
    );
    // upkeep's supervise holds an inotify instance each.
    let _ino = Raised::at_least(
        "/proc/sys/fs/inotify/max_user_instances",
        2 * biggest + 1024,
        &mut limits,
    );
    let _watches = Raised::at_least(
        "/proc/sys/fs/inotify/max_user_watches",
        8 * biggest + 65_536,
        &mut limits,
    );

    let mut csv = Csv::new(
        "scale",
        "system,services,rep,first_up_ms,all_up_ms,services_up,scanner_rss_kb,supervisor_pss_kb_mean,supervisor_uss_kb_mean,refused",
    );
    // [size][system]: all-up times; memory from the first rep.
    let mut up: Vec<[Vec<f64>; 4]> = SIZES.iter().map(|_| Default::default()).collect();
    // First service up to the last, per service after the first: the
    // scanner's own cost, without daemontools' and runit's 5 s poll wait.
    let mut spread: Vec<[Vec<f64>; 4]> = SIZES.iter().map(|_| Default::default()).collect();
    let mut floor: Vec<Vec<f64>> = SIZES.iter().map(|_| Vec::new()).collect();
    let mut scanner_rss = vec![[None; 4]; SIZES.len()];
    let mut pss = vec![[None; 4]; SIZES.len()];
    let mut skipped: Vec<String> = Vec::new();
    let mut refused_by = [false; 4];
    for (k, &n) in SIZES.iter().enumerate() {
        let reps_here = if n >= 10_000 { 1 } else { reps };
        for rep in 0..reps_here {
            for sys in ALL {
                if refused_by[sys.idx()] {
                    continue;
                }
                let what = if rep == 0 {
                    Measure::Memory
                } else {
                    Measure::Nothing
                };
                let o = one(ctx, sys, n, rep, reps_here, what)?;
                let m_pss = mean(&o.mem.iter().map(|m| m.pss).collect::<Vec<_>>());
                let m_uss = mean(&o.mem.iter().map(|m| m.uss).collect::<Vec<_>>());
                let f = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
                csv.row(&[
                    &sys.name(),
                    &n,
                    &rep,
                    &f(o.first_up_ms),
                    &f(o.all_up_ms),
                    &o.up,
                    &f(o.scanner_mem.map(|m| m.rss)),
                    &f(m_pss),
                    &f(m_uss),
                    &o.refused.clone().unwrap_or_default().replace(',', ";"),
                ]);
                if let Some(why) = &o.refused {
                    // A fixed limit: larger N cannot work either.
                    refused_by[sys.idx()] = true;
                    skipped.push(format!(
                        "{} cannot run {n} services: its scanner says \"{why}\" ({} of {n} started)",
                        sys.name(),
                        o.up
                    ));
                    continue;
                }
                if let (Some(a), Some(f)) = (o.all_up_ms, o.first_up_ms) {
                    spread[k][sys.idx()].push((a - f) / (n - 1).max(1) as f64);
                }
                match o.all_up_ms {
                    Some(t) => up[k][sys.idx()].push(t),
                    None => skipped.push(format!(
                        "{} {n}: {} of {n} up after {} s",
                        sys.name(),
                        o.up,
                        super::scan::give_up(n).as_secs()
                    )),
                }
                if rep == 0 {
                    scanner_rss[k][sys.idx()] = o.scanner_mem.map(|m| m.rss);
                    pss[k][sys.idx()] = m_pss;
                }
            }
            let t = baseline(ctx, n)?;
            csv.row(&[
                &"floor (harness starts each run itself)",
                &n,
                &rep,
                &"",
                &format!("{t:.1}"),
                &n,
                &"",
                &"",
                &"",
                &"",
            ]);
            floor[k].push(t);
        }
    }
    csv.write(&ctx.results)?;

    let med = crate::report::median;
    let up_med: Vec<[Option<f64>; 4]> = up
        .iter()
        .map(|per| [0, 1, 2, 3].map(|i| med(&per[i])))
        .collect();
    let spread_med: Vec<[Option<f64>; 4]> = spread
        .iter()
        .map(|per| [0, 1, 2, 3].map(|i| med(&per[i])))
        .collect();
    let floor_med: Vec<Option<f64>> = floor.iter().map(|f| med(f)).collect();
    let xs: Vec<f64> = SIZES.iter().map(|&n| n as f64).collect();
    let per_service = |v: Option<f64>, n: usize| v.map(|v| v / n as f64);
    let mut time_lines: Vec<Series> = ALL
        .iter()
        .map(|&s| Series {
            name: s.name().into(),
            ours: s == Sys::Upkeep,
            vals: SIZES
                .iter()
                .enumerate()
                .map(|(k, &n)| per_service(up_med[k][s.idx()], n))
                .collect(),
        })
        .collect();
    time_lines.push(Series {
        name: "floor (no supervisor)".into(),
        ours: false,
        vals: SIZES
            .iter()
            .enumerate()
            .map(|(k, &n)| per_service(floor_med[k], n))
            .collect(),
    });
    let lines_of = |m: &Vec<[Option<f64>; 4]>, per: bool| -> Vec<Series> {
        ALL.iter()
            .map(|&s| Series {
                name: s.name().into(),
                ours: s == Sys::Upkeep,
                vals: SIZES
                    .iter()
                    .enumerate()
                    .map(|(k, &n)| {
                        if per {
                            per_service(m[k][s.idx()], n)
                        } else {
                            m[k][s.idx()]
                        }
                    })
                    .collect(),
            })
            .collect()
    };
    let charts = ctx.results.parent().map(|b| b.join("charts"));
    if let Some(charts) = charts {
        let _ = fs::create_dir_all(&charts);
        for (file, title, unit, lines) in [
            (
                "scale-up-per-service",
                "New services all up, per service",
                "ms per service",
                time_lines,
            ),
            (
                "scale-first-to-last",
                "First service up to the last, per service",
                "ms per service",
                lines_of(&spread_med, false),
            ),
            (
                "scale-scanner-rss-per-service",
                "Scanner RSS per service",
                "kB per service",
                lines_of(&scanner_rss, true),
            ),
            (
                "scale-supervisor-pss",
                "Mean PSS per supervisor",
                "kB",
                lines_of(&pss, false),
            ),
        ] {
            let p = charts.join(format!("{file}.svg"));
            fs::write(&p, svg_lines(title, unit, &xs, &lines))
                .map_err(|e| format!("write {}: {e}", p.display()))?;
        }
    }

    let fmt_ms = |v: Option<f64>| {
        v.map(|v| format!("{v:.0} ms"))
            .unwrap_or_else(|| "n/a".into())
    };
    let floors: Vec<String> = SIZES
        .iter()
        .zip(&floor_med)
        .map(|(n, f)| format!("{n}: {}", fmt_ms(*f)))
        .collect();
    ctx.note(format!(
        "Scale (N = 100, 1,000, 10,000): the scan figure's experiment at each N ({reps} run(s) per system at 100 and 1,000, one at 10,000; scanner 2.5 s on its empty dir when one run), memory (scanner RSS, mean PSS per supervisor) after the first run of each N, each system alone. s6-svscan gets `-c N+24` above 500. The floor, the harness starting the N run scripts itself (median): {}. Charts of cost against N, in bench/charts/: `scale-up-per-service.svg` (all up, per service; daemontools' and runit's 5 s poll weighs on it at small N), `scale-first-to-last.svg` (first service up to the last, per service: the scanner's own cost, poll wait excluded), `scale-scanner-rss-per-service.svg`, `scale-supervisor-pss.svg`. Kernel limits for the figure: {}.{}",
        floors.join(", "),
        limits.join("; "),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" Not run to the end: {}.", skipped.join("; "))
        }
    ));

    let k = SIZES.len() - 1;
    let n = SIZES[k];
    let mut rows = Vec::new();
    let mut r = Row::new(
        "scale-10000-up",
        &format!(
            "{} new services all up, scanner running",
            crate::report::fmt_val(Some(n as f64))
        ),
        "ms",
        true,
    );
    ALL.iter().for_each(|&s| r.set(s, up_med[k][s.idx()]));
    rows.push(r);
    let mut r = Row::new(
        "scale-10000-over-floor",
        &format!(
            "10,000 services all up over the floor ({})",
            fmt_ms(floor_med[k])
        ),
        "× floor",
        true,
    );
    ALL.iter()
        .for_each(|&s| r.set(s, up_med[k][s.idx()].zip(floor_med[k]).map(|(u, f)| u / f)));
    rows.push(r);
    let mut r = Row::new(
        "scale-10000-scanner-rss",
        "RSS of the scanner, 10,000 services",
        "kB",
        true,
    );
    ALL.iter().for_each(|&s| r.set(s, scanner_rss[k][s.idx()]));
    rows.push(r);
    let mut r = Row::new(
        "scale-10000-pss",
        "avg PSS per supervisor, 10,000 services",
        "kB",
        true,
    );
    ALL.iter().for_each(|&s| r.set(s, pss[k][s.idx()]));
    rows.push(r);
    // How flat: cost per service at 10,000 over cost per service at 100.
    let mut r = Row::new(
        "scale-growth",
        "first-to-last up per service, 10,000 over 100 (1 = linear)",
        "ratio",
        true,
    );
    ALL.iter().for_each(|&s| {
        r.set(
            s,
            spread_med[k][s.idx()]
                .zip(spread_med[0][s.idx()])
                .map(|(big, small)| big / small),
        )
    });
    rows.push(r);
    Ok(rows)
}
