//! softlimit [-acdflmoprst N|=] CHILD...: run CHILD with lowered soft
//! resource limits (`=` raises one to its hard limit).
#![forbid(unsafe_code)]

use std::ffi::OsString;

use upkeep::errors::usage;
use upkeep::getopt::{self, GetOpt, Next};
mod limits;
use upkeep::spawn;

const PROG: &str = "softlimit";
const USAGE: &str = "softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] \
[-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] \
[-t cpusecs] child";

const HELP: &str = "usage: softlimit [-acdflmoprst n] child [arg ...]
Run child with lowered soft resource limits (n bytes or a count; = for up
to the hard limit):
  -a address space  -c core size  -d data segment  -f file size
  -l locked memory  -m all memory limits  -o open files  -p processes
  -r resident set  -s stack  -t CPU seconds
Exit: child's status; 111 when child cannot start, 100 on usage.
See softlimit(8).
";

fn main() {
    if upkeep::help::answered("softlimit", HELP) {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut opts = GetOpt::new(&args, limits::SOFTLIMIT_OPTIONS);
    loop {
        match opts.next_opt() {
            Next::Opt(letter, Some(value)) => {
                let soft = limits::parse(&value).unwrap_or_else(|| usage(PROG, USAGE));
                // Limits take effect in command-line order, as in daemontools.
                for &resource in limits::resources(letter) {
                    if let Err(f) = limits::set_soft(resource, soft) {
                        upkeep::errors::exit(PROG, &f);
                    }
                }
            }
            Next::Done => break,
            other => {
                getopt::complain(PROG, &other);
                usage(PROG, USAGE);
            }
        }
    }
    let child = &args[opts.index()..];
    if child.is_empty() {
        usage(PROG, USAGE);
    }
    let failure = spawn::chain_load(child, None);
    upkeep::errors::exit(PROG, &failure)
}
