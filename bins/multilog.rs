//! multilog script: log stdin's lines to rotated directories, alerts and
//! status files (daemontools' actions `t s n ! + - e = dir`).
#![forbid(unsafe_code)]

const HELP: &str = "usage: multilog script
Log lines from stdin to automatically rotated directories.  Script items:
t (TAI64N stamps), sN (file size), nN (files kept), !processor, +/-pattern
(select lines), e (to stderr), =file (status), ./dir or /dir (a log dir).
A write error (disk full) never drops a line: multilog stops reading and
retries every second.
Exit: 0 at end of input; 111 on a fatal system error, 100 on usage.
See multilog(8).
";

fn main() {
    if upkeep::help::answered("multilog", HELP) {
        return;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(upkeep::multilog::run(&args));
}
