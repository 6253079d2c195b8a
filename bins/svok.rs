//! svok DIR: exit 0 if supervise is running on DIR, 100 if not.
#![forbid(unsafe_code)]

use std::path::Path;

use upkeep::control;
use upkeep::errors::{self, Fatal, EXIT_PERMANENT};

const HELP: &str = "usage: svok dir
Exit 0 if supervise is running on dir, 100 if not; 111 when dir cannot
be reached.  See svok(8).
";

fn main() {
    if upkeep::help::answered("svok", HELP) {
        return;
    }
    // Bytes, not UTF-8: a service dir may have any name.
    let Some(arg) = std::env::args_os().nth(1) else {
        errors::usage("svok", "svok dir")
    };
    let path = Path::new(&arg);
    let dir = path.display();
    if let Err(e) = control::check_dir(path) {
        errors::exit("svok", &Fatal::sys(format!("unable to chdir to {dir}"), e));
    }
    match control::supervise_running(path) {
        Ok(true) => std::process::exit(0),
        Ok(false) => std::process::exit(EXIT_PERMANENT),
        Err(e) => errors::exit(
            "svok",
            &Fatal::sys(format!("unable to open {dir}/supervise/ok"), e),
        ),
    }
}
