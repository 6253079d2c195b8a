//! svscan [DIR]: one supervise per service dir (and per DIR/S/log, with a
//! pipe between them); rescans on inotify events, SIGHUP and SIGALRM only.
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().map(String::as_str).unwrap_or(".");
    std::process::exit(upkeep::scanner::run(std::path::Path::new(dir)));
}
