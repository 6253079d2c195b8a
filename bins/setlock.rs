//! setlock [-nNxX] FILE CHILD...: run CHILD holding an exclusive flock on
//! FILE (created if needed, never truncated). -n: fail instead of waiting;
//! -x: exit 0 quietly if the file cannot be opened or locked.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::path::Path;

use upkeep::errors::{die, io_phrase, phrase, usage, EXIT_TEMPORARY};
use upkeep::getopt::{self, GetOpt, Next};
use upkeep::{lock, spawn};

const PROG: &str = "setlock";
const USAGE: &str = "setlock [ -nNxX ] file program [ arg ... ]";

const HELP: &str = "usage: setlock [-nNxX] file program [arg ...]
Run program holding an exclusive lock on file (created, never truncated).
  -n  do not wait for the lock: fail at once if it is held
  -N  wait for the lock (default)
  -x  exit 0 instead of 111 when the lock cannot be taken
  -X  exit 111 when the lock cannot be taken (default)
Exit: program's status; 111 when file cannot be locked, 100 on usage.
See setlock(8).
";

fn main() {
    if upkeep::help::answered("setlock", HELP) {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut no_delay = false;
    let mut quiet = false;
    let mut opts = GetOpt::new(&args, "nNxX");
    loop {
        match opts.next_opt() {
            Next::Opt(b'n', _) => no_delay = true,
            Next::Opt(b'N', _) => no_delay = false,
            Next::Opt(b'x', _) => quiet = true,
            Next::Opt(b'X', _) => quiet = false,
            Next::Done => break,
            other => {
                getopt::complain(PROG, &other);
                usage(PROG, USAGE);
            }
        }
    }
    let rest = &args[opts.index()..];
    if rest.len() < 2 {
        usage(PROG, USAGE);
    }
    let file = &rest[0];
    let shown = file.to_string_lossy();
    let fail = |what: &str, why: String| -> ! {
        if quiet {
            std::process::exit(0);
        }
        die(PROG, EXIT_TEMPORARY, format_args!("{what} {shown}: {why}"))
    };
    let f = lock::open_inheritable(Path::new(file))
        .unwrap_or_else(|e| fail("unable to open", io_phrase(&e)));
    let held = if no_delay {
        lock::try_exclusive(f)
    } else {
        lock::exclusive(f)
    };
    // Kept alive until exec: the child inherits the descriptor and the lock.
    let _held = held.unwrap_or_else(|e| fail("unable to lock", phrase(e)));
    let failure = spawn::chain_load(&rest[1..], None);
    upkeep::errors::exit(PROG, &failure)
}
