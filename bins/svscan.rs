//! svscan [DIR]: one supervise per service dir (and per DIR/S/log, with a
//! pipe between them); rescans on inotify events, SIGHUP and SIGALRM only.
#![forbid(unsafe_code)]

fn main() {
    // Bytes, not UTF-8: a scan dir may have any name.
    let dir = std::env::args_os().nth(1).unwrap_or_else(|| ".".into());
    std::process::exit(upkeep::scanner::run(std::path::Path::new(&dir)));
}
