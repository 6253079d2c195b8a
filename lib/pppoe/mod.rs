//! What pppoe-connect, pppoe-start and pppoe-stop share (doc/DESIGN.md,
//! pppoe-connect, pppoe-stop, pppoe-start): the config file, pppd's lock,
//! and the loop's pid and state files. The loop owns a lock on PIDFILE for
//! its whole life, and the stop acts on that lock, so a stop ends the loop
//! whatever moment it lands in.

pub mod config;
mod pppdargs;
pub mod pppdlock;
mod shellvars;

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// What `PIDFILE.state` says.
pub const STATE_RUNNING: &str = "running";
pub const STATE_WAITING: &str = "waiting";
pub const STATE_HOOK: &str = "hook";
pub const STATE_STOPPING: &str = "stopping";

/// How long to wait for a process to die after SIGKILL before giving up.
pub const KILL_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A child we started and watch through a pidfd.
pub struct Proc {
    pub pid: Pid,
    pub pidfd: OwnedFd,
}

impl Proc {
    /// Reap the (exited) child: its exit code, or 128 + signal.
    pub fn reap(&self) -> Result<i32, Errno> {
        loop {
            match waitpid(self.pid, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

use crate::errors::Fatal;

/// `what: phrase` for an errno, as a temporary failure.
pub fn sys_fatal(what: impl std::fmt::Display, e: Errno) -> Fatal {
    Fatal::temporary(format!("{what}: {}", crate::errors::phrase(e)))
}

/// `what: phrase` for an io::Error, as a temporary failure.
pub fn io_fatal(what: impl std::fmt::Display, e: &std::io::Error) -> Fatal {
    Fatal::temporary(format!("{what}: {}", crate::errors::io_phrase(e)))
}

/// The "already running" refusal, naming the holder's pid once it is known
/// (a holder that just took the lock gets a moment to write it).
pub fn already_running(pidfile: &std::path::Path) -> Fatal {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if let Ok(Some(h)) = crate::pidlock::holder(pidfile) {
            return Fatal::temporary(format!("already running as pid {}", h.pid));
        }
        let now = Instant::now();
        if now >= deadline || !pidfile.exists() {
            return Fatal::temporary("already running");
        }
        let _ =
            crate::pidlock::wait_change(pidfile, (deadline - now).min(Duration::from_millis(20)));
    }
}

/// Parse a clap command line with daemontools' exit codes. Help, version
/// or a usage error are printed here; Err is then the code to exit with:
/// 0 after help and version, 100 on a usage error (clap would use 2).
pub fn parse_cli<T: clap::Parser>() -> Result<T, i32> {
    T::try_parse().map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            crate::errors::EXIT_PERMANENT
        } else {
            0
        }
    })
}
