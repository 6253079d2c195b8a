//! setuidgid ACCOUNT CHILD...: run CHILD as ACCOUNT (its uid, its gid, and
//! no other groups).
#![forbid(unsafe_code)]

use std::ffi::OsString;

use upkeep::errors::{die, usage, EXIT_TEMPORARY};
use upkeep::{account, spawn};

const PROG: &str = "setuidgid";

const HELP: &str = "usage: setuidgid account child [arg ...]
Run child as account: its uid and gid, and no other groups.
Exit: child's status; 111 when the account is unknown or child cannot
start, 100 on usage.  See setuidgid(8).
";

fn main() {
    if upkeep::help::answered("setuidgid", HELP) {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 3 {
        usage(PROG, "setuidgid account child");
    }
    let name = args[1].to_string_lossy();
    let Some(acct) = account::lookup(&name) else {
        die(PROG, EXIT_TEMPORARY, format_args!("unknown account {name}"));
    };
    if let Err(f) = account::become_account(acct) {
        upkeep::errors::exit(PROG, &f);
    }
    let failure = spawn::chain_load(&args[2..], None);
    upkeep::errors::exit(PROG, &failure)
}
