//! envuidgid ACCOUNT CHILD...: run CHILD with $UID and $GID set to
//! ACCOUNT's, for programs that drop privileges themselves.
#![forbid(unsafe_code)]

use std::ffi::OsString;

use upkeep::envmod::{self, EnvChanges};
use upkeep::errors::{die, usage, EXIT_TEMPORARY};
use upkeep::{account, spawn};

const PROG: &str = "envuidgid";

const HELP: &str = "usage: envuidgid account child [arg ...]
Run child with $UID and $GID set to account's uid and gid.
Exit: child's status; 111 when the account is unknown or child cannot
start, 100 on usage.  See envuidgid(8).
";

fn main() {
    if upkeep::help::answered("envuidgid", HELP) {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 3 {
        usage(PROG, "envuidgid account child");
    }
    let name = args[1].to_string_lossy();
    let Some(acct) = account::lookup(&name) else {
        die(PROG, EXIT_TEMPORARY, format_args!("unknown account {name}"));
    };
    let mut changes = EnvChanges::new();
    changes.set(b"GID", acct.gid.as_raw().to_string().as_bytes());
    changes.set(b"UID", acct.uid.as_raw().to_string().as_bytes());
    let env = changes.apply(envmod::current());
    let failure = spawn::chain_load(&args[2..], Some(env));
    upkeep::errors::exit(PROG, &failure)
}
