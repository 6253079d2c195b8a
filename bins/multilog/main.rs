//! multilog script: log stdin's lines to rotated directories, alerts and
//! status files (daemontools' actions `t s n ! + - e = dir`), as
//! daemontools' multilog does, without ever dropping a line.
//!
//! One event loop: stdin, a signalfd (TERM: finish the line and exit; ALRM:
//! rotate now), a timerfd (retry a failed disk operation every second) and
//! the pidfd of a running processor. Output is queued per directory; input
//! is read only when every queue is on disk, so a full disk stops the
//! reading and the writer blocks on the pipe instead of losing lines.
#![forbid(unsafe_code)]

mod files;
mod lines;
mod logdir;
mod plan;
mod queue;
mod script;
mod statusfile;
mod steps;

use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::stat::{umask, Mode};

use logdir::{LogDir, Progress};
use queue::Op;
use script::Script;
use statusfile::StatusFile;
use upkeep::errors::{self, Fatal};
use upkeep::event::{self, Timer};

const PROG: &str = "multilog";
/// daemontools reads input 1024 bytes at a time and flushes its buffers
/// between reads; cutting what is read into the same pieces, with a flush
/// between them, gives the same file boundaries.
const INPUT: usize = 1024;
/// What one read takes: many of daemontools' reads at once.
const READ: usize = 64 * INPUT;
/// How long to wait before retrying a failed disk operation.
const RETRY: Duration = Duration::from_secs(1);

struct Multilog {
    script: Script,
    dirs: Vec<LogDir>,
    status: Vec<StatusFile>,
    line: Vec<u8>,
    overflow: bool,
}

impl Multilog {
    /// Open status files, then directories, in script order; any failure is
    /// fatal before input is read.
    fn open(script: Script) -> Result<Multilog, Fatal> {
        let status = script
            .status_files
            .iter()
            .map(|p| StatusFile::open(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut dirs = Vec::with_capacity(script.dirs.len());
        for cfg in &script.dirs {
            let mut d = LogDir::open(cfg)?;
            // Recover each directory before opening the next, as daemontools
            // does; a step that must wait is left to the event loop.
            d.run_plan()?;
            dirs.push(d);
        }
        Ok(Multilog {
            script,
            dirs,
            status,
            line: Vec::with_capacity(lines::LINE_MAX),
            overflow: false,
        })
    }

    /// Write everything queued (status files, then directories).
    fn drain(&mut self) -> Result<Progress, Fatal> {
        let mut worst = Progress::Idle;
        for s in &mut self.status {
            if !s.drain() {
                worst = Progress::Stalled;
            }
        }
        for d in &mut self.dirs {
            match d.drain()? {
                Progress::Idle => {}
                Progress::Waiting if worst == Progress::Idle => worst = Progress::Waiting,
                Progress::Waiting => {}
                Progress::Stalled => worst = Progress::Stalled,
            }
        }
        Ok(worst)
    }

    /// What daemontools does before each read: flush the buffers, and
    /// rotate if SIGALRM asked for it. True if something was queued.
    fn flush_point(&mut self, rotate: bool) -> bool {
        for d in &mut self.dirs {
            d.queue.flush();
            if rotate {
                d.queue.push(Op::Rotate);
            }
        }
        !self.dirs.iter().all(|d| d.queue.is_idle())
    }

    fn close(&mut self) {
        for d in &mut self.dirs {
            d.queue.flush();
            d.queue.push(Op::Close);
        }
    }

    fn waiting_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.dirs.iter().filter_map(|d| d.waiting_on()).collect()
    }

    fn waiting_without_fd(&self) -> bool {
        self.dirs.iter().any(
            |d| matches!(d.plan.front(), Some(plan::Step::WaitProcessor(r)) if r.pidfd.is_none()),
        )
    }
}

/// `multilog: warning: MESSAGE` in one write, so it never interleaves with
/// `e` alerts or other writers on the same stderr.
fn warn(message: &str) {
    errors::warn(PROG, message);
}

/// Signals multilog acts on, noted by the loop.
#[derive(Default)]
struct Flags {
    exit: bool,
    rotate: bool,
}

fn note_signals(sfd: &nix::sys::signalfd::SignalFd, flags: &mut Flags) {
    for sig in event::pending_signals(sfd) {
        if sig == libc::SIGTERM {
            flags.exit = true;
        } else if sig == libc::SIGALRM {
            flags.rotate = true;
        }
    }
}

/// multilog's main: the exit code at the end of input, or what was fatal.
fn run(args: &[OsString]) -> Result<i32, Fatal> {
    umask(Mode::from_bits_truncate(0o022));
    let sfd = event::signal_fd(&[Signal::SIGTERM, Signal::SIGALRM])
        .map_err(|e| Fatal::sys("unable to create signalfd", e))?;
    let mut timer = Timer::new().map_err(|e| Fatal::sys("unable to create timerfd", e))?;
    let mut ml = Multilog::open(script::parse(args))?;
    let stdin = std::io::stdin();
    let input = stdin.as_fd();
    let mut buf = vec![0u8; READ];
    let mut flags = Flags::default();
    let mut eof = false;
    let mut closing = false;
    loop {
        // Output first: input waits until everything read so far is on disk.
        let retry_due = !timer.is_armed();
        let progress = if retry_due {
            ml.drain()?
        } else {
            Progress::Stalled
        };
        if progress != Progress::Idle {
            if (progress == Progress::Stalled || ml.waiting_without_fd()) && !timer.is_armed() {
                timer.arm(RETRY);
            }
            let mut fds: Vec<BorrowedFd> = vec![sfd.as_fd(), timer.as_fd()];
            fds.extend(ml.waiting_fds());
            let ready =
                event::wait_readable(&fds, None).map_err(|e| Fatal::sys("unable to poll", e))?;
            if ready[0] {
                note_signals(&sfd, &mut flags);
            }
            if ready[1] {
                timer.take_expiry();
            }
            if ready[2..].iter().any(|&r| r) {
                // A processor ended: look at it now.
                timer.cancel();
            }
            continue;
        }
        if timer.is_armed() {
            timer.cancel();
        }
        if closing {
            return Ok(0);
        }
        if ml.flush_point(std::mem::take(&mut flags.rotate)) {
            continue;
        }
        if eof || (flags.exit && !ml.mid_line()) {
            // SIGTERM at a line boundary ends like end of input.
            ml.end_of_input();
            ml.close();
            closing = true;
            continue;
        }
        let ready = event::wait_readable(&[input, sfd.as_fd()], None)
            .map_err(|e| Fatal::sys("unable to poll", e))?;
        if ready[1] {
            note_signals(&sfd, &mut flags);
            continue;
        }
        if !ready[0] {
            continue;
        }
        // After SIGTERM, read byte by byte so nothing past the line's end
        // is taken from stdin.
        let want = if flags.exit { 1 } else { READ };
        match nix::unistd::read(input, &mut buf[..want]) {
            Ok(0) => eof = true,
            Ok(n) => {
                // A flush after every piece, the last one included (the
                // flush before the next read then has nothing left): the
                // whole read goes out in one write, not a second one for
                // its last piece.
                for piece in buf[..n].chunks(INPUT) {
                    ml.feed(piece);
                    ml.flush_point(false);
                }
            }
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
            // daemontools treats a read error as the end of input.
            Err(_) => eof = true,
        }
    }
}

const HELP: &str = "usage: multilog script
Log lines from stdin to automatically rotated directories.  Script items:
t (TAI64N stamps), sN (file size), nN (files kept), !processor, +/-pattern
(select lines), e (to stderr), =file (status), ./dir or /dir (a log dir).
A write error (disk full) never drops a line: multilog stops reading and
retries every second.
Exit: 0 at end of input; 111 on a fatal system error, 100 on usage.
See multilog(8).
";

fn main() {
    if upkeep::help::answered("multilog", HELP) {
        return;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match run(&args) {
        Ok(code) => std::process::exit(code),
        Err(fatal) => errors::exit(PROG, &fatal),
    }
}
