//! svstat: daemontools' status lines; `-l` adds upkeep's state fields,
//! `--json` prints one JSON object per dir.
#![forbid(unsafe_code)]

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

mod prom;
mod report;

const HELP: &str = "\
usage: svstat [-l | --json | --prom] DIR...

Prints one line per service dir, as daemontools' svstat does:
  DIR: up (pid N) S seconds[, normally down][, paused][, want down]
  DIR: down S seconds[, normally up][, want up]
  DIR: supervise not running
S is the time since run last started or exited. Always exits 0.

  -l      adds upkeep's state: `; state STATE, last exit CODE, restarts N`, then
          `backoff ...` while a crash loop is throttled and `check RESULT (N failures)`
          when DIR/check exists, `refused: WHY` when supervise will not start run
          because something there could be changed by another user. STATE is one of
          down, starting, up, ready, stopping, finishing, backoff.
  --json  one JSON object per dir: supervise, up, pid, seconds, normally_up, paused,
          want, state, ready, last_exit, restarts, fast_failures, check, check_failures,
          next_start_in, refused.
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
    // Bytes, not UTF-8: a service dir may have any name.
    let mut dirs: Vec<std::ffi::OsString> = Vec::new();
    let mut options_done = false;
    for a in std::env::args_os().skip(1) {
        match a.as_encoded_bytes() {
            b"--" if !options_done => options_done = true,
            b"-l" if !options_done => format = Format::Long,
            b"--json" if !options_done => format = Format::Json,
            b"--prom" if !options_done => format = Format::Prom,
            b"--help" if !options_done => {
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
            // A label is UTF-8: the name is shown lossily there.
            .map(|d| {
                (
                    d.to_string_lossy().into_owned(),
                    report::inspect(Path::new(d)),
                )
            })
            .collect();
        if out.write_all(prom::render(&reports).as_bytes()).is_err() {
            std::process::exit(upkeep::errors::EXIT_TEMPORARY);
        }
        return;
    }
    for dir in &dirs {
        let r = report::inspect(Path::new(dir));
        // The dir's own bytes, as daemontools prints them; JSON must be
        // UTF-8, so there it is shown lossily.
        let mut line = dir.as_bytes().to_vec();
        match format {
            Format::Daemontools => line.extend(format!(": {}", r.daemontools_text()).bytes()),
            Format::Long => line.extend(format!(": {}", r.long_text()).bytes()),
            Format::Json => line = r.json(&dir.to_string_lossy()).into_bytes(),
            // Written whole above.
            Format::Prom => continue,
        }
        line.push(b'\n');
        if out.write_all(&line).is_err() {
            std::process::exit(upkeep::errors::EXIT_TEMPORARY);
        }
    }
    // daemontools' svstat always exits 0.
}
