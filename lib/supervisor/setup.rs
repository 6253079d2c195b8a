//! Taking ownership of a service directory: supervise/ with its lock,
//! control and ok FIFOs (DESIGN §4).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::Mode;

use crate::errors::{Failure, EXIT_TEMPORARY};
use crate::lock::{self, Lock};

/// What supervise holds open for its whole life.
pub struct Owned {
    /// Held, not read: the lock lives as long as this file stays open.
    pub _lock: Lock,
    pub control: File,
    /// Held open so `svok` finds a reader.
    pub _ok: File,
}

fn errno_of(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// With cwd already the service dir (`shown` is its name as the user gave
/// it): create supervise/, take the lock, make and open the FIFOs.
/// Errors carry daemontools' wording and exit 111.
pub fn take_ownership(shown: &str) -> Result<Owned, (i32, Failure)> {
    match std::fs::DirBuilder::new().mode(0o755).create("supervise") {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err((
                EXIT_TEMPORARY,
                Failure::io(format!("unable to create {shown}/supervise"), &e),
            ))
        }
    }
    let lock_fail = |e: Errno| {
        (
            EXIT_TEMPORARY,
            Failure::sys(format!("unable to acquire {shown}/supervise/lock"), e),
        )
    };
    let file =
        lock::open_lock_file(Path::new("supervise/lock")).map_err(|e| lock_fail(errno_of(&e)))?;
    let lock = lock::try_exclusive(file).map_err(lock_fail)?;

    let control = open_fifo("supervise/control", shown)?;
    let ok = open_fifo("supervise/ok", shown)?;
    Ok(Owned {
        _lock: lock,
        control,
        _ok: ok,
    })
}

/// mkfifo (mode 0600) if missing, then open it read-write and non-blocking:
/// supervise is then always a reader (so writers can open it) and also a
/// writer (so it never reads EOF).
fn open_fifo(path: &str, shown: &str) -> Result<File, (i32, Failure)> {
    let short = path.trim_start_matches("supervise/");
    match nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            return Err((
                EXIT_TEMPORARY,
                Failure::sys(format!("unable to mkfifo {shown}/supervise/{short}"), e),
            ))
        }
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            (
                EXIT_TEMPORARY,
                Failure::io(format!("unable to open {shown}/supervise/{short}"), &e),
            )
        })
}
