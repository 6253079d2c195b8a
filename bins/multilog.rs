//! multilog script: log stdin's lines to rotated directories, alerts and
//! status files (daemontools' actions `t s n ! + - e = dir`).
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(upkeep::multilog::run(&args));
}
