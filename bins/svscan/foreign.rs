//! Supervisors svscan did not start: left running by an svscan that was
//! killed. Each is watched until it exits — through a pidfd when its pid
//! is known from its lock (exact, and independent of its dir's path), else
//! through inotify on its lock file — and only then replaced by one of
//! ours, which adopts the service. Never two supervisors on one dir.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, WatchDescriptor};
use nix::unistd::Pid;

use super::{handover, Key, Scanner, Side};
use upkeep::{event, lock, sys};

/// The lock file was closed but the supervise still shows as running: the
/// kernel reports the close a moment before the process is gone. Looked
/// at again this much later (only then: no idle wake-ups).
const RECHECK: Duration = Duration::from_millis(20);

/// Why a foreign supervise is looked at.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Release {
    /// Its lock file was closed.
    Closed,
    /// RECHECK after a close that still showed it running.
    Recheck,
    /// Its pidfd became readable: it has exited.
    Exited,
    /// Its supervise/ is gone (IN_IGNORED): the watch is dead.
    Gone,
}

/// A foreign supervise held by a pidfd: its pid and that pidfd.
pub(super) struct Pin {
    pub pid: u32,
    pub pidfd: OwnedFd,
}

/// Pin the supervise holding DIR's lock.
fn pin_supervisor(dir: &Path) -> Option<Pin> {
    let lock = dir.join("supervise/lock");
    let pid = lock::flock_holder(&lock).ok()??;
    let pidfd = sys::pidfd_open(Pid::from_raw(i32::try_from(pid).ok()?)).ok()?;
    // Pinned now; the lock still held by that pid proves it is the same
    // process, not a later one that reused a dead supervise's pid.
    (lock::flock_holder(&lock).ok()? == Some(pid)).then_some(Pin { pid, pidfd })
}

/// Does the supervise now holding DIR's lock happen to be the pinned one?
/// (No when the dir was renamed, removed, or is another service's now.)
pub(super) fn still_holds(pin: &Pin, dir: &Path) -> bool {
    lock::flock_holder(&dir.join("supervise/lock"))
        .ok()
        .flatten()
        == Some(pin.pid)
}

/// A pidfd becomes readable when its process has exited.
fn still_running(pidfd: &OwnedFd) -> bool {
    event::wait_readable(&[pidfd.as_fd()], Some(Duration::ZERO)).map_or(true, |ready| !ready[0])
}

impl Scanner {
    /// Is another supervise already running on `dir`? If so, watch its
    /// supervise/ for the lock being closed and pin it with a pidfd. The
    /// watch comes before the test, so a release in between is not missed.
    pub(super) fn watch_foreign(&mut self, dir: &Path) -> Option<(WatchDescriptor, Option<Pin>)> {
        let wd = self
            .inotify
            .add_watch(
                &dir.join("supervise"),
                AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_CLOSE_NOWRITE,
            )
            .ok()?;
        if upkeep::control::supervise_running(dir).unwrap_or(false) {
            Some((wd, pin_supervisor(dir)))
        } else {
            let _ = self.inotify.rm_watch(wd);
            None
        }
    }

    /// The foreign supervisors with a pidfd, for the poll loop.
    pub(super) fn pinned_foreign(&self) -> Vec<((WatchDescriptor, Key, Side), BorrowedFd<'_>)> {
        self.foreign
            .iter()
            .filter_map(|(&wd, &(key, side))| {
                let sup = self.services.get(&key)?.side(side)?;
                let fd = sup.foreign_pin.as_ref()?.pidfd.as_fd();
                Some(((wd, key, side), fd))
            })
            .collect()
    }

    pub(super) fn foreign_released(
        &mut self,
        wd: WatchDescriptor,
        key: Key,
        side: Side,
        how: Release,
    ) {
        let Some(svc) = self.services.get(&key) else {
            return;
        };
        let pidfd = svc
            .side(side)
            .and_then(|s| s.foreign_pin.as_ref().map(|p| &p.pidfd));
        let running = match (how, pidfd) {
            (Release::Exited, _) => false,
            (_, Some(pidfd)) => still_running(pidfd),
            // Without a pidfd and without a watch nothing can tell: it is
            // left alone, never replaced while it might still run.
            (Release::Gone, None) => true,
            // The lock itself, not the ok FIFO: a dying supervise closes
            // its lock first, so its ok FIFO may still be open here.
            (_, None) => {
                let lock = Self::side_dir(svc, side).join("supervise/lock");
                lock::flock_holder(&lock).map_or(true, |h| h.is_some())
            }
        };
        if running {
            match how {
                // Just closing, or someone else merely opened and closed it.
                Release::Closed => self.recheck.arm(RECHECK),
                Release::Gone if pidfd.is_none() => {
                    self.foreign.remove(&wd);
                }
                // With a pidfd the poll loop still sees it exit.
                _ => {}
            }
            return;
        }
        if self.foreign.remove(&wd).is_none() {
            return;
        }
        if how != Release::Gone {
            let _ = self.inotify.rm_watch(wd);
        }
        let svc = self.services.get_mut(&key).expect("known service");
        let dir = Self::side_dir(svc, side);
        let sup = svc.side_mut(side);
        if let Some(sup) = sup {
            sup.foreign = None;
            sup.foreign_pin = None;
            // Not our child: how it ended is in its state. Unless it was
            // told to exit (then the `down` file decides, as when ours
            // exits on `x`), its last published want is the operator's
            // last word, which the `down` file alone would reverse.
            // svscan's own `x` (to give it a new log pipe) is not the
            // operator's.
            sup.replacing = std::mem::take(&mut sup.told_to_exit) || !handover::told_to_exit(&dir);
        }
        if svc.present && !self.shutting_down {
            self.start(key, side);
        } else {
            self.side_gone(key, side);
        }
    }
}
