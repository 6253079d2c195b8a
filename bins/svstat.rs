//! svstat: daemontools' status lines; `-l` adds upkeep's state fields,
//! `--json` prints one JSON object per dir.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

use upkeep::report;

#[path = "svstat/prom.rs"]
mod prom;

const HELP: &str = "\
usage: svstat [-l | --json | --prom] DIR...

Prints one line per service dir, as daemontools' svstat does:
  DIR: up (pid N) S seconds[, normally down][, paused][, want down]
  DIR: down S seconds[, normally up][, want up]
  DIR: supervise not running
S is the time since run last started or exited. Always exits 0.

  -l      adds upkeep's state: `; state STATE, last exit CODE, restarts N`, then
          `backoff ...` while a crash loop is throttled and `check RESULT (N failures)`
          when DIR/check exists. STATE is one of down, starting, up, ready, stopping,
          finishing, backoff.
  --json  one JSON object per dir: supervise, up, pid, seconds, normally_up, paused,
          want, state, ready, last_exit, restarts, fast_failures, check, check_failures,
          next_start_in.
  --prom  Prometheus text (format 0.0.4) for node_exporter's textfile collector:
          upkeep_service_{supervised,up,ready,want_up,normally_up,state_seconds,state,
          restarts_total,last_exit_code,last_exit_signal,check_ok,check_failures,
          backoff_failures,backoff_next_start_seconds}, labelled service=\"DIR\".

Readiness: a service is ready when run writes a newline on DIR/notification-fd, or,
without one, when DIR/check first passes, or, with neither, as soon as run is started.
Health checks: DIR/check PID runs every check-interval (10s) while up, killed after
check-timeout (10s); check-failures (3) failures in a row restart the service.
Last exit is the exit code, signal:NAME, or unknown for a run adopted after its
supervisor was killed.
";

enum Format {
    Daemontools,
    Long,
    Json,
    Prom,
}

fn main() {
    if upkeep::help::answered("svstat", HELP) {
        return;
    }
    let mut format = Format::Daemontools;
    let mut dirs: Vec<String> = Vec::new();
    let mut options_done = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--" if !options_done => options_done = true,
            "-l" if !options_done => format = Format::Long,
            "--json" if !options_done => format = Format::Json,
            "--prom" if !options_done => format = Format::Prom,
            "--help" if !options_done => {
                print!("{HELP}");
                return;
            }
            _ => {
                options_done = true;
                dirs.push(a);
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Format::Prom = format {
        let reports: Vec<(String, report::Report)> = dirs
            .iter()
            .map(|d| (d.clone(), report::inspect(Path::new(d))))
            .collect();
        if out.write_all(prom::render(&reports).as_bytes()).is_err() {
            std::process::exit(upkeep::errors::EXIT_TEMPORARY);
        }
        return;
    }
    for dir in &dirs {
        let r = report::inspect(Path::new(dir));
        let line = match format {
            Format::Daemontools => format!("{dir}: {}", r.daemontools_text()),
            Format::Long => format!("{dir}: {}", r.long_text()),
            Format::Json => r.json(dir),
            // Written whole above.
            Format::Prom => continue,
        };
        if writeln!(out, "{line}").is_err() {
            std::process::exit(upkeep::errors::EXIT_TEMPORARY);
        }
    }
    // daemontools' svstat always exits 0.
}
