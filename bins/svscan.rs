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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().map(String::as_str).unwrap_or(".");
    std::process::exit(upkeep::scanner::run(std::path::Path::new(dir)));
}
