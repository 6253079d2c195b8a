//! supervise/event/: how supervise tells waiters (`svc -w`) that its
//! status changed, without inotify (doc/DESIGN.md §4). A waiter makes a
//! FIFO of its own in the dir and holds it open; supervise writes one byte
//! to every FIFO there after each change of status or state. The byte
//! says where the service is (u run alive, U and ready, d run gone but
//! finish running, D down and finished), but a waiter reads the status
//! files again anyway.
//!
//! Why not inotify: the last close of an inotify instance that holds a
//! watch waits for an SRCU grace period (~10 ms), which made a waiter's
//! exit cost more than the whole command (bench/README.md).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use crate::runtimefile::Dir;
use crate::status::{State, Status};

/// The dir's name in supervise/.
pub const EVENT_DIR: &str = "event";

/// How long a FIFO without a reader is kept: its maker opens it the
/// moment after making it, so one older than this belongs to a waiter
/// that was killed.
pub const GRACE: Duration = Duration::from_secs(3);

/// Waiters' FIFOs: `w.` and 16 unpredictable hex digits.
const PREFIX: &str = "w.";

/// supervise's side: event/, made with the other runtime files and held
/// open; listed at each change with getdents into a buffer on the stack (no
/// heap kept for it).
pub struct Publisher {
    dir: Dir,
    /// The dir's mtime when a look found it empty, unless that mtime was
    /// too recent to rule out a FIFO made in the same clock tick: while
    /// it stays so, there is no one to wake and no need to list it.
    empty_at: Option<(i64, i64)>,
}

impl Publisher {
    /// Make (mode 0700: only supervise's user or root can add a FIFO) and
    /// open supervise/event. One found sticky and writable by others is
    /// refused: waiters refuse it too, and anyone could fill it with files
    /// to be looked at on every change.
    pub fn open(supervise: &Dir) -> std::io::Result<Publisher> {
        let dir = supervise.open_subdir(EVENT_DIR.as_ref(), Some(0o700))?;
        if dir.is_shared() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "refusing a directory writable by others",
            ));
        }
        Ok(Publisher {
            dir,
            empty_at: None,
        })
    }

    /// Write `letter` to every waiter's FIFO, never blocking; remove those
    /// of dead waiters. Anything else in the dir is left unopened.
    pub fn announce(&mut self, letter: u8) {
        // Errors (EMFILE, a dir being removed) lose one wake-up of some
        // waiters; their deadline, or the next change, still ends the wait.
        // Before the listing: a FIFO made during it moves the mtime after.
        let mtime = nix::sys::stat::fstat(self.dir.as_fd())
            .ok()
            .map(|st| (st.st_mtime, st.st_mtime_nsec));
        if mtime.is_some() && mtime == self.empty_at {
            return; // one fstat instead of a listing, on every restart
        }
        self.empty_at = None;
        let mut empty = true;
        let listed = crate::dirlist::for_each_name(&self.dir.as_fd(), |name| {
            if name != b"." && name != b".." {
                empty = false;
                let name = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name);
                let _ = self.dir.poke_fifo(name, letter, GRACE);
            }
        });
        // Only a whole listing proves the dir empty.
        if let (true, Ok(()), Some(m)) = (empty, listed, mtime) {
            if !crate::racy::is_racy(m) {
                self.empty_at = Some(m);
            }
        }
    }
}

/// The letter for a status change: what s6-supervise would write.
pub fn letter(status: &Status, state: &State) -> u8 {
    use crate::status::Phase;
    match (status.pid != 0, state.phase) {
        (true, Phase::Ready) => b'U',
        (true, _) => b'u',
        (false, Phase::Finishing) => b'd',
        (false, _) => b'D',
    }
}

/// A waiter's side: its FIFO in event/, and supervise/ok held open for
/// writing, which polls POLLERR once supervise (its only reader) is gone.
pub struct Subscription {
    dir: Dir,
    name: OsString,
    fifo: File,
    ok: File,
}

impl Subscription {
    /// Make this waiter's FIFO in SERVICE/supervise/event. None when there
    /// is no such dir of root's or ours (daemontools' supervise, another
    /// user's), no supervise, or the FIFO cannot be made: then wait
    /// another way.
    pub fn new(service: &Path) -> Option<Subscription> {
        let supervise = service.join("supervise");
        let dir = Dir::open(&supervise)
            .ok()?
            .open_subdir(EVENT_DIR.as_ref(), None)
            .ok()?;
        if dir.is_shared() {
            return None;
        }
        // A supervise is alive now; from here on its death polls POLLERR.
        let ok = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(supervise.join("ok"))
            .ok()?;
        if !ok
            .metadata()
            .is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()))
        {
            return None;
        }
        let (name, fifo) = dir.make_own_fifo(PREFIX).ok()?;
        Some(Subscription {
            dir,
            name,
            fifo,
            ok,
        })
    }

    /// Does this status come from a supervise that serves event/? Such a
    /// supervise says so in `state` (`events=1`), written with the same pid
    /// and since as `status` (right after it). A daemontools supervise, or an
    /// upkeep one from before event/, started where a newer one ran, finds
    /// the old dir and state there: but it writes a status of its own time,
    /// which the old state never matches, or a state without the key.
    pub fn served(status: Option<&Status>, state: Option<&State>) -> bool {
        match (status, state) {
            (Some(st), Some(sv)) => sv.events && st.pid == sv.pid && st.since == sv.since,
            _ => false,
        }
    }

    /// The descriptors to poll: the FIFO (readable on a byte) and ok
    /// (POLLERR once supervise is gone).
    pub fn fds(&self) -> [BorrowedFd<'_>; 2] {
        [self.fifo.as_fd(), self.ok.as_fd()]
    }

    /// Read away the bytes written so far.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.fifo).read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.dir.remove(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tai64::Tai64N;

    /// Once found empty (and not changed just now), event/ costs one
    /// fstat per change; a waiter's FIFO moves its mtime and is woken.
    #[test]
    fn an_empty_dir_is_listed_again_once_a_fifo_appears() {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let supervise = Dir::open(tmp.path()).unwrap();
        let mut publisher = Publisher::open(&supervise).unwrap();
        let event = tmp.path().join(EVENT_DIR);
        publisher.announce(b'u');
        assert_eq!(publisher.empty_at, None, "changed just now");
        let old = nix::sys::time::TimeSpec::new(1_000_000_000, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &event,
            &old,
            &old,
            nix::sys::stat::UtimensatFlags::FollowSymlink,
        )
        .unwrap();
        publisher.announce(b'u');
        assert_eq!(publisher.empty_at, Some((1_000_000_000, 0)));
        let fifo = event.join("w.0123456789abcdef");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        publisher.announce(b'U');
        let mut got = [0u8; 4];
        assert_eq!(reader.read(&mut got).unwrap(), 1);
        assert_eq!(got[0], b'U');
        assert_eq!(publisher.empty_at, None);
    }

    #[test]
    fn served_only_by_a_supervise_that_says_so_in_a_matching_state() {
        let since = Tai64N::now();
        let status = Status {
            since,
            pid: 42,
            paused: false,
            want: crate::status::Want::Up,
        };
        let state = State {
            pid: 42,
            since,
            events: true,
            ..State::default()
        };
        assert!(Subscription::served(Some(&status), Some(&state)));
        // An upkeep supervise from before event/.
        let older = State {
            events: false,
            ..state.clone()
        };
        assert!(!Subscription::served(Some(&status), Some(&older)));
        // daemontools' supervise writing its own status over an old state.
        let theirs = Status {
            since: Tai64N::default(),
            ..status
        };
        assert!(!Subscription::served(Some(&theirs), Some(&state)));
        assert!(!Subscription::served(Some(&status), None));
        assert!(!Subscription::served(None, Some(&state)));
    }
}
