//! supervise/control: one byte per command, daemontools' letters plus
//! upkeep's extensions (doc/DESIGN.md, supervise/ — the wire format), and how a client sends them.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::unistd::Pid;

/// The signal a letter sends to run, for the letters that only signal.
pub fn letter_signal(letter: u8) -> Option<i32> {
    Some(match letter {
        b'a' => libc::SIGALRM,
        b'h' => libc::SIGHUP,
        b'k' => libc::SIGKILL,
        b't' => libc::SIGTERM,
        b'i' => libc::SIGINT,
        b'q' => libc::SIGQUIT,
        b'1' => libc::SIGUSR1,
        b'2' => libc::SIGUSR2,
        b'w' => libc::SIGWINCH,
        _ => return None,
    })
}

/// Why commands could not be sent to a service dir, in daemontools' words.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The directory itself cannot be entered.
    Dir(Errno),
    /// No supervise has the control FIFO open.
    NotRunning,
    /// supervise/control cannot be opened.
    Open(Errno),
    /// supervise/control is not a FIFO (a symlink, or a regular file left
    /// by `echo d > supervise/control`): writing there would reach no
    /// supervise, or clobber another file.
    NotFifo,
    Write(Errno),
}

impl SendError {
    /// daemontools svc's warning text (after `svc: warning: `).
    pub fn warning(&self, dir: &str) -> String {
        use crate::errors::phrase;
        match self {
            SendError::Dir(e) => format!("unable to chdir to {dir}: {}", phrase(*e)),
            SendError::NotRunning => format!("unable to control {dir}: supervise not running"),
            SendError::Open(e) => format!("unable to control {dir}: {}", phrase(*e)),
            SendError::NotFifo => {
                format!("unable to control {dir}: supervise/control is not a FIFO")
            }
            SendError::Write(e) => {
                format!("error writing commands to {dir}: {}", phrase(*e))
            }
        }
    }
}

/// Write `letters` to DIR/supervise/control, as daemontools' svc does:
/// open without blocking (ENXIO = no supervise), then write in full.
pub fn send(dir: &Path, letters: &[u8]) -> Result<(), SendError> {
    check_dir(dir).map_err(SendError::Dir)?;
    // O_NOFOLLOW: root's svc must never write letters into whatever file a
    // planted symlink names.
    let mut f = match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(dir.join("supervise/control"))
    {
        Ok(f) => f,
        Err(e) => {
            let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
            return Err(match errno {
                Errno::ENXIO => SendError::NotRunning,
                Errno::ELOOP => SendError::NotFifo,
                _ => SendError::Open(errno),
            });
        }
    };
    if !is_fifo(&f) {
        return Err(SendError::NotFifo);
    }
    if letters.is_empty() {
        return Ok(());
    }
    // A FIFO write of fewer than PIPE_BUF bytes is atomic; only a full pipe
    // (a stuck supervise) makes it fail.
    f.write_all(letters)
        .map_err(|e| SendError::Write(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))
}

fn is_fifo(f: &std::fs::File) -> bool {
    use std::os::unix::fs::FileTypeExt;
    f.metadata().is_ok_and(|m| m.file_type().is_fifo())
}

/// Can DIR be entered (what `chdir` would say)?
pub fn check_dir(dir: &Path) -> Result<(), Errno> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => nix::unistd::access(dir, nix::unistd::AccessFlags::X_OK),
        Ok(_) => Err(Errno::ENOTDIR),
        Err(e) => Err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
    }
}

/// Is supervise running on DIR? (svok's test: the `ok` FIFO has a reader.)
/// The FIFO is root's (mode 0600, as daemontools makes it): a reader
/// without write access asks /proc/locks who holds supervise/lock instead.
/// Either way, a lock whose taker is dead means supervise is not running,
/// whoever still has the FIFO or the lock open: a child it forked holds
/// copies of both for the moment between its fork and its first close.
pub fn supervise_running(dir: &Path) -> Result<bool, Errno> {
    let errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    // The pid that took the flock, and whether it is alive.
    let taker_alive = || {
        crate::lock::flock_holder(&dir.join("supervise/lock"))
            .map(|holder| holder.map(|pid| crate::procfs::is_running(Pid::from_raw(pid as i32))))
            .map_err(errno)
    };
    match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(dir.join("supervise/ok"))
    {
        // Only a FIFO with a reader is a supervise: a regular file opens
        // too. No flock listed (daemontools may lock otherwise): the reader
        // decides.
        Ok(f) => Ok(is_fifo(&f) && taker_alive()?.unwrap_or(true)),
        Err(e) => match errno(e) {
            Errno::ENXIO | Errno::ENOENT | Errno::ELOOP => Ok(false),
            Errno::EACCES => Ok(taker_alive()?.unwrap_or(false)),
            other => Err(other),
        },
    }
}
