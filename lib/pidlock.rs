//! A pid file that is also its holder's lock: the holder flocks the file for
//! its whole life and writes its pid into it. The lock, not the pid, is the
//! proof of life, and a pid read from the file is only trusted once /proc
//! shows that this very process holds the lock (so a reused pid, or a stale
//! pid left by a SIGKILLed holder, is never signalled).
//!
//! The holder removes the file while it still holds the lock; so that a
//! process which opened the old file just before cannot end up holding a
//! lock on an unlinked inode, every acquirer checks after locking that the
//! path still names the inode it locked.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::unistd::Pid;

use crate::event;
use crate::lock::{self, Lock};
use crate::pinned::Pinned;
use crate::procfs;

/// A held pid lock.
pub struct PidLock {
    lock: Lock,
    path: PathBuf,
}

/// What a look at a pid lock found.
pub enum Probe {
    /// No file at the path: nobody holds it.
    Absent,
    /// Someone holds it.
    Held,
    /// It was free and is now ours.
    Free(PidLock),
}

fn same_inode(file: &File, path: &Path) -> io::Result<bool> {
    let a = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(b) => Ok(a.dev() == b.dev() && a.ino() == b.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Try to take the lock at `path` without waiting. With `create`, a missing
/// file is created (and then taken); without, a missing file is `Absent`.
pub fn probe(path: &Path, create: bool) -> io::Result<Probe> {
    loop {
        let file = if create {
            lock::open_lock_file(path)?
        } else {
            // Never through a planted symlink, never blocked on a FIFO.
            match OpenOptions::new()
                .read(true)
                .append(true)
                .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Probe::Absent),
                Err(e) => return Err(e),
            }
        };
        match lock::try_exclusive(file) {
            Ok(lock) => {
                // The previous holder may have removed the file between
                // our open and our lock: that inode is dead, try again.
                if same_inode(lock.file(), path)? {
                    return Ok(Probe::Free(PidLock {
                        lock,
                        path: path.to_path_buf(),
                    }));
                }
            }
            Err(Errno::EAGAIN) => return Ok(Probe::Held),
            Err(e) => return Err(e.into()),
        }
    }
}

impl PidLock {
    /// Replace the file's content with `PID\n` (one write, so a reader sees
    /// the whole line or an empty file).
    pub fn write_pid(&self, pid: Pid) -> io::Result<()> {
        let mut f = self.lock.file();
        f.set_len(0)?;
        f.seek(SeekFrom::Start(0))?;
        f.write_all(format!("{pid}\n").as_bytes())
    }

    /// Remove the file while still holding the lock, then release it.
    pub fn remove(self) -> io::Result<()> {
        let r = crate::runtimefile::remove_if_exists(&self.path);
        drop(self.lock);
        r
    }
}

/// The pid in a pid file, once its line is complete (`N\n`).
fn parse_pid(text: &str) -> Option<Pid> {
    let line = text.strip_suffix('\n')?;
    let n: i32 = line.trim().parse().ok()?;
    (n > 0).then(|| Pid::from_raw(n))
}

/// Who holds the lock at `path`, pinned: `Ok(None)` when the file is absent, the
/// lock is free, or the holder cannot be identified yet (it has not written
/// its pid, or the file still names an earlier, dead holder).
pub fn holder(path: &Path) -> io::Result<Option<Pinned>> {
    let Some(mut file) = open_existing(path)? else {
        return Ok(None);
    };
    let meta = file.metadata()?;
    let mut text = String::new();
    if file.read_to_string(&mut text).is_err() {
        return Ok(None);
    }
    let Some(pid) = parse_pid(&text) else {
        return Ok(None);
    };
    Pinned::checked(pid, || {
        Ok(procfs::holds_flock(pid, meta.dev(), meta.ino()).then_some(pid))
    })
}

/// Open an existing lock file to look at it: never through a planted
/// symlink, never blocked on a FIFO. `Ok(None)` when there is none.
pub fn open_existing(path: &Path) -> io::Result<Option<File>> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Processes named `comm` that hold the lock on `path`, found by scanning
/// /proc (for when the holder is not the pid in the file: a fork of a
/// killed holder that has not exec'd yet still holds the lock).
pub fn scan_holders(path: &Path, comm: &str) -> io::Result<Vec<Pinned>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let holds = |pid| procfs::holds_flock(pid, meta.dev(), meta.ino());
    let mut out = Vec::new();
    for pid in procfs::pids()? {
        if procfs::comm(pid).as_deref() != Some(comm) || !holds(pid) {
            continue;
        }
        if let Ok(Some(h)) = Pinned::checked(pid, || Ok(holds(pid).then_some(pid))) {
            out.push(h);
        }
    }
    Ok(out)
}

/// Wait up to `timeout` for the file at `path` to change (written, removed,
/// renamed); returns at once if it does not exist. The lock being released
/// makes no event, so callers use short timeouts and look again.
pub fn wait_change(path: &Path, timeout: Duration) -> Result<(), Errno> {
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
    let mask = AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF;
    match ino.add_watch(path, mask) {
        Ok(_) => {}
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    }
    event::wait_readable(&[ino.as_fd()], Some(timeout))?;
    Ok(())
}

/// Read a pid file's pid (complete line only).
pub fn read_pid(path: &Path) -> io::Result<Option<Pid>> {
    Ok(crate::runtimefile::read_optional(path)?.and_then(|t| parse_pid(&t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_is_verified_through_proc() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pid");
        let Probe::Free(l) = probe(&p, true).unwrap() else {
            panic!("not free")
        };
        // Not written yet: unknown holder.
        assert!(holder(&p).unwrap().is_none());
        // A stale pid (our parent, which does not hold it) is not trusted.
        l.write_pid(nix::unistd::getppid()).unwrap();
        assert!(holder(&p).unwrap().is_none());
        l.write_pid(nix::unistd::getpid()).unwrap();
        assert_eq!(holder(&p).unwrap().unwrap().pid, nix::unistd::getpid());
        assert!(matches!(probe(&p, false).unwrap(), Probe::Held));
        l.remove().unwrap();
        assert!(matches!(probe(&p, false).unwrap(), Probe::Absent));
    }

    #[test]
    fn scan_finds_holders_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pid");
        let Probe::Free(l) = probe(&p, true).unwrap() else {
            panic!("not free")
        };
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        let found = scan_holders(&p, me.trim_end()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pid, nix::unistd::getpid());
        assert!(scan_holders(&p, "someone-else").unwrap().is_empty());
        l.remove().unwrap();
        assert!(scan_holders(&p, me.trim_end()).unwrap().is_empty());
    }

    #[test]
    fn pid_line_must_be_complete() {
        assert_eq!(parse_pid("12\n"), Some(Pid::from_raw(12)));
        assert_eq!(parse_pid("12"), None);
        assert_eq!(parse_pid(""), None);
        assert_eq!(parse_pid("x\n"), None);
    }
}
