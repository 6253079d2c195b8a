//! flock(2)-based locks: a lock is held for as long as its file stays open,
//! and vanishes with the process that holds it, so it is the one reliable
//! proof that a program is alive.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// A held lock; dropping it releases the lock.
pub struct Lock {
    file: Flock<File>,
}

impl Lock {
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Open (creating, never truncating) a lock file, close-on-exec, the one
/// safe way (see `runtimefile`).
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    crate::runtimefile::open_lock_file(path)
}

/// Take an exclusive lock without waiting. `Err(EAGAIN)` (EWOULDBLOCK) when
/// another process holds it.
pub fn try_exclusive(file: File) -> Result<Lock, Errno> {
    lock_with(file, FlockArg::LockExclusiveNonblock)
}

/// Like [`try_exclusive`], but hands the file back on failure, so a caller
/// that retries keeps one open file (and opens and closes nothing a
/// watcher of the lock file would see).
pub fn try_exclusive_or_keep(file: File) -> Result<Lock, (File, Errno)> {
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(file) => return Ok(Lock { file }),
            Err((f, Errno::EINTR)) => file = f,
            Err(e) => return Err(e),
        }
    }
}

/// Take an exclusive lock, waiting for it.
pub fn exclusive(file: File) -> Result<Lock, Errno> {
    lock_with(file, FlockArg::LockExclusive)
}

fn lock_with(file: File, arg: FlockArg) -> Result<Lock, Errno> {
    let mut file = file;
    loop {
        match Flock::lock(file, arg) {
            Ok(file) => return Ok(Lock { file }),
            Err((f, Errno::EINTR)) => file = f,
            Err((_, e)) => return Err(e),
        }
    }
}

/// Is the lock at `path` held by someone (open, try, release)? `Ok(false)`
/// when the file does not exist.
pub fn is_held(path: &Path) -> io::Result<bool> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match try_exclusive(file) {
        Ok(_) => Ok(false),
        Err(Errno::EAGAIN) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let held = try_exclusive(open_lock_file(&p).unwrap()).unwrap();
        assert!(matches!(
            try_exclusive(open_lock_file(&p).unwrap()),
            Err(Errno::EAGAIN)
        ));
        assert!(is_held(&p).unwrap());
        drop(held);
        assert!(!is_held(&p).unwrap());
    }
}

/// setlock's lock file: opened for appending (created 0600, never
/// truncated), non-blocking open as daemontools does, and NOT close-on-exec:
/// the program setlock runs inherits the descriptor and with it the lock.
pub fn open_inheritable(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    nix::fcntl::fcntl(
        &file,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )?;
    Ok(file)
}

#[cfg(test)]
mod inheritable_tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn keeps_content_and_survives_exec() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"keep").unwrap();
        let mut f = open_inheritable(&p).unwrap();
        f.write_all(b"+").unwrap();
        let flags = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_eq!(flags & libc::FD_CLOEXEC, 0);
        assert_eq!(std::fs::read(&p).unwrap(), b"keep+");
    }
}

/// The pid holding a flock on `path`, read from /proc/locks — without
/// taking any lock, so a reader never makes a starting owner fail.
/// `Ok(None)` when nobody holds one (or the file does not exist).
pub fn flock_holder(path: &Path) -> io::Result<Option<u32>> {
    use std::os::unix::fs::MetadataExt;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(crate::procfs::flock_taker(meta.dev(), meta.ino())?.map(|p| p.as_raw() as u32))
}

#[cfg(test)]
mod holder_tests {
    use super::*;

    #[test]
    fn finds_the_holder_without_locking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        assert_eq!(flock_holder(&p).unwrap(), None);
        let held = try_exclusive(open_lock_file(&p).unwrap()).unwrap();
        assert_eq!(flock_holder(&p).unwrap(), Some(std::process::id()));
        drop(held);
        assert_eq!(flock_holder(&p).unwrap(), None);
    }

    /// /proc/locks is read a page at a time: locks listed before ours that
    /// come and go while it is read must not hide ours.
    #[test]
    fn finds_the_holder_while_other_locks_come_and_go() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        // Enough others that the listing takes several pages.
        let _others: Vec<_> = (0..300)
            .map(|i| try_exclusive(open_lock_file(&dir.path().join(format!("h{i}"))).unwrap()))
            .collect();
        let _ours = try_exclusive(open_lock_file(&p).unwrap()).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            for t in 0..2 {
                let (stop, dir) = (&stop, &dir);
                scope.spawn(move || {
                    let files: Vec<_> = (0..50)
                        .map(|i| dir.path().join(format!("c{t}-{i}")))
                        .collect();
                    while !stop.load(Ordering::Relaxed) {
                        let held: Vec<_> = files
                            .iter()
                            .map(|f| try_exclusive(open_lock_file(f).unwrap()))
                            .collect();
                        drop(held);
                    }
                });
            }
            // No unwrap in here: a panic before `stop` would leave the
            // threads spinning and the test hanging.
            let misses = (0..1000)
                .filter(|_| flock_holder(&p).ok().flatten() != Some(std::process::id()))
                .count();
            stop.store(true, Ordering::Relaxed);
            assert_eq!(misses, 0);
        });
    }
}
