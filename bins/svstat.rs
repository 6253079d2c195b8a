//! svstat: daemontools' status lines; `-l` adds upkeep's state fields,
//! `--json` prints one JSON object per dir.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;

use upkeep::report;

enum Format {
    Daemontools,
    Long,
    Json,
}

fn main() {
    let mut format = Format::Daemontools;
    let mut dirs: Vec<String> = Vec::new();
    let mut options_done = false;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--" if !options_done => options_done = true,
            "-l" if !options_done => format = Format::Long,
            "--json" if !options_done => format = Format::Json,
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
