//! FIFOs that one process makes for itself in a directory another process
//! writes to: supervise/event/ (lib/svevent.rs). The maker owns its FIFO;
//! the writer never opens anything but a FIFO of root's or its own, never
//! through a symlink, never blocking.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::{Uid, UnlinkatFlags};

use super::{is_type, refused, trusted_owner, unpredictable, Dir};

/// What [`Dir::poke_fifo`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Poke {
    /// The byte was written (or the FIFO was full of unread ones already).
    Written,
    /// A FIFO nobody has open for reading, made a moment ago: kept, its
    /// maker may be about to open it.
    NoReader,
    /// A FIFO nobody reads, older than the grace time: removed (its maker
    /// died), or gone already.
    Removed,
    /// Not a FIFO of root's or ours with one link: left alone, unopened.
    Refused,
}

impl Dir {
    /// Open the directory `name` in this one, never through a symlink,
    /// checked as [`Dir::open`] checks; with `create`, make it first (that
    /// mode) when missing.
    pub fn open_subdir(&self, name: &OsStr, create: Option<u32>) -> io::Result<Dir> {
        let path = self.path.join(name);
        if let Some(mode) = create {
            match nix::sys::stat::mkdirat(&self.fd, name, Mode::from_bits_truncate(mode)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let fd = nix::fcntl::openat(
            &self.fd,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::ELOOP => refused(&path, "a symbolic link"),
            Errno::ENOTDIR => refused(&path, "not a directory"),
            e => e.into(),
        })?;
        let st = nix::sys::stat::fstat(&fd)?;
        let shared = Dir::judge(&path, &st)?;
        Ok(Dir { fd, path, shared })
    }

    /// Make a FIFO of ours (mode 0600) named `prefix` and 16 unpredictable
    /// hex digits, and open it read-write, non-blocking and close-on-exec:
    /// a reader from the start, and never EOF nor POLLHUP when a writer
    /// comes and goes. Err when it cannot be made, or when what the name
    /// holds by the time it is opened is not that FIFO.
    pub fn make_own_fifo(&self, prefix: &str) -> io::Result<(OsString, File)> {
        let name = loop {
            let name = OsString::from(format!("{prefix}{:016x}", unpredictable()));
            match nix::unistd::mkfifoat(&self.fd, name.as_os_str(), Mode::from_bits_truncate(0o600))
            {
                Ok(()) => break name,
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let path = self.path.join(&name);
        let opened = nix::fcntl::openat(
            &self.fd,
            name.as_os_str(),
            OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        );
        let checked = opened.map_err(io::Error::from).and_then(|fd| {
            let st = nix::sys::stat::fstat(&fd)?;
            if is_type(&st, SFlag::S_IFIFO)
                && st.st_uid == Uid::effective().as_raw()
                && st.st_nlink == 1
            {
                Ok(File::from(fd))
            } else {
                Err(refused(&path, "not the FIFO just made"))
            }
        });
        match checked {
            Ok(file) => Ok((name, file)),
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    let _ = self.remove(&name);
                }
                Err(e)
            }
        }
    }

    /// Write `byte` to the FIFO `name` without blocking: only a FIFO of
    /// root's or ours with one link is opened, never through a symlink,
    /// write-only (so no reader means ENXIO, not a wait). A FIFO nobody
    /// reads whose inode changed more than `grace` ago is removed.
    pub fn poke_fifo(&self, name: &OsStr, byte: u8, grace: Duration) -> io::Result<Poke> {
        let seen = match nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(Poke::Removed),
            Err(e) => return Err(e.into()),
        };
        if !is_type(&seen, SFlag::S_IFIFO) || !trusted_owner(seen.st_uid) || seen.st_nlink != 1 {
            return Ok(Poke::Refused);
        }
        let fd = match nix::fcntl::openat(
            &self.fd,
            name,
            OFlag::O_WRONLY
                | OFlag::O_NONBLOCK
                | OFlag::O_NOFOLLOW
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENXIO) => {
                if !older_than(&seen, grace) {
                    return Ok(Poke::NoReader);
                }
                return match nix::unistd::unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
                    Ok(()) | Err(Errno::ENOENT) => Ok(Poke::Removed),
                    Err(e) => Err(e.into()),
                };
            }
            Err(Errno::ENOENT) => return Ok(Poke::Removed),
            // Replaced by a symlink since the look.
            Err(Errno::ELOOP) => return Ok(Poke::Refused),
            Err(e) => return Err(e.into()),
        };
        let st = nix::sys::stat::fstat(&fd)?;
        if st.st_dev != seen.st_dev || st.st_ino != seen.st_ino {
            return Ok(Poke::Refused);
        }
        match File::from(fd).write(&[byte]) {
            // Full: its reader has bytes to wake on already. Its reader
            // just closed: nobody left to wake.
            Ok(_) => Ok(Poke::Written),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EPIPE)) => {
                Ok(Poke::Written)
            }
            Err(e) => Err(e),
        }
    }
}

/// Did `st`'s inode last change more than `grace` ago? A clock set back
/// keeps it younger; one set forward only makes a maker that has not
/// opened its FIFO yet find it gone (and fall back, lib/svwait.rs).
fn older_than(st: &FileStat, grace: Duration) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let changed = Duration::new(
        u64::try_from(st.st_ctime).unwrap_or(0),
        u32::try_from(st.st_ctime_nsec)
            .unwrap_or(0)
            .min(999_999_999),
    );
    now.saturating_sub(changed) > grace
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::Read;
    use std::os::unix::fs::symlink;

    #[test]
    fn own_fifos_get_pokes_and_nothing_else_is_opened() {
        let tmp = tempfile::tempdir().unwrap();
        let top = Dir::open(tmp.path()).unwrap();
        let ev = top.open_subdir(OsStr::new("event"), Some(0o700)).unwrap();
        // Opened again, not made again.
        top.open_subdir(OsStr::new("event"), Some(0o700)).unwrap();
        let (name, mut fifo) = ev.make_own_fifo("w.").unwrap();
        assert!(name.to_string_lossy().starts_with("w."));
        let grace = Duration::from_secs(3);
        assert_eq!(ev.poke_fifo(&name, b'u', grace).unwrap(), Poke::Written);
        let mut got = [0u8; 4];
        assert_eq!(fifo.read(&mut got).unwrap(), 1);
        assert_eq!(got[0], b'u');
        // Nothing else is written to.
        let victim = tmp.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        symlink(&victim, tmp.path().join("event/link")).unwrap();
        fs::write(tmp.path().join("event/plain"), "").unwrap();
        for other in ["link", "plain"] {
            assert_eq!(
                ev.poke_fifo(OsStr::new(other), b'u', grace).unwrap(),
                Poke::Refused
            );
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read(tmp.path().join("event/plain")).unwrap(), b"");
        // A young FIFO without a reader is kept; with no grace, removed.
        drop(fifo);
        // A child another test starts meanwhile holds a copy of our read
        // end until its exec: only a moment.
        let until = std::time::Instant::now() + Duration::from_secs(5);
        while ev.poke_fifo(&name, b'u', grace).unwrap() != Poke::NoReader {
            assert!(std::time::Instant::now() < until, "a reader is left");
            std::thread::yield_now();
        }
        assert_eq!(
            ev.poke_fifo(&name, b'u', Duration::ZERO)
                .unwrap_or(Poke::Refused),
            Poke::Removed
        );
        assert!(!tmp.path().join("event").join(&name).exists());
        // A symlink or a plain file where the subdir should be.
        symlink(tmp.path().join("event"), tmp.path().join("alias")).unwrap();
        assert!(top.open_subdir(OsStr::new("alias"), None).is_err());
        assert!(top.open_subdir(OsStr::new("victim"), Some(0o700)).is_err());
    }
}
