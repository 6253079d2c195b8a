//! Fifo mode: read keepalived's notify_fifo and handle its events strictly
//! in order, one at a time, reading (and queueing) while hooks run so that
//! keepalived never stalls on a full pipe.
//!
//! Shutdown: keepalived writes its STOP events after it has been told to
//! stop — often at the same moment we are (svscan's shutdown, or keepalived
//! killing its fifo script). So a TERM does not end the loop at once: the
//! O_RDWR descriptor (which hides EOF) is swapped for a read-only one, and
//! the loop ends once every queued event is handled and either no writer
//! holds the fifo any more (EOF) or it has been quiet for `linger`.

use std::collections::VecDeque;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::signal::Signal;
use nix::sys::stat::{stat, Mode, SFlag};
use nix::unistd::mkfifo;

use crate::errors::{self, Failure, EXIT_TEMPORARY};
use crate::event::{self, Timer};
use crate::lock::{self, Lock};
use crate::tai64::Tai64N;

use super::hooks::{EventHooks, HookConfig};
use super::line::{self, Event, Parsed};
use super::statefiles::StateDir;

pub struct FifoOptions {
    pub fifo: PathBuf,
    pub states: StateDir,
    pub hooks: HookConfig,
    pub linger: Duration,
}

/// Splits bytes into lines and lines into events.
#[derive(Default)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Inside an over-long line: discard until its newline.
    skipping: bool,
}

impl LineReader {
    /// Feed bytes; returns the complete lines, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Result<String, String>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                if self.skipping {
                    self.skipping = false;
                } else {
                    let l = std::mem::take(&mut self.buf);
                    out.push(Ok(String::from_utf8_lossy(&l).into_owned()));
                }
            } else if !self.skipping {
                self.buf.push(b);
                if self.buf.len() > line::MAX_LINE {
                    let head = String::from_utf8_lossy(&self.buf[..40]).into_owned();
                    out.push(Err(format!("{head}...")));
                    self.buf.clear();
                    self.skipping = true;
                }
            }
        }
        out
    }

    /// A line without its newline yet.
    pub fn partial(&self) -> Option<String> {
        (!self.buf.is_empty()).then(|| String::from_utf8_lossy(&self.buf).into_owned())
    }
}

/// Create the fifo if missing and open it.
fn open_fifo(path: &Path, flags: OFlag) -> Result<OwnedFd, Failure> {
    match mkfifo(path, Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            return Err(Failure::sys(
                format!("unable to create fifo {}", path.display()),
                e,
            ))
        }
    }
    let st =
        stat(path).map_err(|e| Failure::sys(format!("unable to stat {}", path.display()), e))?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFIFO {
        return Err(Failure::msg(
            format!("unable to open {}", path.display()),
            "not a fifo",
        ));
    }
    open(
        path,
        flags | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Failure::sys(format!("unable to open {}", path.display()), e))
}

struct Reader<'a> {
    opts: &'a FifoOptions,
    /// The fifo, read-write (so never EOF) and locked against a second
    /// reader, which would take half the lines; until a stop begins.
    rdwr: Option<Lock>,
    /// Once stopping: the same pipe read-only, to see keepalived's EOF.
    rdonly: Option<OwnedFd>,
    lines: LineReader,
    queue: VecDeque<Event>,
    current: Option<EventHooks>,
    stopping: bool,
    eof: bool,
    linger: Timer,
    lingered: bool,
    failed: bool,
}

impl Reader<'_> {
    fn prog(&self) -> &'static str {
        self.opts.hooks.prog
    }

    /// Read everything available now.
    fn fifo_fd(&self) -> Option<BorrowedFd<'_>> {
        match (&self.rdonly, &self.rdwr) {
            (Some(fd), _) => Some(fd.as_fd()),
            (None, Some(lock)) => Some(lock.file().as_fd()),
            (None, None) => None,
        }
    }

    fn read_fifo(&mut self) {
        let mut data = Vec::new();
        let mut failure = None;
        if let Some(fd) = self.fifo_fd() {
            let mut chunk = [0u8; 8192];
            loop {
                match nix::unistd::read(fd, &mut chunk) {
                    Ok(0) => {
                        self.eof = true;
                        break;
                    }
                    Ok(n) => data.extend_from_slice(&chunk[..n]),
                    Err(Errno::EINTR) => continue,
                    Err(Errno::EAGAIN) => break,
                    Err(e) => {
                        failure = Some(e);
                        self.eof = true;
                        break;
                    }
                }
            }
        }
        if let Some(e) = failure {
            errors::warn(self.prog(), Failure::sys("unable to read fifo", e));
        }
        let mut got_lines = false;
        for l in self.lines.feed(&data) {
            got_lines = true;
            self.take_line(l);
        }
        if self.eof {
            self.rdwr = None;
            self.rdonly = None;
            if let Some(p) = self.lines.partial() {
                self.lines = LineReader::default();
                self.take_line(Ok(p));
            }
        }
        if got_lines && self.stopping {
            self.linger.arm(self.opts.linger);
            self.lingered = false;
        }
    }

    fn take_line(&mut self, l: Result<String, String>) {
        match l {
            Err(head) => errors::warn(
                self.prog(),
                format_args!("ignoring malformed line {head:?}: line too long"),
            ),
            Ok(text) => match line::parse_fifo_line(&text) {
                Parsed::Event(e) => self.queue.push_back(e),
                Parsed::Ignored => {}
                Parsed::Malformed(why) => errors::warn(
                    self.prog(),
                    format_args!("ignoring malformed line {text:?}: {why}"),
                ),
            },
        }
    }

    /// Start queued events while nothing runs.
    fn dispatch(&mut self) {
        loop {
            if let Some(run) = &mut self.current {
                run.progress();
                if !run.is_done() {
                    return;
                }
                self.current = None;
            }
            let Some(ev) = self.queue.pop_front() else {
                return;
            };
            if let Err(f) = self.opts.states.record(&ev, Tai64N::now()) {
                errors::warn(self.prog(), f);
            }
            self.current = Some(EventHooks::start(&self.opts.hooks, &ev));
        }
    }

    fn idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// TERM or INT: stop reading once keepalived has said its last.
    fn begin_stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        // Reopen the very pipe we hold (not the path, which may have been
        // replaced) read-only, before closing the O_RDWR descriptor, so the
        // pipe and anything buffered in it never lose their last holder.
        if let Some(lock) = &self.rdwr {
            let me = format!("/proc/self/fd/{}", lock.file().as_raw_fd());
            match open(
                me.as_str(),
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => {
                    self.rdonly = Some(fd);
                    self.rdwr = None;
                }
                // Keep reading read-write: the linger time ends it.
                Err(e) => errors::warn(
                    self.prog(),
                    Failure::sys(format!("unable to reopen {}", self.opts.fifo.display()), e),
                ),
            }
        }
        self.linger.arm(self.opts.linger);
    }
}

/// Run fifo mode until stopped; returns the exit code.
pub fn run(opts: &FifoOptions) -> i32 {
    let prog = opts.hooks.prog;
    crate::sys::ignore_sigpipe();
    let signals = match event::signal_fd(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP]) {
        Ok(s) => s,
        Err(e) => errors::die(
            prog,
            EXIT_TEMPORARY,
            Failure::sys("unable to create signalfd", e),
        ),
    };
    if let Err(f) = opts.states.ensure() {
        errors::die(prog, EXIT_TEMPORARY, f);
    }
    let fifo = match open_fifo(&opts.fifo, OFlag::O_RDWR) {
        Ok(fd) => fd,
        Err(f) => errors::die(prog, EXIT_TEMPORARY, f),
    };
    let fifo = match lock::try_exclusive(File::from(fifo)) {
        Ok(l) => l,
        Err(e) => errors::die(
            prog,
            EXIT_TEMPORARY,
            Failure::sys(format!("unable to lock {}", opts.fifo.display()), e),
        ),
    };
    let linger = match Timer::new() {
        Ok(t) => t,
        Err(e) => errors::die(
            prog,
            EXIT_TEMPORARY,
            Failure::sys("unable to create timerfd", e),
        ),
    };
    let mut r = Reader {
        opts,
        rdwr: Some(fifo),
        rdonly: None,
        lines: LineReader::default(),
        queue: VecDeque::new(),
        current: None,
        stopping: false,
        eof: false,
        linger,
        lingered: false,
        failed: false,
    };
    loop {
        if r.fifo_fd().is_none() && !r.stopping {
            // Only a read error gets here (O_RDWR never sees EOF): finish
            // what is queued, then let supervise start a fresh reader.
            r.stopping = true;
            r.failed = true;
        }
        if r.stopping && r.idle() && (r.eof || r.lingered) {
            if let Some(p) = r.lines.partial() {
                errors::warn(prog, format_args!("dropping incomplete line {p:?}"));
            }
            return if r.failed { EXIT_TEMPORARY } else { 0 };
        }
        let mut fds = vec![signals.as_fd(), r.linger.as_fd()];
        if let Some(f) = r.fifo_fd() {
            fds.push(f);
        }
        if let Some(run) = &r.current {
            fds.extend(run.fds());
        }
        let polled = event::wait_readable(&fds, None);
        drop(fds);
        if let Err(e) = polled {
            errors::die(prog, EXIT_TEMPORARY, Failure::sys("unable to poll", e));
        }
        for sig in event::pending_signals(&signals) {
            if sig == libc::SIGTERM || sig == libc::SIGINT {
                r.begin_stop();
            }
            // HUP: nothing to reload; the signal just must not kill us.
        }
        if r.linger.take_expiry() {
            r.lingered = true;
        }
        r.read_fifo();
        r.dispatch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_reads() {
        let mut lr = LineReader::default();
        assert!(lr.feed(b"INSTANCE \"a\" MAS").is_empty());
        assert_eq!(lr.partial().as_deref(), Some("INSTANCE \"a\" MAS"));
        let v = lr.feed(b"TER 1\nX\n");
        assert_eq!(
            v,
            vec![Ok("INSTANCE \"a\" MASTER 1".into()), Ok("X".into())]
        );
        let long = vec![b'x'; line::MAX_LINE + 10];
        let v = lr.feed(&long);
        assert_eq!(v.len(), 1);
        assert!(v[0].is_err());
        assert_eq!(lr.feed(b"tail\nok\n"), vec![Ok("ok".into())]);
    }
}
