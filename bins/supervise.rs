//! supervise DIR: run DIR/run forever, obey supervise/control, keep
//! supervise/status (daemontools-compatible) and supervise/state.
#![forbid(unsafe_code)]

fn main() {
    // Bytes, not UTF-8: a service dir may have any name.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() != 2 {
        upkeep::errors::usage("supervise", "supervise dir");
    }
    std::process::exit(upkeep::supervisor::run(std::path::Path::new(&args[1])));
}
