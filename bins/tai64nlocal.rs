//! tai64nlocal: turn the TAI64N labels at the start of lines into local time.
#![forbid(unsafe_code)]

use upkeep::errors::{die, io_phrase, EXIT_TEMPORARY};

use upkeep::tai64filter::{localize, FilterError};

fn main() {
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
