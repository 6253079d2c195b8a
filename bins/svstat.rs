//! svstat: daemontools' status lines; `-l` adds upkeep's state fields,
//! `--json` prints one JSON object per dir.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

use upkeep::report;

const HELP: &str = "\
usage: svstat [-l | --json] DIR...

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
    for dir in &dirs {
        let r = report::inspect(Path::new(dir));
        let line = match format {
            Format::Daemontools => format!("{dir}: {}", r.daemontools_text()),
            Format::Long => format!("{dir}: {}", r.long_text()),
            Format::Json => r.json(dir),
        };
        if writeln!(out, "{line}").is_err() {
            std::process::exit(upkeep::errors::EXIT_TEMPORARY);
        }
    }
    // daemontools' svstat always exits 0.
}
