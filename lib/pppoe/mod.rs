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

use nix::errno::Errno;

use crate::errors::Fatal;

/// How long to wait for a process to die after SIGKILL before giving up.
pub const KILL_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// `what: phrase` for an errno, as a temporary failure.
pub fn sys_fatal(what: impl std::fmt::Display, e: Errno) -> Fatal {
    Fatal::temporary(format!("{what}: {}", crate::errors::phrase(e)))
}

/// `what: phrase` for an io::Error, as a temporary failure.
pub fn io_fatal(what: impl std::fmt::Display, e: &std::io::Error) -> Fatal {
    Fatal::temporary(format!("{what}: {}", crate::errors::io_phrase(e)))
}
