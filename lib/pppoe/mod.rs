//! What pppoe-connect, pppoe-start and pppoe-stop share (doc/DESIGN.md,
//! pppoe-connect, pppoe-stop, pppoe-start): the config file, pppd's lock,
//! and the loop's pid and state files. The loop owns a lock on PIDFILE for
//! its whole life, and the stop acts on that lock, so a stop ends the loop
//! whatever moment it lands in.

pub mod config;
pub mod loopfiles;
mod pppdargs;
pub mod pppdlock;
mod shellvars;

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

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
