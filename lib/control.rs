//! supervise/control: one byte per command, daemontools' letters plus
//! upkeep's extensions (DESIGN §5.2), and how a client sends them.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;

/// Every letter supervise obeys.
pub const LETTERS: &[u8] = b"udoahktipcxq12wK";

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
    Write(Errno),
}

impl SendError {
    /// daemontools svc's warning text (after `svc: warning: `).
    pub fn warning(&self, dir: &str) -> String {
        use crate::errors::phrase;
        match self {
            SendError::Dir(e) => format!("unable to chdir to {dir}: {}", phrase(*e as i32)),
            SendError::NotRunning => format!("unable to control {dir}: supervise not running"),
            SendError::Open(e) => format!("unable to control {dir}: {}", phrase(*e as i32)),
            SendError::Write(e) => {
                format!("error writing commands to {dir}: {}", phrase(*e as i32))
            }
        }
    }
}

/// Write `letters` to DIR/supervise/control, as daemontools' svc does:
/// open without blocking (ENXIO = no supervise), then write in full.
pub fn send(dir: &Path, letters: &[u8]) -> Result<(), SendError> {
    check_dir(dir).map_err(SendError::Dir)?;
    let mut f = match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(dir.join("supervise/control"))
    {
        Ok(f) => f,
        Err(e) => {
            let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
            return Err(if errno == Errno::ENXIO {
                SendError::NotRunning
            } else {
                SendError::Open(errno)
            });
        }
    };
    if letters.is_empty() {
        return Ok(());
    }
    // A FIFO write of fewer than PIPE_BUF bytes is atomic; only a full pipe
    // (a stuck supervise) makes it fail.
    f.write_all(letters)
        .map_err(|e| SendError::Write(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))
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
pub fn supervise_running(dir: &Path) -> Result<bool, Errno> {
    match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(dir.join("supervise/ok"))
    {
        Ok(_) => Ok(true),
        Err(e) => match Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)) {
            Errno::ENXIO | Errno::ENOENT => Ok(false),
            Errno::EACCES => crate::lock::flock_holder(&dir.join("supervise/lock"))
                .map(|holder| holder.is_some())
                .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
            other => Err(other),
        },
    }
}
