//! tai64n: put a TAI64N timestamp in front of every line of input.
#![forbid(unsafe_code)]

use upkeep::errors::{die, io_phrase, EXIT_TEMPORARY};
use upkeep::tai64::Tai64N;
use upkeep::tai64filter::{stamp_lines, FilterError};

const HELP: &str = "usage: tai64n
Copy stdin to stdout, putting an @TAI64N timestamp at the start of each
line.
Exit: 0 at end of input; 111 on a read or write error.  See tai64n(8).
";

fn main() {
    if upkeep::help::answered("tai64n", HELP) {
        return;
    }
    // A closed reader ends us quietly, as it ends daemontools' tai64n.
    upkeep::sys::default_signal(libc::SIGPIPE);
    let mut input = std::io::stdin().lock();
    let mut output = std::io::stdout().lock();
    match stamp_lines(&mut input, &mut output, Tai64N::now) {
        Ok(()) => {}
        Err(FilterError::Read(e)) => die(
            "tai64n",
            EXIT_TEMPORARY,
            format_args!("unable to read input: {}", io_phrase(&e)),
        ),
        Err(FilterError::Write(e)) => die(
            "tai64n",
            EXIT_TEMPORARY,
            format_args!("unable to write output: {}", io_phrase(&e)),
        ),
    }
}
