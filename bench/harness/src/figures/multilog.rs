//! Figure 7: logger throughput, lines per second from a file on stdin into
//! a rotated log directory. daemontools and upkeep run multilog; runit's
//! svlogd and s6's s6-log stand in for their systems with the same actions
//! (TAI64N stamp, file size, file count).

use std::fs;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::report::{median, Csv, Row};
use crate::systems::{Sys, ALL};
use crate::{procs, Ctx};

struct Script {
    id: &'static str,
    label: &'static str,
    stamp: bool,
    size: u64,
    /// Files kept: enough that no line is rotated away (every line is counted).
    count: u32,
}

const SCRIPTS: [Script; 3] = [
    Script {
        id: "log-t-16m",
        label: "logger lines/s, TAI64N stamp, 16 MB files",
        stamp: true,
        size: 16_777_215,
        count: 1000,
    },
    Script {
        id: "log-t-100k",
        label: "logger lines/s, TAI64N stamp, 100 kB files (rotation)",
        stamp: true,
        size: 99_999,
        count: 5000,
    },
    Script {
        id: "log-16m",
        label: "logger lines/s, no stamp, 16 MB files",
        stamp: false,
        size: 16_777_215,
        count: 1000,
    },
];

fn argv(ctx: &Ctx, sys: Sys, s: &Script, dir: &str) -> Vec<String> {
    let size = format!("s{}", s.size);
    let mut v: Vec<String> = match sys {
        Sys::Daemontools => vec!["/usr/bin/multilog".into()],
        Sys::Upkeep => vec![ctx.bins.upkeep_prog("multilog")],
        Sys::S6 => vec!["/usr/bin/s6-log".into()],
        // svlogd takes size and count from DIR/config, written below.
        Sys::Runit => {
            let mut v = vec!["/usr/bin/svlogd".to_string()];
            if s.stamp {
                v.push("-t".into());
            }
            v.push(dir.into());
            return v;
        }
    };
    if s.stamp {
        v.push("t".into());
    }
    v.push(size);
    v.push(format!("n{}", s.count));
    v.push(dir.into());
    v
}

/// Lines in every file of a log directory (current and rotated).
fn lines_in(dir: &std::path::Path) -> usize {
    let mut n = 0;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "current" || name.starts_with('@') {
                if let Ok(b) = fs::read(e.path()) {
                    n += b.iter().filter(|&&c| c == b'\n').count();
                }
            }
        }
    }
    n
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let lines = if ctx.quick { 200_000 } else { 1_000_000 };
    let reps = if ctx.quick { 1 } else { 3 };
    let base = ctx.dir("logger")?;
    let input = base.join("input");
    let mut text = String::with_capacity(lines * 81);
    for i in 0..lines {
        text.push_str(&format!(
            "{i:08} daemon[1234]: request served in 12ms from 198.18.0.1 status=200 ok\n"
        ));
    }
    fs::write(&input, text).map_err(|e| format!("write {}: {e}", input.display()))?;
    let mut csv = Csv::new(
        "logger",
        "system,script,rep,lines,seconds,lines_per_s,lines_logged",
    );
    let mut rows = Vec::new();
    let mut lost = Vec::new();
    for s in &SCRIPTS {
        let mut rates: [Vec<f64>; 4] = Default::default();
        for rep in 0..reps {
            for sys in ALL {
                let dir = base.join(format!("log-{}", sys.name()));
                let _ = fs::remove_dir_all(&dir);
                fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
                if sys == Sys::Runit {
                    fs::write(dir.join("config"), format!("s{}\nn{}\n", s.size, s.count))
                        .map_err(|e| format!("write svlogd config: {e}"))?;
                }
                let a = argv(ctx, sys, s, &dir.to_string_lossy());
                let stdin = fs::File::open(&input).map_err(|e| format!("open input: {e}"))?;
                let t0 = Instant::now();
                let status = Command::new(&a[0])
                    .args(&a[1..])
                    .env_clear()
                    .env("PATH", procs::PATH)
                    .stdin(Stdio::from(stdin))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map_err(|e| format!("run {}: {e}", a[0]))?;
                let secs = t0.elapsed().as_secs_f64();
                let logged = lines_in(&dir);
                let rate = lines as f64 / secs;
                csv.row(&[
                    &sys.name(),
                    &s.id,
                    &rep,
                    &lines,
                    &format!("{secs:.4}"),
                    &format!("{rate:.0}"),
                    &logged,
                ]);
                if status.success() && logged == lines {
                    rates[sys.idx()].push(rate);
                } else {
                    lost.push(format!(
                        "{} {} rep {rep}: {status}, {logged} of {lines} lines logged",
                        sys.name(),
                        s.id
                    ));
                }
                let _ = fs::remove_dir_all(&dir);
            }
        }
        let mut r = Row::new(s.id, s.label, "lines/s", false);
        for sys in ALL {
            r.set(sys, median(&rates[sys.idx()]));
        }
        rows.push(r);
    }
    csv.write(&ctx.results)?;
    ctx.note(format!(
        "Logger throughput: {lines} lines of 80 bytes from a file on tmpfs into a log dir on tmpfs, time from start to exit; median of {reps}. daemontools and upkeep: `multilog [t] sSIZE nCOUNT DIR`; s6: `s6-log [t] sSIZE nCOUNT DIR`; runit: `svlogd [-t] DIR` with `sSIZE` and `nCOUNT` in DIR/config; COUNT 1000, and 5000 with 100 kB files so that no line is rotated away. A run counts only if every line reached the log.{}",
        if lost.is_empty() { String::new() } else { format!(" Runs that did not count: {}.", lost.join("; ")) }
    ));
    Ok(rows)
}
