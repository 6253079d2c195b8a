//! envdir DIR CHILD...: run CHILD with the environment changed by the
//! files in DIR (see envfiles.rs).
#![forbid(unsafe_code)]

use std::ffi::OsString;

use upkeep::errors::EXIT_TEMPORARY;
use upkeep::{envmod, spawn};

mod envfiles;

const PROG: &str = "envdir";

const HELP: &str = "usage: envdir dir child [arg ...]
Run child with environment variables from the files in dir: each file's
first line (NUL as newline, trailing blanks removed) becomes the variable
named after the file; an empty file removes the variable.
Exit: child's status; 111 when dir cannot be read or child cannot start,
100 on usage.  See envdir(8).
";

fn main() {
    if upkeep::help::answered("envdir", HELP) {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 3 {
        // daemontools' envdir exits 111, not 100, on a usage error.
        upkeep::errors::say("envdir: usage: envdir dir child");
        std::process::exit(EXIT_TEMPORARY);
    }
    let changes = envfiles::read(&args[1]).unwrap_or_else(|f| upkeep::errors::exit(PROG, &f));
    let env = changes.apply(envmod::current());
    let failure = spawn::chain_load(&args[2..], Some(env));
    upkeep::errors::exit(PROG, &failure)
}
