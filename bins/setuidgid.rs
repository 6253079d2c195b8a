//! setuidgid ACCOUNT CHILD...: run CHILD as ACCOUNT (its uid, its gid, and
//! no other groups).
#![forbid(unsafe_code)]

use std::ffi::OsString;

use upkeep::errors::{die, usage, EXIT_TEMPORARY};
use upkeep::{account, spawn};

const PROG: &str = "setuidgid";

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 3 {
        usage(PROG, "setuidgid account child");
    }
    let name = args[1].to_string_lossy();
    let Some(acct) = account::lookup(&name) else {
        die(PROG, EXIT_TEMPORARY, format_args!("unknown account {name}"));
    };
    if let Err(f) = account::become_account(acct) {
        die(PROG, EXIT_TEMPORARY, f);
    }
    spawn::exec_or_die(PROG, &args[2..], None)
}
