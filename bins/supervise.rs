//! supervise DIR: run DIR/run forever, obey supervise/control, keep
//! supervise/status (daemontools-compatible) and supervise/state.
#![forbid(unsafe_code)]

const HELP: &str = "usage: supervise dir
Run dir/run for ever, restarting it when it exits, controlled through
dir/supervise/control (svc) and reporting through dir/supervise/status
(svstat, daemontools' format).  Optional files in dir: down, finish,
check, backoff, timeout-kill, timeout-finish, timeout-ready, down-signal,
notification-fd, check-interval, check-timeout, check-failures.
Exit: 0 after svc -x once the service is down; 111 when supervise/ cannot
be set up or another supervise runs on dir, 100 on usage.
See supervise(8).
";

fn main() {
    if upkeep::help::answered("supervise", HELP) {
        return;
    }
    // Bytes, not UTF-8: a service dir may have any name.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() != 2 {
        upkeep::errors::usage("supervise", "supervise dir");
    }
    std::process::exit(upkeep::supervisor::run(std::path::Path::new(&args[1])));
}
