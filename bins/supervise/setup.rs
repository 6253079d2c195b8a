//! Taking ownership of a service directory: supervise/ with its lock,
//! control and ok FIFOs (doc/DESIGN.md, supervise/ — the wire format). Nothing is created or written in a
//! directory that cannot be trusted: supervise waits until it is fixed.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signalfd::SignalFd;

use super::PROG;
use upkeep::errors::{self, Fatal};
use upkeep::event;
use upkeep::lock::{self, Lock};
use upkeep::runtimefile::Dir;
use upkeep::trust::Trust;

/// How long a new supervise waits for a lock still held by a predecessor
/// that is dying (killed, its descriptors not yet all closed).
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// How often an untrusted dir is looked at again without a change seen.
const RECHECK: Duration = Duration::from_secs(5);

/// What supervise holds open for its whole life.
pub struct Owned {
    /// supervise/, checked and held open: runtime files go there.
    pub dir: Dir,
    /// Held, not read: the lock lives as long as this file stays open.
    pub _lock: Lock,
    pub control: File,
    /// Held open so `svok` finds a reader.
    pub _ok: File,
}

fn errno_of(e: &io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// With cwd the service dir: wait until it (and supervise/ if present) can
/// be trusted, saying why not once per reason. Nothing is created meanwhile.
/// `Ok(false)` when told to stop (TERM, INT, HUP) while waiting.
pub fn wait_until_trusted(shown: &str, trust: &Trust, signals: &SignalFd) -> Result<bool, Fatal> {
    let here = Path::new(".");
    let Some(mut why) = trust.judge_dir(here) else {
        return Ok(true);
    };
    let refuse = |why: &str| {
        errors::warn(
            PROG,
            format_args!("refusing to start {shown}: {why}; waiting until it is fixed"),
        )
    };
    refuse(&why);
    // A fix is a change of mode or owner (or a replaced supervise/): watch
    // for it instead of polling.
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| Fatal::sys("unable to create inotify", e))?;
    let changes = AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO;
    inotify
        .add_watch(here, changes)
        .map_err(|e| Fatal::sys(format!("unable to watch {shown}"), e))?;
    let _ = inotify.add_watch("supervise", changes);
    loop {
        // The watch sees the dir and supervise/; a fix further away (a
        // directory on the way to supervise/'s target) is seen at the next
        // look, as daemontools' svscan looks every 5 s.
        let ready = event::wait_readable(&[inotify.as_fd(), signals.as_fd()], Some(RECHECK))
            .map_err(|e| Fatal::sys("poll failed", e))?;
        if ready[1] {
            let stop = event::pending_signals(signals)
                .iter()
                .any(|&s| s != libc::SIGCHLD);
            if stop {
                return Ok(false);
            }
        }
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
        }
        let _ = inotify.add_watch("supervise", changes);
        match trust.judge_dir(here) {
            None => return Ok(true),
            Some(now) if now != why => {
                refuse(&now);
                why = now;
            }
            Some(_) => {}
        }
    }
}

/// With cwd the trusted service dir (`shown` is its name as the user gave
/// it): create supervise/, take the lock, make and open the FIFOs, each the
/// one safe way (runtimefile). Errors carry daemontools' wording, exit 111.
pub fn take_ownership(shown: &str) -> Result<Owned, Fatal> {
    match std::fs::DirBuilder::new().mode(0o755).create("supervise") {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Fatal::io(format!("unable to create {shown}/supervise"), &e)),
    }
    let dir = Dir::open(Path::new("supervise"))
        .map_err(|e| Fatal::io(format!("unable to open {shown}/supervise"), &e))?;
    if dir.is_shared() {
        // Sticky but writable by others: not ours alone.
        return Err(Fatal::msg(
            format!("unable to open {shown}/supervise"),
            "refusing supervise: a directory writable by others",
        ));
    }
    let lock = acquire_lock(&dir, shown)?;
    let fifo = |name: &str| {
        let (file, replaced) = dir.open_fifo(OsStr::new(name), 0o600).map_err(|e| {
            let what = format!("unable to open {shown}/supervise/{name}");
            Fatal::io(what, &e)
        })?;
        if replaced {
            errors::warn(
                PROG,
                format_args!("{shown}/supervise/{name} was a regular file: replaced by a FIFO"),
            );
        }
        Ok::<File, Fatal>(file)
    };
    let control = fifo("control")?;
    let ok = fifo("ok")?;
    // ok before the lock: while a child still has the lock, svok finds its
    // taker dead; once the lock is closed, it must find no reader of ok.
    upkeep::spawn::close_first_in_children(&[
        ok.as_raw_fd(),
        control.as_raw_fd(),
        lock.file().as_raw_fd(),
        dir.as_fd().as_raw_fd(),
    ]);
    Ok(Owned {
        dir,
        _lock: lock,
        control,
        _ok: ok,
    })
}

/// Take supervise/lock. When it is held, wait up to LOCK_WAIT for its
/// holder to close it: a predecessor killed a moment ago (or a child it
/// forked that has not closed it yet) is gone within that time; a live
/// supervise is not, and then this one exits 111 as daemontools' does.
fn acquire_lock(dir: &Dir, shown: &str) -> Result<Lock, Fatal> {
    let fail = |e: Errno| Fatal::sys(format!("unable to acquire {shown}/supervise/lock"), e);
    let mut file = dir
        .open_lock(OsStr::new("lock"), 0o644)
        .map_err(|e| fail(errno_of(&e)))?;
    let deadline = Instant::now() + LOCK_WAIT;
    let mut closes = None;
    loop {
        match lock::try_exclusive_or_keep(file) {
            Ok(lock) => return Ok(lock),
            Err((f, Errno::EAGAIN)) => file = f,
            Err((_, e)) => return Err(fail(e)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(fail(Errno::EAGAIN));
        }
        if closes.is_none() {
            // Watch for the holder's close; then try once more, so a close
            // between the try and the watch is not missed.
            let inotify =
                Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).map_err(fail)?;
            inotify
                .add_watch(
                    "supervise/lock",
                    AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_CLOSE_NOWRITE,
                )
                .map_err(fail)?;
            closes = Some(inotify);
            continue;
        }
        if let Some(inotify) = &closes {
            let _ = event::wait_readable(&[inotify.as_fd()], Some(left));
            while let Ok(events) = inotify.read_events() {
                if events.is_empty() {
                    break;
                }
            }
        }
    }
}
