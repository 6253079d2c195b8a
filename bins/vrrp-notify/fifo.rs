//! Fifo mode: read keepalived's notify_fifo and handle its events in order,
//! reading (and queueing) while hooks run so that keepalived never stalls on
//! a full pipe.
//!
//! A kill at any moment loses nothing: the fifo is peeked (tee(2)), the
//! newest event of each set of state files in what was peeked is applied
//! (journal, state file, `.current`), and only then are those bytes
//! consumed. Lines not yet applied stay in the kernel's pipe, which
//! keepalived holds open; an applied event whose hooks had not finished is
//! marked so in its journal, and the next start runs them again (hooks are
//! idempotent). A hook dies with a killed reader (parent death signal), so
//! a superseded hook never runs on beside its successor.
//!
//! Shutdown: keepalived writes its STOP events after it has been told to
//! stop — often at the same moment we are (svscan's shutdown, or keepalived
//! killing its fifo script). So a TERM does not end the loop at once: the
//! O_RDWR descriptor (which hides EOF) is swapped for a read-only one, and
//! the loop ends once every queued event is handled and either no writer
//! holds the fifo any more (EOF) or it has been quiet for `linger`.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;

use upkeep::errors::{self, Fatal, EXIT_TEMPORARY};
use upkeep::event::{self, Timer};
use upkeep::lock::Lock;
use upkeep::sys;
use upkeep::tai64::Tai64N;

use crate::hooks::{EventHooks, HookConfig};
use crate::line::{self, Event, Parsed};
use crate::pipe::{lock_fifo, open_fifo, read_exactly, LineReader};
use crate::statefiles::{Entry, StateDir};

pub struct FifoOptions {
    pub fifo: PathBuf,
    pub states: StateDir,
    pub hooks: HookConfig,
    pub linger: Duration,
}

/// Events of the same instance or group: a newer one supersedes.
fn same_source(a: &Event, b: &Event) -> bool {
    a.kind == b.kind && a.name == b.name
}

/// An event whose hooks are still to run.
struct Queued {
    event: Event,
    key: String,
    serial: u64,
}

struct Reader<'a> {
    opts: &'a FifoOptions,
    /// The fifo, read-write (so never EOF) and locked against a second
    /// reader, which would take half the lines; until a stop begins.
    rdwr: Option<Lock>,
    /// Once stopping: the same pipe read-only, to see keepalived's EOF.
    rdonly: Option<OwnedFd>,
    /// A pipe of our own that tee(2) copies the fifo's bytes into.
    peek_r: OwnedFd,
    peek_w: OwnedFd,
    peek_max: usize,
    lines: LineReader,
    queue: VecDeque<Queued>,
    current: Option<(EventHooks, Queued)>,
    /// The newest event applied to each set of state files, by serial.
    newest: HashMap<String, (u64, Entry)>,
    serial: u64,
    /// Journals of a killed predecessor whose hooks had not finished.
    recovering: Vec<Entry>,
    /// A state file could not be written: the fifo is left alone (its
    /// lines unconsumed) until the retry timer fires.
    blocked: bool,
    reported: bool,
    /// The last batch could not be applied (it is retried).
    apply_failed: bool,
    /// Journals whose "hooks done" could not be written yet.
    undone: Vec<Entry>,
    retry: Timer,
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

    fn fifo_fd(&self) -> Option<BorrowedFd<'_>> {
        match (&self.rdonly, &self.rdwr) {
            (Some(fd), _) => Some(fd.as_fd()),
            (None, Some(lock)) => Some(lock.file().as_fd()),
            (None, None) => None,
        }
    }

    /// Copy what the fifo holds without consuming it.
    fn peek(&mut self) -> Vec<u8> {
        let Some(fd) = self.fifo_fd() else {
            return Vec::new();
        };
        let n = match sys::tee_nonblock(&fd.as_raw_fd(), &self.peek_w, self.peek_max) {
            Ok(0) => {
                self.eof = true;
                0
            }
            Ok(n) => n,
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => 0,
            Err(e) => {
                errors::warn(self.prog(), Fatal::sys("unable to read fifo", e));
                self.eof = true;
                0
            }
        };
        let mut data = vec![0u8; n];
        let got = read_exactly(&self.peek_r, &mut data);
        data.truncate(got);
        // A peek that filled our pipe may have cut a line that goes on in
        // the fifo: leave its start there too (unless no line ends at all).
        if got == self.peek_max {
            if let Some(nl) = data.iter().rposition(|&b| b == b'\n') {
                data.truncate(nl + 1);
            }
        }
        data
    }

    /// Consume `n` bytes already peeked (and applied).
    fn consume(&mut self, n: usize) {
        if let Some(fd) = self.fifo_fd() {
            let mut sink = vec![0u8; n];
            let _ = read_exactly(&fd, &mut sink);
        }
    }

    fn read_fifo(&mut self) {
        if self.blocked {
            return;
        }
        let data = self.peek();
        let before = self.lines.clone();
        let mut events = Vec::new();
        let mut warnings = Vec::new();
        for l in self.lines.feed(&data) {
            parse(l, &mut events, &mut warnings);
        }
        if self.eof {
            if let Some(p) = self.lines.partial() {
                self.lines = LineReader::default();
                parse(Ok(p), &mut events, &mut warnings);
            }
        }
        // A predecessor's unfinished event comes first, unless the fifo
        // still holds a line of the same instance or group (then it was
        // not consumed, or is superseded).
        let mut batch: Vec<(Event, Option<Tai64N>)> = Vec::new();
        for r in std::mem::take(&mut self.recovering) {
            if !events.iter().any(|e| same_source(e, &r.event)) {
                batch.push((r.event, Some(r.at)));
            }
        }
        batch.extend(events.into_iter().map(|e| (e, None)));
        if let Err(f) = self.apply(&batch) {
            self.apply_failed = true;
            self.write_failed(f);
            self.lines = before;
            self.recovering = batch
                .into_iter()
                .filter_map(|(e, at)| at.map(|at| Entry::new(e, at)))
                .collect();
            self.blocked = true;
            return;
        }
        if !batch.is_empty() {
            self.apply_failed = false;
            self.write_worked();
        }
        self.consume(data.len());
        for w in warnings {
            errors::warn(self.prog(), w);
        }
        if self.eof {
            self.rdwr = None;
            self.rdonly = None;
        }
        if !batch.is_empty() && self.stopping {
            self.linger.arm(self.opts.linger);
            self.lingered = false;
        }
    }

    /// Apply the newest event of each set of state files in `batch`, and
    /// queue the hooks of the newest event of each instance or group in
    /// place of any of its events not yet started.
    fn apply(&mut self, batch: &[(Event, Option<Tai64N>)]) -> Result<(), Fatal> {
        let states = &self.opts.states;
        let now = Tai64N::now();
        let mut newest: Vec<(String, usize)> = Vec::new();
        for (i, (e, _)) in batch.iter().enumerate() {
            let key = states.prefix_for(&e.name);
            match newest.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = i,
                None => newest.push((key, i)),
            }
        }
        let mut applied = Vec::new();
        for (key, i) in newest {
            let (e, at) = &batch[i];
            let entry = Entry::new(e.clone(), at.unwrap_or(now));
            states.apply(&entry)?;
            applied.push((key, i, entry));
        }
        // Hooks of a superseded event (a newer one of the same instance or
        // group) that have not started never will: run later, a MASTER
        // hook's `svc -u` would start a loop on a gateway that is BACKUP by
        // then. Coalesced per instance or group, not per set of state
        // files: a sync group's GROUP and INSTANCE events share the default
        // files, and each has its hooks. The batch's last event of each
        // source is found once: a backlog of thousands has few sources.
        let mut last_of: Vec<(&Event, usize)> = Vec::new();
        for (i, (e, _)) in batch.iter().enumerate() {
            match last_of.iter_mut().find(|(s, _)| same_source(s, e)) {
                Some(slot) => slot.1 = i,
                None => last_of.push((e, i)),
            }
        }
        let newest_of_source = |e: &Event| {
            last_of
                .iter()
                .find(|(s, _)| same_source(s, e))
                .map(|&(_, i)| i)
        };
        self.queue.retain(|q| newest_of_source(&q.event).is_none());
        if let Some((run, q)) = &mut self.current {
            if newest_of_source(&q.event).is_some() {
                run.skip_rest();
            }
        }
        let first = self.serial;
        for (i, (e, _)) in batch.iter().enumerate() {
            if newest_of_source(e) == Some(i) {
                self.queue.push_back(Queued {
                    event: e.clone(),
                    key: states.prefix_for(&e.name),
                    serial: first + i as u64,
                });
            }
        }
        // The newest event of a set of state files is the last of its own
        // source too: queued above with this serial.
        for (key, i, entry) in applied {
            self.newest.insert(key, (first + i as u64, entry));
        }
        self.serial = first + batch.len() as u64;
        Ok(())
    }

    /// A state file or journal write failed: reported once until writes
    /// work again, and tried again every second.
    fn write_failed(&mut self, f: Fatal) {
        if !self.reported {
            errors::warn(self.prog(), format_args!("{f}: trying again every second"));
            self.reported = true;
        }
        self.retry.arm(crate::hookmode::RETRY);
    }

    fn write_worked(&mut self) {
        if self.undone.is_empty() && !self.apply_failed {
            self.reported = false;
        }
    }

    /// Mark hooks done in journals where that failed, unless a newer event
    /// has been applied to the same state files since.
    fn retry_done_marks(&mut self) {
        let mut wrote = false;
        for entry in std::mem::take(&mut self.undone) {
            if self.opts.states.journal(&entry.event.name).as_ref() != Some(&entry) {
                continue;
            }
            match self.opts.states.mark_done(&entry) {
                Ok(()) => wrote = true,
                Err(f) => {
                    self.undone.push(entry);
                    self.write_failed(f);
                }
            }
        }
        if wrote {
            self.write_worked();
        }
    }

    /// Start queued hooks while nothing runs; mark an event's hooks done
    /// in its journal when it is still the newest of its state files.
    fn dispatch(&mut self) {
        loop {
            if let Some((run, q)) = &mut self.current {
                run.progress();
                if !run.is_done() {
                    return;
                }
                if self.newest.get(&q.key).is_some_and(|(s, _)| *s == q.serial) {
                    if let Some((_, entry)) = self.newest.remove(&q.key) {
                        // A batch that failed half-way may have written a
                        // newer journal for these files: that one stays
                        // pending.
                        let on_disk = self.opts.states.journal(&entry.event.name);
                        if on_disk.as_ref() == Some(&entry) {
                            if let Err(f) = self.opts.states.mark_done(&entry) {
                                // Until it works, a restart would run these
                                // hooks once more: harmless, idempotent.
                                self.undone.push(entry);
                                self.write_failed(f);
                            }
                        }
                    }
                }
                self.current = None;
            }
            let Some(q) = self.queue.pop_front() else {
                return;
            };
            self.current = Some((EventHooks::start(&self.opts.hooks, &q.event), q));
        }
    }

    fn idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty() && !self.blocked
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
                    Fatal::sys(format!("unable to reopen {}", self.opts.fifo.display()), e),
                ),
            }
        }
        self.linger.arm(self.opts.linger);
    }
}

fn parse(l: Result<String, String>, events: &mut Vec<Event>, warnings: &mut Vec<String>) {
    match l {
        Err(head) => warnings.push(format!("ignoring malformed line {head:?}: line too long")),
        Ok(text) => match line::parse_fifo_line(&text) {
            Parsed::Event(e) => events.push(e),
            Parsed::Ignored => {}
            Parsed::Malformed(why) => {
                warnings.push(format!("ignoring malformed line {text:?}: {why}"))
            }
        },
    }
}

/// Run fifo mode until stopped; returns the exit code, or what kept it
/// from starting or from waiting on its descriptors.
pub fn run(opts: &FifoOptions) -> Result<i32, Fatal> {
    let prog = opts.hooks.prog;
    upkeep::sys::ignore_sigpipe();
    let signals = event::signal_fd(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])
        .map_err(|e| Fatal::sys("unable to create signalfd", e))?;
    opts.states.ensure()?;
    let fifo = open_fifo(&opts.fifo)?;
    let fifo = lock_fifo(fifo)
        .map_err(|e| Fatal::sys(format!("unable to lock {}", opts.fifo.display()), e))?;
    // The one reader now: what a killed predecessor left is ours.
    opts.states.remove_stale_temps();
    let (peek_r, peek_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(|e| Fatal::sys("unable to create pipe", e))?;
    // Room to peek at everything the fifo can hold.
    let fifo_size = nix::fcntl::fcntl(fifo.file(), nix::fcntl::FcntlArg::F_GETPIPE_SZ)
        .ok()
        .and_then(|s| usize::try_from(s).ok())
        .unwrap_or(65536);
    let peek_max = match nix::fcntl::fcntl(
        &peek_w,
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(fifo_size as libc::c_int),
    ) {
        Ok(s) => usize::try_from(s).unwrap_or(65536),
        Err(_) => 65536,
    };
    let timer = || Timer::new().map_err(|e| Fatal::sys("unable to create timerfd", e));
    let (linger, retry) = (timer()?, timer()?);
    let mut r = Reader {
        opts,
        rdwr: Some(fifo),
        rdonly: None,
        peek_r,
        peek_w,
        peek_max,
        lines: LineReader::default(),
        queue: VecDeque::new(),
        current: None,
        newest: HashMap::new(),
        serial: 0,
        recovering: opts.states.unfinished(),
        blocked: false,
        reported: false,
        apply_failed: false,
        undone: Vec::new(),
        retry,
        stopping: false,
        eof: false,
        linger,
        lingered: false,
        failed: false,
    };
    loop {
        r.read_fifo();
        r.dispatch();
        if r.fifo_fd().is_none() && !r.stopping {
            // Only a read error gets here (O_RDWR never sees EOF): finish
            // what is queued, then let supervise start a fresh reader.
            r.stopping = true;
            r.failed = true;
        }
        if r.stopping && (r.eof || r.lingered) {
            if r.idle() {
                if let Some(p) = r.lines.partial() {
                    errors::warn(prog, format_args!("dropping incomplete line {p:?}"));
                }
                return Ok(if r.failed { EXIT_TEMPORARY } else { 0 });
            }
            if r.blocked && r.lingered && r.current.is_none() && r.queue.is_empty() {
                // The state files cannot be written: what is not applied
                // stays in the fifo (or the journal) for the next reader.
                return Ok(EXIT_TEMPORARY);
            }
        }
        let mut fds = vec![signals.as_fd(), r.linger.as_fd(), r.retry.as_fd()];
        if !r.blocked {
            if let Some(f) = r.fifo_fd() {
                fds.push(f);
            }
        }
        if let Some((run, _)) = &r.current {
            fds.extend(run.fds());
        }
        let polled = event::wait_readable(&fds, None);
        drop(fds);
        polled.map_err(|e| Fatal::sys("unable to poll", e))?;
        for sig in event::pending_signals(&signals) {
            if sig == libc::SIGTERM || sig == libc::SIGINT {
                r.begin_stop();
            }
            // HUP: nothing to reload; the signal just must not kill us.
        }
        if r.linger.take_expiry() {
            r.lingered = true;
        }
        if r.retry.take_expiry() {
            r.blocked = false;
            r.retry_done_marks();
        }
    }
}
