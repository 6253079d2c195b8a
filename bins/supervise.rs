//! supervise DIR: run DIR/run forever, obey supervise/control, keep
//! supervise/status (daemontools-compatible) and supervise/state.
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        upkeep::errors::usage("supervise", "supervise dir");
    }
    std::process::exit(upkeep::supervisor::run(&args[1]));
}
