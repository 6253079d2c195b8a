//! pgrphack CHILD...: run CHILD in a new session and process group of its
//! own.
#![forbid(unsafe_code)]

use std::ffi::OsString;

use upkeep::errors::usage;
use upkeep::spawn;

const PROG: &str = "pgrphack";

const HELP: &str = "usage: pgrphack child [arg ...]
Run child in a new session and process group.
Exit: child's status; 111 when child cannot start, 100 on usage.
See pgrphack(8).
";

fn main() {
    if upkeep::help::answered("pgrphack", HELP) {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 2 {
        usage(PROG, "pgrphack child");
    }
    // A failure (already a group leader) is ignored, as in daemontools.
    let _ = nix::unistd::setsid();
    let failure = spawn::chain_load(&args[1..], None);
    upkeep::errors::exit(PROG, &failure)
}
