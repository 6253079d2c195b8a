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

/// How long to wait for a process to die after SIGKILL before giving up.
pub const KILL_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
