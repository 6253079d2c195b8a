//! svscanboot [DIR]: svscan DIR (default /service) with its output shown
//! by readproctitle; for starting upkeep at boot (see INSTALL).
#![forbid(unsafe_code)]

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .unwrap_or_else(|| "/service".into());
    std::process::exit(upkeep::boot::run(std::path::Path::new(&dir)));
}
