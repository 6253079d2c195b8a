//! `--help` and `--version` for the programs that parse argv as
//! daemontools does: only as the one first argument, so every other argv
//! keeps daemontools' meaning (and its usage line and exit code 100). The
//! programs that parse with clap get daemontools' exit codes here too.

use std::ffi::OsStr;
use std::io::Write;

/// The package's version, as `--version` prints it.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// When the first argument is `--help` or `--version`, print the answer on
/// stdout (one write) and return true: the caller then exits 0.
pub fn answered(prog: &str, help: &str) -> bool {
    answer(prog, help, std::env::args_os().nth(1).as_deref())
}

fn answer(prog: &str, help: &str, first: Option<&OsStr>) -> bool {
    let text = match first.and_then(OsStr::to_str) {
        Some("--help") => format!("{}\n", help.trim_end()),
        Some("--version") => format!("{prog} (upkeep) {VERSION}\n"),
        _ => return false,
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    true
}

/// Parse a clap command line with daemontools' exit codes. Help, version
/// or a usage error are printed here; Err is then the code to exit with:
/// 0 after help and version, 100 on a usage error (clap would use 2).
pub fn parse_clap<T: clap::Parser>() -> Result<T, i32> {
    T::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            crate::errors::EXIT_PERMANENT
        } else {
            0
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_first_argument_counts() {
        assert!(answer("svc", "usage", Some(OsStr::new("--help"))));
        assert!(answer("svc", "usage", Some(OsStr::new("--version"))));
        assert!(!answer("svc", "usage", Some(OsStr::new("-h"))));
        assert!(!answer("svc", "usage", Some(OsStr::new("--helpme"))));
        assert!(!answer("svc", "usage", None));
    }
}
