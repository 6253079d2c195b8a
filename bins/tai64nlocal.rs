//! tai64nlocal: turn the TAI64N labels at the start of lines into local time.
#![forbid(unsafe_code)]

use upkeep::errors::{die, io_phrase, EXIT_TEMPORARY};

use upkeep::tai64filter::{localize, FilterError};

const HELP: &str = "usage: tai64nlocal
Copy stdin to stdout, turning a leading @TAI64N timestamp into local time
(YYYY-MM-DD HH:MM:SS.NNNNNNNNN).
Exit: 0 at end of input; 111 on a read or write error.
See tai64nlocal(8).
";

fn main() {
    if upkeep::help::answered("tai64nlocal", HELP) {
        return;
    }
    // A closed reader ends us quietly, as it ends daemontools' tai64nlocal.
    upkeep::sys::default_signal(libc::SIGPIPE);
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    match localize(&mut input, &mut output) {
        Ok(()) => {}
        Err(FilterError::Read(e)) => die(
            "tai64nlocal",
            EXIT_TEMPORARY,
            format_args!("unable to read input: {}", io_phrase(&e)),
        ),
        Err(FilterError::Write(e)) => die(
            "tai64nlocal",
            EXIT_TEMPORARY,
            format_args!("unable to write output: {}", io_phrase(&e)),
        ),
    }
}
