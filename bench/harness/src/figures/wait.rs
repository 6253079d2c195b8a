//! Figure 2: a stop or start command that returns when the state is
//! reached — its whole round trip, as a user's script would see it.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use super::{ms_since, start_supervised};
use crate::report::{percentile, Csv, Row};
use crate::systems::{status_pid, write_run, Sys, ALL, SLEEPER};
use crate::{procs, sleep_until, Ctx};

const MIN_UP: Duration = Duration::from_millis(1200);

/// Runs the command that stops (`up == false`) or starts `dir` and returns
/// once the system says the state is reached. daemontools' svc cannot wait,
/// so it is svc then svstat run again and again until it says so.
fn command(ctx: &Ctx, sys: Sys, dir: &Path, up: bool) -> bool {
    let d = &*dir.to_string_lossy();
    match sys {
        Sys::Daemontools => {
            if !procs::run_quiet(&["/usr/bin/svc", if up { "-u" } else { "-d" }, d]) {
                return false;
            }
            let want = if up { ": up" } else { ": down" };
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end {
                if procs::run_output(&["/usr/bin/svstat", d]).is_some_and(|o| o.contains(want)) {
                    return true;
                }
            }
            false
        }
        Sys::Runit => {
            procs::run_quiet(&["/usr/bin/sv", "-w", "5", if up { "up" } else { "down" }, d])
        }
        Sys::S6 => procs::run_quiet(&[
            "/usr/bin/s6-svc",
            "-T",
            "5000",
            if up { "-wu" } else { "-wd" },
            if up { "-u" } else { "-d" },
            d,
        ]),
        Sys::Upkeep => {
            let svc = ctx.bins.upkeep_prog("svc");
            procs::run_quiet(&[
                &svc,
                if up { "-u" } else { "-d" },
                if up { "-wu" } else { "-wd" },
                "-T",
                "5s",
                d,
            ])
        }
    }
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let reps = if ctx.quick { 15 } else { 50 };
    let base = ctx.dir("wait")?;
    let mut svcs: Vec<(Sys, PathBuf, Child, Instant)> = Vec::new();
    for sys in ALL {
        let dir = base.join(sys.name());
        write_run(&dir, SLEEPER)?;
        let (child, _) = start_supervised(ctx, sys, &dir, &format!("wait-{}", sys.name()))?;
        svcs.push((sys, dir, child, Instant::now()));
    }
    let mut down: [Vec<f64>; 4] = Default::default();
    let mut up: [Vec<f64>; 4] = Default::default();
    let mut failures = [0usize; 4];
    let mut lagged = [0usize; 4];
    let mut csv = Csv::new(
        "wait",
        "system,rep,command,round_trip_ms,command_ok,status_agreed_after_ms",
    );
    for rep in 0..reps {
        for (sys, dir, _, up_since) in svcs.iter_mut() {
            let n = sys.idx();
            // A start right after a short run may be held back a second by
            // any of them; every run here has been up longer than that.
            sleep_until(*up_since + MIN_UP);
            for up_cmd in [false, true] {
                let t0 = Instant::now();
                let ok = command(ctx, *sys, dir, up_cmd);
                let t = ms_since(t0);
                // The command said done; the status file may follow a little
                // later (s6-supervise announces the event first). How much later:
                let t1 = Instant::now();
                let agrees = || status_pid(*sys, dir).is_some_and(|p| (p != 0) == up_cmd);
                let agreed = crate::wait_for(Duration::from_secs(2), agrees);
                let lag = ms_since(t1);
                if up_cmd {
                    *up_since = Instant::now();
                }
                let what = if up_cmd { "up" } else { "down" };
                csv.row(&[
                    &sys.name(),
                    &rep,
                    &what,
                    &format!("{t:.3}"),
                    &ok,
                    &if agreed {
                        format!("{lag:.3}")
                    } else {
                        "never".into()
                    },
                ]);
                if ok && agreed {
                    if up_cmd {
                        up[n].push(t)
                    } else {
                        down[n].push(t)
                    }
                    if lag >= 1.0 {
                        lagged[n] += 1;
                    }
                } else {
                    failures[n] += 1;
                    crate::wait_for(Duration::from_secs(10), || {
                        status_pid(*sys, dir).unwrap_or(0) != 0
                    });
                }
            }
        }
    }
    for (_, _, child, _) in &svcs {
        procs::kill_tree(child.id() as i32);
    }
    csv.write(&ctx.results)?;
    ctx.note(format!(
        "Wait for down / up: one service per system, up ≥ 1.2 s before each stop; {reps} stop+start pairs per system, interleaved. Commands: upkeep `svc -d -wd` / `svc -u -wu`; runit `sv -w 5 down` / `sv -w 5 up`; s6 `s6-svc -wd -d` / `s6-svc -wu -u`; daemontools has no wait, so `svc -d` (`-u`) then `svstat` run back to back until it prints down (up) — the best a script can do. Time: the whole command (process start to exit); a sample counts only if the command succeeded and the status agrees within 2 s after it returned (`status_agreed_after_ms` in the CSV; status files lagging the command by ≥ 1 ms: {}). Failed samples: {}.",
        ALL.iter()
            .map(|s| format!("{} {}", s.name(), lagged[s.idx()]))
            .collect::<Vec<_>>()
            .join(", "),
        ALL.iter()
            .map(|s| format!("{} {}", s.name(), failures[s.idx()]))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut rows = Vec::new();
    for (samples, what, id) in [
        (&down, "stop and wait for down", "wait-down"),
        (&up, "start and wait for up", "wait-up"),
    ] {
        for p in [50.0, 90.0] {
            let mut r = Row::new(&format!("{id}-p{p}"), &format!("{what}, p{p}"), "ms", true);
            for sys in ALL {
                r.set(sys, percentile(&samples[sys.idx()], p));
            }
            rows.push(r);
        }
    }
    Ok(rows)
}
