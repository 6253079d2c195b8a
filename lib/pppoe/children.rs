//! The loop's two kinds of children: pppd (a direct child, own session,
//! PR_SET_PDEATHSIG=SIGTERM, holding the lock on PIDFILE.pppd through an
//! inherited descriptor) and the lost hook (own session, so a time limit
//! can kill its whole group).

use std::path::Path;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};

use super::config::Config;
use super::{io_fatal, stop, sys_fatal, Fatal, Proc};
use crate::errors::{io_phrase, phrase, warn};
use crate::pidlock::{self, PidLock, Probe};
use crate::spawn::Spawn;
use crate::sys;

/// A running pppd.
pub struct Pppd {
    pub proc: Proc,
    /// The lock on PIDFILE.pppd, shared with pppd itself (it inherits the
    /// descriptor), so it stays held while pppd lives even if the loop is
    /// gone: that is how a stop finds an orphaned pppd and proves it is one.
    pub lock: PidLock,
}

/// Why no pppd runs now.
pub enum DialError {
    /// Try again after the retry delay (fork or exec failed).
    Retry(String),
    /// The loop cannot go on.
    Fatal(Fatal),
}

/// Start pppd for `cfg`, first ending a pppd that an earlier, killed loop
/// left holding PIDFILE.pppd (two pppds would fight for one session).
pub fn start_pppd(cfg: &Config) -> Result<Pppd, DialError> {
    let path = cfg.pppd_pidfile();
    let mut tries = 0;
    let lock = loop {
        match pidlock::probe(&path, true) {
            Ok(Probe::Free(l)) => break l,
            Ok(Probe::Absent) => continue,
            Ok(Probe::Held) if tries < 2 => {
                tries += 1;
                warn(
                    "pppoe-connect",
                    format_args!(
                        "pppd of an earlier loop still holds {}: stopping it",
                        path.display()
                    ),
                );
                let comm = cfg.pppd_comm();
                if let Err(e) =
                    stop::end_holder_named(&path, Some(&comm), cfg.stop_timeout, &mut || {})
                {
                    warn("pppoe-connect", e);
                }
            }
            Ok(Probe::Held) => {
                return Err(DialError::Fatal(Fatal::temporary(format!(
                    "pppd of an earlier loop still holds {}",
                    path.display()
                ))))
            }
            Err(e) => {
                return Err(DialError::Fatal(io_fatal(
                    format!("unable to lock {}", path.display()),
                    &e,
                )))
            }
        }
    };
    let child = Spawn::new(&cfg.pppd)
        .args(cfg.pppd_args())
        .new_session()
        .parent_death_signal(libc::SIGTERM)
        .inherit(pidlock::raw_fd(&lock))
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            let _ = lock.remove();
            return Err(DialError::Retry(format!(
                "unable to fork: {}",
                phrase(e as i32)
            )));
        }
    };
    let proc = match sys::pidfd_open(child.pid) {
        Ok(fd) => Proc {
            pid: child.pid,
            pidfd: fd,
        },
        Err(e) => {
            // Cannot watch it: do not leave it unwatched. (Our unreaped
            // child: its pid cannot have been reused.)
            let _ = kill(child.pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(child.pid, None);
            let _ = lock.remove();
            return Err(DialError::Fatal(sys_fatal("unable to open pidfd", e)));
        }
    };
    if let Err(e) = child.wait_exec() {
        let _ = proc.reap();
        let _ = lock.remove();
        return Err(DialError::Retry(format!(
            "unable to run {}: {}",
            cfg.pppd.display(),
            phrase(e as i32)
        )));
    }
    if let Err(e) = lock.write_pid(child.pid) {
        warn(
            "pppoe-connect",
            format_args!("unable to write {}: {}", path.display(), io_phrase(&e)),
        );
    }
    Ok(Pppd { proc, lock })
}

/// Start the lost hook: `HOOK CONFIG CODE`.
pub fn start_hook(hook: &Path, cfg: &Config, code: i32) -> Result<Proc, Errno> {
    let c = Spawn::new(hook)
        .arg(&cfg.path)
        .arg(code.to_string())
        .new_session()
        .spawn()?;
    let pidfd = sys::pidfd_open(c.pid);
    let exec = c.wait_exec();
    match (pidfd, exec) {
        (Ok(fd), Ok(())) => Ok(Proc {
            pid: c.pid,
            pidfd: fd,
        }),
        (fd, exec) => {
            let _ = nix::sys::wait::waitpid(c.pid, None);
            drop(fd);
            Err(exec.err().unwrap_or(Errno::EIO))
        }
    }
}
