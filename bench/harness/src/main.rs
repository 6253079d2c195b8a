//! upkeep-bench: upkeep against daemontools, runit and s6, side by side in one
//! run on tmpfs. Run through bench/run, which builds upkeep first.
//!
//!   upkeep-bench --root REPO [--quick] [--only FIGURE[,FIGURE...]]
//!
//! Prints the markdown table; writes bench/RESULTS.md (with --only:
//! bench/results/only-FIGURES.md instead), bench/results/*.csv (raw
//! samples) and bench/charts/*.svg (one bar chart per row).

mod figures;
mod procs;
mod report;
mod systems;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use report::Row;
use systems::Bins;

/// What every figure gets: where to work, which binaries, how hard to try.
pub struct Ctx {
    pub quick: bool,
    /// A tmpfs directory for every service dir and log of this run.
    pub work: PathBuf,
    pub bins: Bins,
    /// bench/results: the raw samples.
    pub results: PathBuf,
    /// How each figure was measured, for RESULTS.md.
    pub notes: Vec<String>,
}

impl Ctx {
    /// A new empty directory `work/name`.
    pub fn dir(&self, name: &str) -> Result<PathBuf, String> {
        let d = self.work.join(name);
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
        Ok(d)
    }

    /// Where a started program's output goes.
    pub fn log(&self, name: &str) -> PathBuf {
        self.work.join("logs").join(format!("{name}.log"))
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }
}

/// Sleeps until `t` (no-op if it has passed).
pub fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Polls `cond` every few ms until it holds or `limit` runs out (setup
/// only: measured intervals use inotify, never this).
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct Args {
    quick: bool,
    root: PathBuf,
    only: Option<Vec<String>>,
}

fn parse_args() -> Result<Args, String> {
    let mut quick = false;
    let mut root = None;
    let mut only = None;
    // Never std::env::args: it panics on an argument that is not UTF-8.
    let mut it = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().unwrap_or_default());
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--root" => root = it.next().map(PathBuf::from),
            "--only" => {
                only = it
                    .next()
                    .map(|s| s.split(',').map(str::to_string).collect())
            }
            _ => {
                return Err(format!(
                    "usage: upkeep-bench --root REPO [--quick] [--only {}]",
                    figures::ALL
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(",")
                ))
            }
        }
    }
    let root = root.ok_or("upkeep-bench: fatal: --root REPO is required")?;
    for o in only.iter().flatten() {
        if !figures::ALL.iter().any(|(n, _)| n == o) {
            return Err(format!("upkeep-bench: fatal: no figure {o}"));
        }
    }
    Ok(Args { quick, root, only })
}

/// A tmpfs of our own (root), else a directory in /dev/shm.
fn make_work() -> Result<(PathBuf, bool), String> {
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("upkeep-bench.{pid}"));
    fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let d = dir.to_string_lossy().into_owned();
    if procs::run_quiet(&[
        "/bin/mount",
        "-t",
        "tmpfs",
        "-o",
        "size=4g,mode=0755",
        "upkeep-bench",
        &d,
    ]) {
        return Ok((dir, true));
    }
    let _ = fs::remove_dir(&dir);
    let shm = PathBuf::from(format!("/dev/shm/upkeep-bench.{pid}"));
    fs::create_dir_all(&shm).map_err(|e| format!("mkdir {}: {e}", shm.display()))?;
    Ok((shm, false))
}

fn cleanup(work: &Path, mounted: bool) {
    // Anything still running that we started (or adopted) goes first.
    let me = std::process::id() as i32;
    for child in procs::children(me) {
        procs::kill_tree(child);
    }
    procs::reap();
    if mounted {
        let w = work.to_string_lossy().into_owned();
        procs::run_quiet(&["/bin/umount", &w]);
        let _ = fs::remove_dir(work);
    } else {
        let _ = fs::remove_dir_all(work);
    }
}

fn machine_line(cmd: &[&str]) -> String {
    procs::run_output(cmd)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    let info = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{model}, {cores} cores")
}

/// The 1-minute load average: the machine may be shared, and says so here.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

struct RunInfo<'a> {
    quick: bool,
    only: Option<Vec<String>>,
    work_kind: &'a str,
    load_before: String,
    load_after: String,
    seconds: f64,
}

fn results_md(root: &Path, run: &RunInfo, rows: &[Row], ctx: &Ctx, failed: &[String]) -> String {
    let date = machine_line(&["/bin/date", "-u", "+%Y-%m-%d %H:%M UTC"]);
    let kernel = machine_line(&["/bin/uname", "-srm"]);
    let versions = machine_line(&[
        "/usr/bin/dpkg-query",
        "-W",
        "-f",
        "${Package} ${Version}, ",
        "daemontools",
        "runit",
        "s6",
    ]);
    let commit = procs::run_output(&[
        "/usr/bin/git",
        "-C",
        &root.to_string_lossy(),
        "rev-parse",
        "--short",
        "HEAD",
    ])
    .map(|s| s.trim().to_string())
    .unwrap_or_default();
    let mut md = String::new();
    md.push_str("# Benchmarks: upkeep against daemontools, runit and s6\n\n");
    if let Some(only) = &run.only {
        md.push_str(&format!(
            "**A partial{} run (`--only {}`): only these figures; the full table is bench/RESULTS.md.**\n\n",
            if run.quick { ", quick (fewer repetitions)" } else { "" },
            only.join(",")
        ));
    }
    md.push_str(&format!(
        "Written by `bench/run{}{}`. Date: {date}. Kernel: {kernel}. CPU: {}. Peers: {}. upkeep: commit {commit} (dist build). Services and logs on {}. One run ({:.0} s), same machine, same service scripts for every system. Load average (1 min) {} at the start, {} at the end: other work shared the machine, so absolute figures are noisy; the ratios within this one run are what count.\n\n",
        if run.quick { " --quick" } else { "" },
        run.only
            .as_ref()
            .map(|o| format!(" --only {}", o.join(",")))
            .unwrap_or_default(),
        cpu_model(),
        versions.trim_end_matches([',', ' ']),
        run.work_kind,
        run.seconds,
        run.load_before,
        run.load_after,
    ));
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let busiest = [&run.load_before, &run.load_after]
        .iter()
        .filter_map(|l| l.parse::<f64>().ok())
        .fold(0.0, f64::max);
    if busiest > cores {
        md.push_str(&format!(
            "**Under load: the 1-minute load average reached {busiest:.0} on {cores:.0} cores during this run. Figures are noisy; do not quote them as upkeep's.**\n\n"
        ));
    }
    md.push_str("↓ lower is better, ↑ higher is better. The last column is upkeep's figure divided by the best peer's.\n\n");
    md.push_str(&report::table(rows));
    let behind: Vec<&Row> = rows
        .iter()
        .filter(|r| r.ratio_cell().contains("behind") || r.goal_cell().contains("missed"))
        .collect();
    md.push_str("\n## Where upkeep is not ahead\n\n");
    if behind.is_empty() {
        md.push_str("Nowhere in this run.\n");
    } else {
        for r in behind {
            let goal = r.goal_cell();
            let goal = if goal.is_empty() {
                goal
            } else {
                format!("; goal {goal}")
            };
            md.push_str(&format!("- {}: {}{goal}\n", r.label, r.ratio_cell()));
        }
    }
    if !failed.is_empty() {
        md.push_str("\n## Figures that failed in this run\n\n");
        for f in failed {
            md.push_str(&format!("- {f}\n"));
        }
    }
    md.push_str("\n## How each figure is measured\n\n");
    for n in &ctx.notes {
        md.push_str(&format!("- {n}\n"));
    }
    // A partial run's file is in bench/results/, beside the CSVs.
    let up = if run.only.is_some() { "../" } else { "" };
    md.push_str("\nRaw samples: `bench/results/*.csv`. Charts: ");
    let charts: Vec<String> = rows
        .iter()
        .map(|r| format!("[{}]({up}charts/{}.svg)", r.id, r.id))
        .collect();
    md.push_str(&charts.join(", "));
    md.push_str(".\n");
    md
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(100);
        }
    };
    // Services orphaned when we kill a supervisor come to us, so nothing
    // outlives the run and every figure starts on a quiet machine.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("upkeep-bench: warning: cannot become a subreaper: {e}");
    }
    let (work, mounted) = match make_work() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("upkeep-bench: fatal: {e}");
            return ExitCode::from(111);
        }
    };
    let work_kind = if mounted {
        "a tmpfs mounted for the run"
    } else {
        "/dev/shm (tmpfs)"
    };
    let bench = args.root.join("bench");
    let mut ctx = Ctx {
        quick: args.quick,
        work: work.clone(),
        bins: Bins {
            upkeep: args.root.join("target/dist"),
        },
        results: bench.join("results"),
        notes: Vec::new(),
    };
    let _ = fs::create_dir_all(work.join("logs"));
    eprintln!(
        "upkeep-bench: {} run in {} ({work_kind})",
        if args.quick { "quick" } else { "full" },
        work.display()
    );
    let started = Instant::now();
    let load_before = load_average();
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for (name, fig) in figures::ALL {
        if let Some(only) = &args.only {
            if !only.iter().any(|o| o == name) {
                continue;
            }
        }
        let t = Instant::now();
        eprintln!("upkeep-bench: {name} ...");
        match fig(&mut ctx) {
            Ok(mut r) => rows.append(&mut r),
            Err(e) => {
                eprintln!("upkeep-bench: warning: {name} failed: {e}");
                failed.push(format!("{name}: {e}"));
            }
        }
        eprintln!(
            "upkeep-bench: {name} took {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    cleanup(&work, mounted);
    let table = report::table(&rows);
    println!("{table}");
    let charts = bench.join("charts");
    let _ = fs::create_dir_all(&charts);
    for r in &rows {
        let p = charts.join(format!("{}.svg", r.id));
        if let Err(e) = fs::write(&p, report::svg(r)) {
            eprintln!("upkeep-bench: warning: write {}: {e}", p.display());
        }
    }
    let run = RunInfo {
        quick: args.quick,
        only: args.only.clone(),
        work_kind,
        load_before,
        load_after: load_average(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let md = results_md(&args.root, &run, &rows, &ctx, &failed);
    // A partial run never overwrites the full table.
    let p = match &args.only {
        None => bench.join("RESULTS.md"),
        Some(only) => bench
            .join("results")
            .join(format!("only-{}.md", only.join("-"))),
    };
    if let Err(e) = fs::write(&p, md) {
        eprintln!("upkeep-bench: fatal: write {}: {e}", p.display());
        return ExitCode::from(111);
    }
    eprintln!(
        "upkeep-bench: done in {:.0} s; wrote {}, bench/results/*.csv, bench/charts/*.svg",
        started.elapsed().as_secs_f64(),
        p.display()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(111)
    }
}
