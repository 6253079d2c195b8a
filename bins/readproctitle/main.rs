//! readproctitle ARG... TITLE: read stdin for ever and show its last bytes
//! in place of TITLE in the process's command line, where `ps` shows them
//! (svscanboot sends svscan's error output here). Bad arguments: exit 100
//! silently; end of input: exit 0; a read error: exit 111.
#![forbid(unsafe_code)]

mod title;

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use title::{Scroller, Title};
use upkeep::errors::{io_phrase, warn, EXIT_PERMANENT, EXIT_TEMPORARY};

const PROG: &str = "readproctitle";
/// Shorter titles are refused, as in daemontools.
const MIN_TITLE: usize = 5;

const HELP: &str = "usage: readproctitle arg ... title
Read stdin for ever and keep its last bytes in place of title, so that
ps shows them (svscanboot's error output).
Exit: 0 at end of input, 100 on usage.  See readproctitle(8).
";

fn main() {
    if upkeep::help::answered("readproctitle", HELP) {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(last) = args.get(1..).and_then(|a| a.last()) else {
        std::process::exit(EXIT_PERMANENT);
    };
    if last.len() < MIN_TITLE {
        std::process::exit(EXIT_PERMANENT);
    }
    let mut scroller = Scroller::new(last.len());
    // Without /proc the title cannot be shown; keep draining the input so
    // the writer is never blocked, and say so once.
    let title = match Title::last_argument(last.as_bytes()) {
        Ok(t) => Some(t),
        Err(e) => {
            warn(
                PROG,
                format_args!("unable to locate the title: {}", io_phrase(&e)),
            );
            None
        }
    };
    let show = |s: &Scroller| {
        if let Some(t) = &title {
            let _ = t.set(s.bytes());
        }
    };
    show(&scroller);
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 4096];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => std::process::exit(0),
            Ok(n) => {
                scroller.push(&buf[..n]);
                show(&scroller);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => std::process::exit(EXIT_TEMPORARY),
        }
    }
}
