//! svscanboot [DIR]: svscan DIR (default /service) with its output shown
//! by readproctitle; for starting upkeep at boot (see INSTALL).
#![forbid(unsafe_code)]

const HELP: &str = "usage: svscanboot [dir]
Run svscan dir (default /service) for boot, with a clean environment and
its error output shown by readproctitle in ps.  Passes TERM, INT and HUP
to svscan.
Exit: svscan's exit code; 111 on a system error.  See svscanboot(8).
";

fn main() {
    if upkeep::help::answered("svscanboot", HELP) {
        return;
    }
    let dir = std::env::args_os()
        .nth(1)
        .unwrap_or_else(|| "/service".into());
    std::process::exit(upkeep::boot::run(std::path::Path::new(&dir)));
}
