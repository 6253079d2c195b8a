//! PIDFILE.pppd: pppd's pid, and the proof that a pppd of ours still runs.
//!
//! pppd holds a POSIX record lock on the file, taken in the child just
//! before exec (spawn's `record_lock`). A record lock belongs to one
//! process: it survives pppd's exec, is gone the moment pppd exits, and is
//! never held by pppd's children — its pty helper, ip-up and whatever
//! daemons those start inherit the descriptor but not the lock. (A flock
//! would be shared by every process holding the descriptor, so a daemon
//! started from ip-up could hold the pair hostage after pppd is gone.)
//!
//! The holder is named by the kernel (F_GETLK's l_pid), then pinned and
//! checked again as every lock holder is (`pinned::Pinned::checked`).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg};
use nix::unistd::Pid;

use crate::pidlock;
use crate::pinned::Pinned;

/// The pid holding a write record lock on `file`, if any (by the kernel).
fn lock_owner(file: &impl AsFd) -> io::Result<Option<Pid>> {
    let mut query = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(file.as_fd(), FcntlArg::F_GETLK(&mut query))?;
    if query.l_type == libc::F_UNLCK as libc::c_short {
        return Ok(None);
    }
    if query.l_pid <= 0 {
        // Held from another pid namespace (or an OFD lock): not ours to
        // judge, and not a pid to signal.
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "locked by a process outside this pid namespace",
        ));
    }
    Ok(Some(Pid::from_raw(query.l_pid)))
}

/// The verified holder of the record lock on `file`: `Ok(None)` when free.
pub fn holder_of(file: &impl AsFd) -> io::Result<Option<Pinned>> {
    match lock_owner(file)? {
        Some(pid) => Pinned::checked(pid, || lock_owner(file)),
        None => Ok(None),
    }
}

/// The verified holder of PIDFILE.pppd's lock; `Ok(None)` when the file is
/// absent or nobody holds it. Never follows a symlink.
pub fn holder(path: &Path) -> io::Result<Option<Pinned>> {
    match pidlock::open_existing(path)? {
        Some(f) => holder_of(&f),
        None => Ok(None),
    }
}

/// Open (creating it) PIDFILE.pppd for a new pppd: through runtimefile, so
/// a planted symlink, FIFO or a directory others can write is refused.
pub fn open(path: &Path) -> io::Result<File> {
    crate::runtimefile::open_lock_file(path)
}

/// TERM the verified holder, KILL it if still there after `kill_after`;
/// true once it has exited.
pub fn end(h: &Pinned, kill_after: Duration) -> bool {
    let _ = h.signal(libc::SIGTERM);
    if h.wait_exit(kill_after).unwrap_or(false) {
        return true;
    }
    let _ = h.signal(libc::SIGKILL);
    h.wait_exit(super::KILL_GRACE).unwrap_or(false)
}

/// Replace the file's content with `PID\n` through the descriptor opened
/// above (never through the path).
pub fn write_pid(file: &File, pid: Pid) -> io::Result<()> {
    use std::io::Write;
    // The file is opened for appending: after truncation the write lands
    // at offset 0, in one write.
    file.set_len(0)?;
    let mut f = file;
    f.write_all(format!("{pid}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spawn::Spawn;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_lock_is_the_childs_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.pppd");
        let f = open(&p).unwrap();
        assert!(holder(&p).unwrap().is_none());
        // sh holds the lock; its background child inherits the fd only.
        let child = Spawn::new("/bin/sh")
            .arg("-c")
            .arg("sleep 30 & echo $! > \"$0\"; exec sleep 30")
            .arg(dir.path().join("bg"))
            .inherit(f.as_raw_fd())
            .record_lock(f.as_raw_fd())
            .spawn()
            .unwrap();
        child.exec.unwrap();
        let h = holder(&p).unwrap().unwrap();
        assert_eq!(h.pid, child.pid);
        let mut bg = String::new();
        for _ in 0..500 {
            bg = std::fs::read_to_string(dir.path().join("bg")).unwrap_or_default();
            if bg.ends_with('\n') {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let bg = Pid::from_raw(bg.trim().parse().unwrap());
        h.signal(libc::SIGKILL).unwrap();
        nix::sys::wait::waitpid(child.pid, None).unwrap();
        // The background child still has the descriptor, not the lock.
        assert!(holder(&p).unwrap().is_none());
        let _ = nix::sys::signal::kill(bg, nix::sys::signal::Signal::SIGKILL);
    }
}
