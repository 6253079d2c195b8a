//! The loop's two kinds of children: pppd (a direct child, own session,
//! PR_SET_PDEATHSIG=SIGTERM, holding a record lock on PIDFILE.pppd that its
//! own children never hold: see pppdlock) and the lost hook (own session,
//! so a time limit can kill its whole group).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};

use super::config::Config;
use super::{io_fatal, pppdlock, sys_fatal, Fatal, Proc};
use crate::errors::{io_phrase, phrase, warn};
use crate::spawn::Spawn;
use crate::sys;

/// A running pppd.
pub(crate) struct Pppd {
    pub proc: Proc,
    /// PIDFILE.pppd, whose lock pppd holds (see pppdlock).
    pub path: PathBuf,
}

impl Pppd {
    /// pppd is reaped: its pid file goes.
    pub(crate) fn remove_file(&self) {
        let _ = crate::runtimefile::remove_if_exists(&self.path);
    }
}

/// Why no pppd runs now.
pub(crate) enum DialError {
    /// Try again after the retry delay (fork or exec failed).
    Retry(String),
    /// The loop cannot go on.
    Fatal(Fatal),
}

/// Start pppd for `cfg`, first ending a pppd that an earlier, killed loop
/// left holding PIDFILE.pppd (two pppds would fight for one session).
pub(crate) fn start_pppd(cfg: &Config) -> Result<Pppd, DialError> {
    let path = cfg.pppd_pidfile();
    let lock_fatal = |e: std::io::Error| {
        DialError::Fatal(io_fatal(format!("unable to lock {}", path.display()), &e))
    };
    let mut tries = 0;
    let file = loop {
        let file = pppdlock::open(&path).map_err(lock_fatal)?;
        match pppdlock::holder_of(&file).map_err(lock_fatal)? {
            None => break file,
            Some(h) if tries < 2 => {
                tries += 1;
                warn(
                    "pppoe-connect",
                    format_args!(
                        "pppd of an earlier loop still holds {} (pid {}): stopping it",
                        path.display(),
                        h.pid
                    ),
                );
                pppdlock::end(&h, cfg.stop_timeout);
            }
            Some(h) => {
                return Err(DialError::Fatal(Fatal::temporary(format!(
                    "pppd of an earlier loop still holds {} (pid {})",
                    path.display(),
                    h.pid
                ))))
            }
        }
    };
    let fd = file.as_raw_fd();
    let child = Spawn::new(&cfg.pppd)
        .args(cfg.pppd_args())
        .new_session()
        .parent_death_signal(libc::SIGTERM)
        .inherit(fd)
        .record_lock(fd)
        .spawn();
    let remove = || {
        let _ = crate::runtimefile::remove_if_exists(&path);
    };
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            remove();
            return Err(DialError::Retry(format!("unable to fork: {}", phrase(e))));
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
            remove();
            return Err(DialError::Fatal(sys_fatal("unable to open pidfd", e)));
        }
    };
    if let Err(e) = child.wait_exec() {
        let _ = proc.reap();
        remove();
        return Err(DialError::Retry(format!(
            "unable to run {}: {}",
            cfg.pppd.display(),
            phrase(e)
        )));
    }
    if let Err(e) = pppdlock::write_pid(&file, child.pid) {
        warn(
            "pppoe-connect",
            format_args!("unable to write {}: {}", path.display(), io_phrase(&e)),
        );
    }
    Ok(Pppd { proc, path })
}

/// Start the lost hook: `HOOK CONFIG CODE`.
pub(crate) fn start_hook(hook: &Path, cfg: &Config, code: i32) -> Result<Proc, Errno> {
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
