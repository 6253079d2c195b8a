//! fghack CHILD...: run CHILD and wait until it and everything it started
//! has finished, for daemons that insist on backgrounding themselves. The
//! child gets 31 copies of a pipe's write end; fghack waits for the last
//! copy to close, then reaps the child and exits with its exit code.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};

use upkeep::errors::{die, exit, usage, Fatal, EXIT_TEMPORARY};
use upkeep::spawn::Spawn;
use upkeep::sys;

const PROG: &str = "fghack";
/// Copies of the write end beyond the first, as daemontools makes: a daemon
/// that closes some descriptors still holds the others.
const EXTRA_COPIES: usize = 30;

const HELP: &str = "usage: fghack child [arg ...]
Run a daemon that backgrounds itself as if it stayed in the foreground:
wait until child and everything it started have finished.
Exit: child's exit code; 111 on a system error, 100 on usage.
See fghack(8).
";

fn main() {
    if upkeep::help::answered("fghack", HELP) {
        return;
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.len() < 2 {
        usage(PROG, "fghack child");
    }
    let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .unwrap_or_else(|e| exit(PROG, &Fatal::sys("unable to create pipe", e)));
    let mut copies = vec![write_end];
    for _ in 0..EXTRA_COPIES {
        // Lowest free numbers, as dup(2) in daemontools' child picks them.
        match sys::dup_above(copies[0].as_raw_fd(), 0) {
            Ok(fd) => copies.push(fd),
            Err(e) => exit(PROG, &Fatal::sys("unable to create pipe", e)),
        }
    }
    let mut spawn = Spawn::new(&args[1]).args(&args[2..]).keep_ignored();
    for fd in &copies {
        spawn = spawn.inherit(fd.as_raw_fd());
    }
    let child = spawn
        .spawn()
        .unwrap_or_else(|e| exit(PROG, &Fatal::sys("unable to fork", e)));
    drop(copies);
    if let Err(e) = child.exec {
        let _ = waitpid(child.pid, None);
        exit(
            PROG,
            &Fatal::sys(format!("unable to run {}", args[1].to_string_lossy()), e),
        );
    }
    let mut buf = [0u8; 64];
    loop {
        match nix::unistd::read(&read_end, &mut buf) {
            Ok(0) => break,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    let status = loop {
        match waitpid(child.pid, None) {
            Err(Errno::EINTR) => continue,
            Err(e) => exit(PROG, &Fatal::sys("wait failed", e)),
            Ok(s) => break s,
        }
    };
    match status {
        WaitStatus::Exited(_, code) => std::process::exit(code),
        _ => die(PROG, EXIT_TEMPORARY, "child crashed"),
    }
}
