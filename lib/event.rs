//! The pieces of an event loop: signals as a descriptor (signalfd), one-shot
//! timers as descriptors (timerfd), and poll(2) with EINTR handled.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

/// Block `signals` and return a signalfd that delivers them. Children get
/// an empty mask back (spawn resets it).
pub fn signal_fd(signals: &[Signal]) -> Result<SignalFd, Errno> {
    let mut set = SigSet::empty();
    for s in signals {
        set.add(*s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// A daemon's start, the same for all: a write to a closed pipe is an
/// EPIPE error rather than death, and `signals` arrive through the
/// returned signalfd, as events of the poll loop.
pub fn daemon_signals(signals: &[Signal]) -> Result<SignalFd, Errno> {
    crate::sys::ignore_sigpipe();
    signal_fd(signals)
}

/// Raise the soft limit on open files to the hard one (a daemon that holds
/// descriptors per service); failure leaves the soft limit.
pub fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// Every signal waiting on `fd`, drained.
pub fn pending_signals(fd: &SignalFd) -> Vec<i32> {
    let mut out = Vec::new();
    each_pending_signal(fd, |sig| out.push(sig));
    out
}

/// Drain `fd`, calling `f` with each signal's number; several a read,
/// into the stack (supervise's restart path allocates nothing).
pub fn each_pending_signal(fd: &SignalFd, mut f: impl FnMut(i32)) {
    // A signalfd_siginfo is 128 bytes, ssi_signo its first u32.
    const INFO: usize = 128;
    let mut buf = [0u8; INFO * 8];
    loop {
        let n = match nix::unistd::read(fd, &mut buf) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        };
        for info in buf[..n].chunks_exact(INFO) {
            f(u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32);
        }
        // A short read took all there was.
        if n < buf.len() {
            return;
        }
    }
}

/// A one-shot monotonic timer whose expiry makes its descriptor readable.
pub struct Timer {
    fd: TimerFd,
    deadline: Option<Instant>,
}

impl Timer {
    pub fn new() -> Result<Timer, Errno> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(Timer { fd, deadline: None })
    }

    /// Fire once after `d` (replacing any earlier setting). A `d` beyond
    /// [`crate::duration::MAX`] is cut to it: no deadline can overflow.
    pub fn arm(&mut self, d: Duration) {
        // A zero it_value would disarm the timer: fire after 1ns instead.
        let d = d.clamp(Duration::from_nanos(1), crate::duration::MAX);
        let _ = self.fd.set(
            Expiration::OneShot(TimeSpec::from_duration(d)),
            TimerSetTimeFlags::empty(),
        );
        self.deadline = Some(Instant::now() + d);
    }

    pub fn cancel(&mut self) {
        if self.deadline.is_none() {
            return; // nothing to undo: spare the system calls on the hot path
        }
        let _ = self.fd.unset();
        self.drain();
        self.deadline = None;
    }

    pub fn is_armed(&self) -> bool {
        self.deadline.is_some()
    }

    /// Call when the descriptor polled readable: true if the timer expired
    /// (and is now disarmed).
    pub fn take_expiry(&mut self) -> bool {
        if self.drain() {
            self.deadline = None;
            true
        } else {
            false
        }
    }

    fn drain(&self) -> bool {
        let mut buf = [0u8; 8];
        matches!(nix::unistd::read(&self.fd, &mut buf), Ok(8))
    }
}

impl AsFd for Timer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// poll(2) the given descriptors for input, retrying on EINTR. Returns the
/// readiness (any of IN, HUP, ERR) of each, in order. `None` waits forever.
pub fn wait_readable(
    fds: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> Result<Vec<bool>, Errno> {
    let mut pfds: Vec<PollFd> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    poll(&mut pfds, timeout)?;
    Ok(pfds.iter().map(was_ready).collect())
}

/// poll(2) `pfds` as they are (storage of the caller's: supervise keeps
/// them on the stack), retrying on EINTR. `None` waits forever.
pub fn poll(pfds: &mut [PollFd<'_>], timeout: Option<Duration>) -> Result<(), Errno> {
    let timeout = match timeout {
        None => PollTimeout::NONE,
        Some(d) => PollTimeout::try_from(d.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX),
    };
    loop {
        match nix::poll::poll(pfds, timeout) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Any of IN, HUP, ERR in what poll returned for `pfd`.
pub fn was_ready(pfd: &PollFd<'_>) -> bool {
    pfd.revents().is_some_and(|r| !r.is_empty())
}

/// How a reaped child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

/// Reap every child that has ended, without waiting (after SIGCHLD).
/// EINTR is retried; stopped or continued children are not reported.
pub fn reap_children() -> Vec<(nix::unistd::Pid, Ended)> {
    let mut out = Vec::new();
    reap_each(|pid, ended| out.push((pid, ended)));
    out
}

/// Reap every child that has ended, calling `f` for each as it is reaped
/// (no list: supervise's restart path allocates nothing).
pub fn reap_each(mut f: impl FnMut(nix::unistd::Pid, Ended)) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => f(pid, Ended::Exited(code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) => f(pid, Ended::Signaled(sig as i32)),
            Ok(WaitStatus::StillAlive) => return,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}
