//! The log pipe across svscan's own death. svscan holds both ends of each
//! service's pipe; killed with SIGKILL it takes them along, but the
//! supervisors it started survive and still hold theirs. A new svscan
//! reopens that same pipe through /proc/PID/fd/N of a survivor (Linux
//! reopens a pipe there as it would a FIFO), so when a supervise dies
//! later its replacement is given the pipe the other side still uses —
//! through any number of scanner deaths.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::Pid;

use upkeep::{lock, procfs, status};

/// The pid of the supervise running on `dir`, from its lock.
fn supervisor_of(dir: &Path) -> Option<u32> {
    lock::flock_holder(&dir.join("supervise/lock"))
        .ok()
        .flatten()
}

/// /proc/PID/fd/N, if PID is a process of our own user: anyone who can
/// open a lock file can hold its flock, and root's svscan never takes a
/// pipe from a process another user controls on that ground alone.
fn own_fd_path(pid: u32, fd: i32) -> Option<PathBuf> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let owner = std::fs::metadata(&proc_dir).ok()?.uid();
    (owner == nix::unistd::geteuid().as_raw()).then(|| proc_dir.join(format!("fd/{fd}")))
}

/// Is DIR/supervise/state what our own (or root's) supervise wrote, in a
/// directory nobody else can write? Only then does the pid in it name the
/// logger (which may run as another user, through setuidgid).
fn trusted_state(dir: &Path) -> bool {
    let supervise = dir.join("supervise");
    let Ok(st) = std::fs::symlink_metadata(supervise.join("state")) else {
        return false;
    };
    let me = nix::unistd::geteuid().as_raw();
    upkeep::runtimefile::Dir::open(&supervise).is_ok()
        && st.file_type().is_file()
        && (st.uid() == me || st.uid() == 0)
        && st.mode() & 0o022 == 0
}

fn open_pipe_end(path: &Path, write: bool) -> Option<OwnedFd> {
    // Non-blocking: a FIFO-style open never waits (the read end is opened
    // first, so the write end always finds a reader).
    let file: File = OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    fcntl(&file, FcntlArg::F_SETFL(OFlag::empty())).ok()?;
    Some(file.into())
}

/// Both ends of the pipe that is PID's fd N: (read, write). None unless it
/// is an anonymous pipe (a named FIFO or a file is never taken for one).
fn reopen(path: PathBuf) -> Option<(OwnedFd, OwnedFd)> {
    let link = std::fs::read_link(&path).ok()?;
    if !link.as_os_str().as_encoded_bytes().starts_with(b"pipe:[") {
        return None;
    }
    let read = open_pipe_end(&path, false)?;
    // The same pipe as the link named, not what the fd became meanwhile.
    let ino = nix::sys::stat::fstat(&read).ok()?.st_ino;
    if link.as_os_str().as_encoded_bytes() != format!("pipe:[{ino}]").as_bytes() {
        return None;
    }
    let own = PathBuf::from(format!("/proc/self/fd/{}", raw(&read)));
    let write = open_pipe_end(&own, true)?;
    Some((read, write))
}

fn raw(fd: &impl AsFd) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_fd().as_raw_fd()
}

/// The pipe between `service` and `service/log`, taken back from what a
/// killed svscan left running: the log supervise's stdin (svscan gave it
/// the pipe there), else the logger's own stdin.
pub(super) fn recover(service: &Path) -> Option<(OwnedFd, OwnedFd)> {
    let log = service.join("log");
    if let Some(pid) = supervisor_of(&log) {
        if let Some(pipe) = own_fd_path(pid, 0).and_then(reopen) {
            // Still the same process (a dead one's pid would have released
            // the lock): its stdin was the pipe.
            if supervisor_of(&log) == Some(pid) {
                return Some(pipe);
            }
        }
    }
    // The logger's stdin gives it no more than it already has: the
    // service's output, and a pipe it could write into itself.
    if !trusted_state(&log) {
        return None;
    }
    let state = status::read_state(&log)?;
    let pid = Pid::from_raw(i32::try_from(state.pid).ok().filter(|&p| p > 0)?);
    let same = || state.starttime != 0 && procfs::start_time(pid) == Some(state.starttime);
    if !same() {
        return None;
    }
    let pipe = reopen(PathBuf::from(format!("/proc/{}/fd/0", state.pid)))?;
    same().then_some(pipe)
}

/// Does a supervise on `dir` we did not start write into `pipe`? None if
/// none runs; Some(false) if it writes elsewhere (it was started before
/// log/ existed, or by an svscan whose pipe could not be recovered).
pub(super) fn foreign_writes_into(dir: &Path, pipe: &OwnedFd) -> Option<bool> {
    let pid = supervisor_of(dir)?;
    let ours = nix::sys::stat::fstat(pipe).ok()?;
    let theirs = own_fd_path(pid, 1).and_then(|p| std::fs::metadata(p).ok());
    Some(theirs.is_some_and(|m| m.dev() == ours.st_dev && m.ino() == ours.st_ino))
}
