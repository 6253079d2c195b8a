//! Files inside a log directory: how multilog opens them and the modes
//! that mark their state (daemontools' conventions).

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode};

/// `current` while multilog writes it.
pub const CURRENT_MODE_OPEN: u32 = 0o644;
/// A finished file, and `current` closed cleanly: owner-execute set.
pub const CURRENT_MODE_CLOSED: u32 = 0o744;

/// open_append: create with 0600, as daemontools does (the mode is set
/// explicitly afterwards where it matters).
pub fn open_append(dir: &OwnedFd, name: &str) -> Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
}

/// open_trunc: create or empty, 0644.
pub fn open_trunc(dir: &OwnedFd, name: &str) -> Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_CREAT | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
}

/// Open for reading, without blocking.
pub fn open_read(dir: &OwnedFd, name: &str) -> Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

pub fn mode(m: u32) -> Mode {
    Mode::from_bits_truncate(m)
}

/// Does `name` exist, and is its owner-execute bit (daemontools' "closed
/// cleanly" mark) set? `Err` for anything but "does not exist".
pub fn stat_exec(dir: &OwnedFd, name: &str) -> Result<Option<(bool, u64)>, Errno> {
    match fstatat(dir, name, AtFlags::empty()) {
        Ok(st) => Ok(Some((st.st_mode & 0o100 != 0, st.st_size as u64))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}
