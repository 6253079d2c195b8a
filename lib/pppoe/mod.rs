//! pppoe-connect / pppoe-stop / pppoe-start (doc/DESIGN.md, pppoe-connect, pppoe-stop, pppoe-start): a redial loop
//! around pppd that owns a lock for its whole life, and a stop that acts on
//! that lock, so a stop ends the loop whatever moment it lands in.

mod children;
pub mod config;
pub mod connect;
mod pppdargs;
mod pppdlock;
pub mod servicestop;
mod shellvars;
pub mod start;
pub mod stop;

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

/// What `PIDFILE.state` says.
const STATE_RUNNING: &str = "running";
const STATE_WAITING: &str = "waiting";
const STATE_HOOK: &str = "hook";
const STATE_STOPPING: &str = "stopping";

/// pppd exit codes that no redial can fix: options error, not root, no
/// kernel PPP support.
fn is_permanent(code: i32) -> bool {
    matches!(code, 2..=4)
}

/// pppd's exit code meaning SIGINT/SIGTERM/SIGHUP ended it (not a loss).
const PPPD_SIGNALLED: i32 = 5;

/// pppd's own words for its exit codes (pppd(8), EXIT STATUS), for log lines.
fn describe(code: i32) -> &'static str {
    match code {
        0 => "ok",
        1 => "fatal error",
        2 => "options error",
        3 => "not root",
        4 => "no kernel PPP support",
        5 => "terminated by signal",
        6 => "serial port lock failed",
        7 => "serial port open failed",
        8 => "connect script failed",
        9 => "pty command failed",
        10 => "PPP negotiation failed",
        11 => "peer failed to authenticate",
        12 => "idle timeout",
        13 => "connect time limit",
        14 => "callback",
        15 => "peer not answering LCP echo",
        16 => "modem hung up",
        17 => "loopback detected",
        18 => "init script failed",
        19 => "we failed to authenticate",
        c if c > 128 => "killed by a signal",
        _ => "unknown",
    }
}

/// A child we started and watch through a pidfd.
struct Proc {
    pub pid: Pid,
    pub pidfd: OwnedFd,
}

impl Proc {
    /// Reap the (exited) child: its exit code, or 128 + signal.
    fn reap(&self) -> Result<i32, Errno> {
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

pub use crate::errors::Fatal;

impl From<config::ConfigError> for Fatal {
    fn from(e: config::ConfigError) -> Fatal {
        Fatal {
            code: e.code,
            message: e.message,
        }
    }
}

/// `what: phrase` for an errno, as a temporary failure.
fn sys_fatal(what: impl std::fmt::Display, e: Errno) -> Fatal {
    Fatal::temporary(format!("{what}: {}", crate::errors::phrase(e)))
}

/// `what: phrase` for an io::Error, as a temporary failure.
fn io_fatal(what: impl std::fmt::Display, e: &std::io::Error) -> Fatal {
    Fatal::temporary(format!("{what}: {}", crate::errors::io_phrase(e)))
}

/// The "already running" refusal, naming the holder's pid once it is known
/// (a holder that just took the lock gets a moment to write it).
fn already_running(pidfile: &std::path::Path) -> Fatal {
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
