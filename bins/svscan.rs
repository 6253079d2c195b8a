//! svscan [DIR]: one supervise per service dir (and per DIR/S/log, with a
//! pipe between them); rescans on inotify events, SIGHUP and SIGALRM only.
#![forbid(unsafe_code)]

const HELP: &str = "usage: svscan [dir]
Start a supervise for every subdirectory of dir (default .) that has a
run file, and one for its log/ with a pipe between them; watch dir for
new and removed services (inotify; SIGHUP or SIGALRM rescans).  SIGTERM
or SIGINT stops every service, loggers last, and exits 0.
Exit: 0 after SIGTERM/SIGINT; 111 when dir cannot be used.
See svscan(8).
";

fn main() {
    if upkeep::help::answered("svscan", HELP) {
        return;
    }
    // Bytes, not UTF-8: a scan dir may have any name.
    let dir = std::env::args_os().nth(1).unwrap_or_else(|| ".".into());
    std::process::exit(upkeep::scanner::run(std::path::Path::new(&dir)));
}
