//! A process pinned by a pidfd: whatever happens to its pid later, a signal
//! sent through the pidfd reaches that process and no other. A pid read
//! from anywhere (a pid file, a lock, /proc, supervise's status) is pinned
//! first and checked after: if the check still names it, it is the process
//! meant, for good.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::{event, sys};

pub struct Pinned {
    pub pid: Pid,
    pub pidfd: OwnedFd,
}

impl Pinned {
    /// Pin `pid`, then ask `meant_now` which pid is meant: if the same, it
    /// is pinned for good; if another, that one is tried. `Ok(None)`: none
    /// is meant (any more).
    pub fn checked(
        pid: Pid,
        meant_now: impl Fn() -> io::Result<Option<Pid>>,
    ) -> io::Result<Option<Pinned>> {
        let mut pid = pid;
        loop {
            let pidfd = match sys::pidfd_open(pid) {
                Ok(fd) => Some(fd),
                // Gone: which pid is meant now is asked below.
                Err(Errno::ESRCH) => None,
                Err(e) => return Err(e.into()),
            };
            match (meant_now()?, pidfd) {
                (Some(now), Some(pidfd)) if now == pid => return Ok(Some(Pinned { pid, pidfd })),
                (Some(now), _) if now != pid => pid = now,
                _ => return Ok(None),
            }
        }
    }

    /// A child of ours, not reaped yet: its pid cannot have been reused.
    pub fn child(pid: Pid) -> Result<Pinned, Errno> {
        Ok(Pinned {
            pid,
            pidfd: sys::pidfd_open(pid)?,
        })
    }

    pub fn signal(&self, sig: i32) -> Result<(), Errno> {
        match sys::pidfd_send_signal(&self.pidfd, sig) {
            // Already dead (a zombie): nothing left to signal.
            Err(Errno::ESRCH) => Ok(()),
            other => other,
        }
    }

    /// Wait up to `timeout` for the process to exit; true if it did.
    pub fn wait_exit(&self, timeout: Duration) -> Result<bool, Errno> {
        let ready = event::wait_readable(&[self.pidfd.as_fd()], Some(timeout))?;
        Ok(ready[0])
    }

    /// Has it exited (or can that not be told)?
    pub fn exited(&self) -> bool {
        self.wait_exit(Duration::ZERO).unwrap_or(true)
    }

    /// Reap a child of ours once it has exited: its exit code, or 128 +
    /// the signal that killed it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_follows_the_check() {
        let me = nix::unistd::getpid();
        let p = Pinned::checked(me, || Ok(Some(me))).unwrap().unwrap();
        assert_eq!(p.pid, me);
        assert!(!p.exited());
        assert!(Pinned::checked(me, || Ok(None)).unwrap().is_none());
        // The check names another process: that one is pinned.
        let parent = nix::unistd::getppid();
        let p = Pinned::checked(me, || Ok(Some(parent))).unwrap().unwrap();
        assert_eq!(p.pid, parent);
    }
}
