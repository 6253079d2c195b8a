//! supervise DIR: run DIR/run forever, obey supervise/control, keep
//! supervise/status (daemontools-compatible) and supervise/state.
//!
//! The state machine: one poll loop over a signalfd,
//! the control FIFO, timerfds, the child's exec-status and readiness pipes,
//! and a pidfd for an adopted run. No sleeping, no polling.
//!
//! lifecycle.rs starts run and handles its exit (finish, backoff);
//! check.rs runs health checks and the readiness time limit; adopt.rs takes
//! over a run left by a supervise that was killed.
#![forbid(unsafe_code)]
// Started by `daemon_main!` below, without Rust's runtime set-up (see there).
#![cfg_attr(not(test), no_main)]

mod adopt;
mod check;
mod dirview;
mod letters;
mod lifecycle;
mod publish;
mod setup;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

use upkeep::errors::{self, Fatal};
use upkeep::event::{self, Timer};
use upkeep::servicedir::{self, Config, ConfigReader};
use upkeep::status::{Phase, State, Status, Want};
use upkeep::tai64::Tai64N;
use upkeep::trust::Trust;

const PROG: &str = "supervise";

/// The running `./run`.
struct Run {
    pid: Pid,
    started: Instant,
    /// /proc start time, recorded so a later supervise can adopt this run:
    /// from the boot clock around the clone when that tells it, else None
    /// until publish reads /proc (after the status write: the record
    /// daemontools' tools read is out first).
    starttime: Option<u64>,
    /// Read end of the notification-fd pipe, until readiness or EOF.
    notify: Option<OwnedFd>,
    exec_failed: Option<Errno>,
    /// Set when this run was adopted: not our child, watched and signalled
    /// through its pidfd.
    adopted: Option<OwnedFd>,
    /// DIR/check existed when run started.
    has_check: bool,
}

struct Finish {
    pid: Pid,
    exec: Result<(), Errno>,
}

struct Supervisor {
    /// The dir as the user named it, for messages.
    shown: String,
    /// Its last component, finish's third argument (bytes, as given).
    name: OsString,
    trust: Trust,
    reader: ConfigReader,
    /// ./run as started without a readiness fd, made once.
    run_cmd: std::rc::Rc<upkeep::spawn::Spawn>,
    /// The dir as the last start judged it: judged again only when changed.
    view: dirview::DirView,
    config: Config,
    owned: setup::Owned,
    control: File,
    signals: SignalFd,
    start_timer: Timer,
    kill_timer: Timer,
    finish_timer: Timer,
    checks: check::Checks,

    phase: Phase,
    want: Want,
    paused: bool,
    exit_when_down: bool,
    run: Option<Run>,
    finish: Option<Finish>,
    /// Process group to KILL when `kill_timer` fires.
    kill_group: Option<Pid>,
    since: Tai64N,
    last_exit: String,
    restarts: Restarts,
    /// Why run was not started: a file that cannot be trusted.
    refused: Option<String>,
    published: Published,
}

/// Restart bookkeeping: how often run started, the crash-loop backoff.
#[derive(Default)]
struct Restarts {
    starts: u64,
    fast_failures: u32,
    next_start: Option<Tai64N>,
    /// An operator (or a failed health check) asked for this restart: no
    /// backoff for it.
    operator_restart: bool,
    /// The last run died before MIN_HEALTHY_RUN.
    last_run_fast: bool,
    /// A start failure was already reported in the current streak.
    start_failure_reported: bool,
}

/// What was published in supervise/status and supervise/state.
struct Published {
    /// Something changed since: publish again.
    dirty: bool,
    /// What the files hold now: a change that alters neither is not written.
    status: [u8; 18],
    state: String,
    /// The state's fields and their encoding, kept to be rewritten in
    /// place (no allocation once grown).
    fields: State,
    encoded: String,
}

/// Run supervise on `dir` until told to exit. Returns the exit code.
fn run(dir: &Path) -> i32 {
    match Supervisor::new(dir) {
        Ok(Some(mut s)) => s.main_loop(),
        // Told to stop while waiting for an untrusted dir to be fixed.
        Ok(None) => 0,
        Err(fatal) => errors::report(PROG, &fatal),
    }
}

/// At most this many descriptors are polled (see `Supervisor::sources`).
const SOURCES: usize = 10;

/// What woke the loop.
#[derive(Clone, Copy)]
enum Source {
    Notify,
    Adopted,
    Control,
    StartTimer,
    KillTimer,
    FinishTimer,
    CheckDue,
    CheckKill,
    ReadyTimer,
    Signals,
}

impl Supervisor {
    /// Boxed: its kilobyte would otherwise sit in `run`'s frame, under
    /// the deepest calls of a restart, and keep a page of stack resident.
    fn new(dir: &Path) -> Result<Option<Box<Supervisor>>, Fatal> {
        let shown = dir.display().to_string();
        let signals = event::daemon_signals(&[
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
        ])
        .map_err(|e| Fatal::sys("unable to create signalfd", e))?;
        std::env::set_current_dir(dir)
            .map_err(|e| Fatal::io(format!("unable to chdir to {shown}"), &e))?;
        // Before anything is created or written in it.
        let trust = Trust::for_this_process();
        if !setup::wait_until_trusted(&shown, &trust, &signals)? {
            return Ok(None);
        }
        let normally_down = servicedir::normally_down(Path::new("."))
            .map_err(|e| Fatal::io(format!("unable to stat {shown}/down"), &e))?;
        let owned = setup::take_ownership(&shown)?;
        let control = owned
            .control
            .try_clone()
            .map_err(|e| Fatal::io(format!("unable to open {shown}/supervise/control"), &e))?;
        let timer = || Timer::new().map_err(|e| Fatal::sys("unable to create timerfd", e));
        let abs = std::env::current_dir().unwrap_or_else(|_| dir.into());
        let name = abs.file_name().unwrap_or(dir.as_os_str()).to_os_string();
        let mut reader = ConfigReader::new(Path::new("."));
        // Files another user could change are not read (start() says why).
        let config = match trust.judge_files(Path::new(".")) {
            None => reader.load(),
            Some(_) => Config::default(),
        };
        let mut s = Box::new(Supervisor {
            shown,
            name,
            trust,
            reader,
            run_cmd: std::rc::Rc::new(lifecycle::run_program()),
            view: dirview::DirView::new(),
            config,
            owned,
            control,
            signals,
            start_timer: timer()?,
            kill_timer: timer()?,
            finish_timer: timer()?,
            checks: check::Checks::new().map_err(|e| Fatal::sys("unable to create timerfd", e))?,
            phase: Phase::Down,
            want: if normally_down { Want::Down } else { Want::Up },
            paused: false,
            exit_when_down: false,
            run: None,
            finish: None,
            kill_group: None,
            since: Tai64N::now(),
            last_exit: String::new(),
            restarts: Restarts::default(),
            refused: None,
            published: Published {
                dirty: true,
                status: [0; 18],
                state: String::with_capacity(512),
                fields: State {
                    boot: upkeep::procfs::boot_id().unwrap_or_default().to_string(),
                    ..State::default()
                },
                encoded: String::with_capacity(512),
            },
        });
        s.adopt_leftover_run();
        Ok(Some(s))
    }

    fn main_loop(&mut self) -> i32 {
        // Letters queued before we started come first: svscan hands over
        // the want of the supervise we replace this way (scanner/handover.rs).
        self.on_control();
        if self.run.is_none() && self.want == Want::Up {
            self.start();
        }
        // Start-up's reading and parsing is done: its freed pages go back,
        // and what stays resident is what the loop uses (a supervise per
        // service, so every page counts hundreds of times).
        upkeep::sys::release_free_heap();
        loop {
            if self.published.dirty {
                self.publish();
            }
            if self.exit_when_down && self.is_down() {
                return 0;
            }
            self.wait_and_dispatch();
        }
    }

    /// Neither run nor finish is alive.
    fn is_down(&self) -> bool {
        self.run.is_none() && self.finish.is_none()
    }

    /// What to poll, in order; `None` past the end. An array: the loop
    /// allocates nothing.
    fn sources<'a>(&'a self) -> [Option<(Source, BorrowedFd<'a>)>; SOURCES] {
        let mut list = [None; SOURCES];
        let mut n = 0;
        let mut push = |source, fd: BorrowedFd<'a>| {
            list[n] = Some((source, fd));
            n += 1;
        };
        if let Some(run) = &self.run {
            if let Some(f) = &run.notify {
                push(Source::Notify, f.as_fd());
            }
            if let Some(f) = &run.adopted {
                push(Source::Adopted, f.as_fd());
            }
        }
        push(Source::Control, self.control.as_fd());
        push(Source::StartTimer, self.start_timer.as_fd());
        push(Source::KillTimer, self.kill_timer.as_fd());
        push(Source::FinishTimer, self.finish_timer.as_fd());
        push(Source::CheckDue, self.checks.due.as_fd());
        push(Source::CheckKill, self.checks.kill.as_fd());
        push(Source::ReadyTimer, self.checks.ready.as_fd());
        // Signals last: a child's exit is handled after what it said before.
        push(Source::Signals, self.signals.as_fd());
        list
    }

    fn wait_and_dispatch(&mut self) {
        let mut ready = [None; SOURCES];
        {
            let sources = self.sources();
            let n = sources.iter().flatten().count();
            let fd = |i: usize| sources[i].map_or(self.signals.as_fd(), |(_, fd)| fd);
            let mut pfds: [PollFd; SOURCES] =
                std::array::from_fn(|i| PollFd::new(fd(i), PollFlags::POLLIN));
            if let Err(e) = event::poll(&mut pfds[..n], None) {
                errors::warn(PROG, format_args!("poll failed: {}", errors::phrase(e)));
                return;
            }
            for (i, p) in pfds[..n].iter().enumerate() {
                if event::was_ready(p) {
                    ready[i] = sources[i].map(|(kind, _)| kind);
                }
            }
        }
        for kind in ready.into_iter().flatten() {
            self.dispatch(kind);
        }
    }

    fn dispatch(&mut self, source: Source) {
        match source {
            Source::Notify => self.on_notify(),
            Source::Adopted => self.on_adopted_exit(),
            Source::Control => self.on_control(),
            Source::StartTimer => {
                if self.start_timer.take_expiry() {
                    self.on_start_timer();
                }
            }
            Source::KillTimer => {
                if self.kill_timer.take_expiry() {
                    self.on_kill_timer();
                }
            }
            Source::FinishTimer => {
                if self.finish_timer.take_expiry() {
                    self.on_finish_timer();
                }
            }
            Source::CheckDue => {
                if self.checks.due.take_expiry() {
                    self.on_check_due();
                }
            }
            Source::CheckKill => {
                if self.checks.kill.take_expiry() {
                    self.on_check_timeout();
                }
            }
            Source::ReadyTimer => {
                if self.checks.ready.take_expiry() {
                    self.on_ready_timeout();
                }
            }
            Source::Signals => {
                let (mut child, mut stop) = (false, false);
                event::each_pending_signal(&self.signals, |sig| match sig {
                    libc::SIGCHLD => child = true,
                    _ => stop = true,
                });
                if child {
                    self.reap();
                }
                if stop {
                    // TERM, INT, HUP: stop the service, then exit.
                    self.command(b'd');
                    self.command(b'x');
                }
            }
        }
    }

    fn warn_unable_to_start(&self, program: &str, e: Errno) {
        errors::warn(
            PROG,
            format_args!(
                "unable to start {}/{program}: {}",
                self.shown,
                errors::phrase(e)
            ),
        );
    }
}

/// Signal a whole process group (run's session leader pid is its pgid).
fn signal_group(leader: Pid, sig: i32) {
    let _ = kill(Pid::from_raw(-leader.as_raw()), Signal::try_from(sig).ok());
}

/// ./run, ./finish and ./check start alike: in a session of their own
/// (signalled as one process group), with supervise's stdin and stdout.
fn service_program(path: &str) -> upkeep::spawn::Spawn {
    upkeep::spawn::Spawn::new(path)
        .new_session()
        .inherit(0)
        .inherit(1)
}

const HELP: &str = "usage: supervise dir
Run dir/run for ever, restarting it when it exits, controlled through
dir/supervise/control (svc) and reporting through dir/supervise/status
(svstat, daemontools' format).  Optional files in dir: down, finish,
check, backoff, timeout-kill, timeout-finish, timeout-ready, down-signal,
notification-fd, check-interval, check-timeout, check-failures.
Exit: 0 after svc -x once the service is down; 111 when supervise/ cannot
be set up or another supervise runs on dir, 100 on usage.
See supervise(8).
";

upkeep::daemon_main!(main_body);

fn main_body() -> i32 {
    if upkeep::help::answered("supervise", HELP) {
        return 0;
    }
    // Bytes, not UTF-8: a service dir may have any name.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() != 2 {
        upkeep::errors::usage("supervise", "supervise dir");
    }
    std::process::exit(run(std::path::Path::new(&args[1])));
}
