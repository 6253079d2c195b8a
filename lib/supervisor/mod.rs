//! supervise's state machine (DESIGN §5): one poll loop over a signalfd,
//! the control FIFO, timerfds, the child's exec-status and readiness pipes,
//! and a pidfd for an adopted run. No sleeping, no polling.
//!
//! lifecycle.rs starts run and handles its exit (finish, backoff);
//! check.rs runs health checks and the readiness time limit; adopt.rs takes
//! over a run left by a supervise that was killed.

mod adopt;
mod check;
mod lifecycle;
mod setup;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

use crate::errors::{self, Failure, EXIT_TEMPORARY};
use crate::event::{self, Timer};
use crate::servicedir::{self, Config, ConfigReader};
use crate::status::{Phase, State, Status, Want};
use crate::tai64::Tai64N;
use crate::trust::Trust;

const PROG: &str = "supervise";

/// The running `./run`.
struct Run {
    pid: Pid,
    started: Instant,
    /// /proc start time, recorded so a later supervise can adopt this run.
    starttime: u64,
    /// Until EOF (exec done) or an errno (exec failed).
    exec_status: Option<OwnedFd>,
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
    exec_status: OwnedFd,
}

pub struct Supervisor {
    /// The dir as the user named it, for messages.
    shown: String,
    /// Its last component, finish's third argument (bytes, as given).
    name: OsString,
    trust: Trust,
    reader: ConfigReader,
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
    /// Why run was not started: a file that cannot be trusted.
    refused: Option<String>,
    dirty: bool,
    /// What the files hold now: a change that alters neither is not written.
    written_status: [u8; 18],
    written_state: String,
}

/// Run supervise on `dir` until told to exit. Returns the exit code.
pub fn run(dir: &Path) -> i32 {
    match Supervisor::new(dir) {
        Ok(Some(mut s)) => s.main_loop(),
        // Told to stop while waiting for an untrusted dir to be fixed.
        Ok(None) => 0,
        Err((code, failure)) => {
            errors::say(format_args!("{PROG}: fatal: {failure}"));
            code
        }
    }
}

/// What woke the loop.
#[derive(Clone, Copy)]
enum Source {
    ExecStatus,
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

fn temporary(what: String, e: &std::io::Error) -> (i32, Failure) {
    (EXIT_TEMPORARY, Failure::io(what, e))
}

impl Supervisor {
    fn new(dir: &Path) -> Result<Option<Supervisor>, (i32, Failure)> {
        let shown = dir.display().to_string();
        crate::sys::ignore_sigpipe();
        let signals = event::signal_fd(&[
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
        ])
        .map_err(|e| (EXIT_TEMPORARY, Failure::sys("unable to create signalfd", e)))?;
        std::env::set_current_dir(dir)
            .map_err(|e| temporary(format!("unable to chdir to {shown}"), &e))?;
        // Before anything is created or written in it.
        let trust = Trust::for_this_process();
        if !setup::wait_until_trusted(&shown, &trust, &signals)? {
            return Ok(None);
        }
        let normally_down = servicedir::normally_down(Path::new("."))
            .map_err(|e| temporary(format!("unable to stat {shown}/down"), &e))?;
        let owned = setup::take_ownership(&shown)?;
        let control = owned
            .control
            .try_clone()
            .map_err(|e| temporary(format!("unable to open {shown}/supervise/control"), &e))?;
        let timer = || {
            Timer::new().map_err(|e| (EXIT_TEMPORARY, Failure::sys("unable to create timerfd", e)))
        };
        let abs = std::env::current_dir().unwrap_or_else(|_| dir.into());
        let name = abs.file_name().unwrap_or(dir.as_os_str()).to_os_string();
        let mut reader = ConfigReader::new(Path::new("."));
        // Files another user could change are not read (start() says why).
        let config = match trust.judge_files(Path::new(".")) {
            None => reader.load(),
            Some(_) => Config::default(),
        };
        let mut s = Supervisor {
            shown,
            name,
            trust,
            reader,
            config,
            owned,
            control,
            signals,
            start_timer: timer()?,
            kill_timer: timer()?,
            finish_timer: timer()?,
            checks: check::Checks::new()
                .map_err(|e| (EXIT_TEMPORARY, Failure::sys("unable to create timerfd", e)))?,
            phase: Phase::Down,
            want: if normally_down { Want::Down } else { Want::Up },
            paused: false,
            exit_when_down: false,
            run: None,
            finish: None,
            kill_group: None,
            since: Tai64N::now(),
            last_exit: String::new(),
            starts: 0,
            fast_failures: 0,
            next_start: None,
            operator_restart: false,
            last_run_fast: false,
            start_failure_reported: false,
            refused: None,
            dirty: true,
            written_status: [0; 18],
            written_state: String::new(),
        };
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
        loop {
            if self.dirty {
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

    fn sources(&self) -> Vec<(Source, BorrowedFd<'_>)> {
        let mut list = Vec::with_capacity(11);
        if let Some(run) = &self.run {
            list.extend(
                run.exec_status
                    .as_ref()
                    .map(|f| (Source::ExecStatus, f.as_fd())),
            );
            list.extend(run.notify.as_ref().map(|f| (Source::Notify, f.as_fd())));
            list.extend(run.adopted.as_ref().map(|f| (Source::Adopted, f.as_fd())));
        }
        list.push((Source::Control, self.control.as_fd()));
        list.push((Source::StartTimer, self.start_timer.as_fd()));
        list.push((Source::KillTimer, self.kill_timer.as_fd()));
        list.push((Source::FinishTimer, self.finish_timer.as_fd()));
        list.push((Source::CheckDue, self.checks.due.as_fd()));
        list.push((Source::CheckKill, self.checks.kill.as_fd()));
        list.push((Source::ReadyTimer, self.checks.ready.as_fd()));
        // Signals last: a child's exit is handled after what it said before.
        list.push((Source::Signals, self.signals.as_fd()));
        list
    }

    fn wait_and_dispatch(&mut self) {
        let (kinds, ready) = {
            let sources = self.sources();
            let fds: Vec<BorrowedFd> = sources.iter().map(|(_, fd)| *fd).collect();
            match event::wait_readable(&fds, None) {
                Ok(r) => (sources.iter().map(|(k, _)| *k).collect::<Vec<_>>(), r),
                Err(e) => {
                    errors::warn(
                        PROG,
                        format_args!("poll failed: {}", errors::phrase(e as i32)),
                    );
                    return;
                }
            }
        };
        for (kind, is_ready) in kinds.into_iter().zip(ready) {
            if is_ready {
                self.dispatch(kind);
            }
        }
    }

    fn dispatch(&mut self, source: Source) {
        match source {
            Source::ExecStatus => self.on_exec_status(),
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
                for sig in event::pending_signals(&self.signals) {
                    match sig {
                        libc::SIGCHLD => self.reap(),
                        _ => {
                            // TERM, INT, HUP: stop the service, then exit.
                            self.command(b'd');
                            self.command(b'x');
                        }
                    }
                }
            }
        }
    }

    // ---- commands -------------------------------------------------------

    fn on_control(&mut self) {
        let mut buf = [0u8; 64];
        loop {
            match (&self.control).read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    for &b in &buf[..n] {
                        self.command(b);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    }

    fn command(&mut self, letter: u8) {
        match letter {
            b'u' => {
                self.want = Want::Up;
                self.dirty = true;
                self.start_now_if_idle();
            }
            b'o' => {
                self.want = Want::Once;
                self.dirty = true;
                self.start_now_if_idle();
            }
            b'd' => {
                self.want = Want::Down;
                self.dirty = true;
                self.cancel_pending_start();
                if self.run.is_some() {
                    self.signal_run(self.config.down_signal);
                    self.signal_run(libc::SIGCONT);
                    self.paused = false;
                    self.begin_stop();
                }
            }
            b'x' => {
                self.exit_when_down = true;
                self.dirty = true;
            }
            b'p' => {
                self.paused = true;
                self.dirty = true;
                self.signal_run(libc::SIGSTOP);
            }
            b'c' => {
                self.paused = false;
                self.dirty = true;
                self.signal_run(libc::SIGCONT);
            }
            b't' | b'k' => {
                if self.run.is_some() {
                    // An operator's restart is never throttled as a crash.
                    self.operator_restart = true;
                    self.signal_run(if letter == b't' {
                        libc::SIGTERM
                    } else {
                        libc::SIGKILL
                    });
                } else if self.phase == Phase::Backoff {
                    self.start_now_if_idle();
                }
            }
            b'K' => {
                if let Some(pid) = self.run_pid() {
                    signal_group(pid, libc::SIGKILL);
                }
            }
            other => {
                if let Some(sig) = crate::control::letter_signal(other) {
                    self.signal_run(sig);
                }
                // Unknown bytes are ignored, as daemontools does.
            }
        }
    }

    /// The down signal was sent (or a restart for health): KILL the group
    /// at timeout-kill if run is still there.
    fn begin_stop(&mut self) {
        self.set_phase(Phase::Stopping);
        self.checks_stop();
        if let (Some(limit), Some(pid)) = (self.config.timeout_kill, self.run_pid()) {
            self.kill_group = Some(pid);
            self.kill_timer.arm(limit);
        }
    }

    fn start_now_if_idle(&mut self) {
        if self.run.is_some() || self.finish.is_some() {
            return; // after finish, want decides
        }
        self.fast_failures = 0;
        self.cancel_pending_start();
        self.start();
    }

    fn cancel_pending_start(&mut self) {
        if self.start_timer.is_armed() || self.phase == Phase::Backoff {
            self.start_timer.cancel();
            self.next_start = None;
            if self.phase == Phase::Backoff {
                self.set_phase(Phase::Down);
            }
        }
    }

    fn run_pid(&self) -> Option<Pid> {
        self.run.as_ref().map(|r| r.pid)
    }

    /// Signal run: through its pidfd when adopted (never a pid reuser),
    /// else by pid (our child cannot be reused before we reap it).
    fn signal_run(&self, sig: i32) {
        let Some(run) = &self.run else { return };
        let result = match &run.adopted {
            Some(pidfd) => crate::sys::pidfd_send_signal(pidfd, sig),
            None => kill(run.pid, Signal::try_from(sig).ok()),
        };
        match result {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => errors::warn(
                PROG,
                format_args!("unable to signal {}: {}", run.pid, errors::phrase(e as i32)),
            ),
        }
    }

    fn warn_unable_to_start(&self, program: &str, e: Errno) {
        errors::warn(
            PROG,
            format_args!(
                "unable to start {}/{program}: {}",
                self.shown,
                errors::phrase(e as i32)
            ),
        );
    }

    fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.dirty = true;
        }
    }

    // ---- publishing -----------------------------------------------------

    fn publish(&mut self) {
        self.dirty = false;
        let pid = self.run_pid().map(|p| p.as_raw() as u32).unwrap_or(0);
        let state = State {
            phase: self.phase,
            pid,
            pgid: pid,
            since: self.since,
            want: self.want,
            paused: self.paused && pid != 0,
            last_exit: self.last_exit.clone(),
            restarts: self.starts.saturating_sub(1),
            fast_failures: self.fast_failures,
            next_start: self.next_start,
            check: self.checks.result.to_string(),
            check_failures: self.checks.failures,
            starttime: self.run.as_ref().map(|r| r.starttime).unwrap_or(0),
            refused: self.refused.clone().unwrap_or_default(),
        };
        let status = Status {
            since: self.since,
            pid,
            paused: self.paused,
            want: self.want,
        };
        // State first: a reader woken by the status rename sees both new.
        let (state, status) = (state.encode(), status.encode());
        let mut results = Vec::with_capacity(2);
        if state != self.written_state {
            let r = self
                .owned
                .dir
                .replace(OsStr::new("state"), state.as_bytes(), 0o644);
            if r.is_ok() {
                self.written_state = state;
            }
            results.push(("state", r));
        }
        if status != self.written_status {
            let r = self.owned.dir.replace(OsStr::new("status"), &status, 0o644);
            if r.is_ok() {
                self.written_status = status;
            }
            results.push(("status", r));
        }
        for (file, result) in results {
            match result {
                // The service dir was removed: svscan is stopping us, and
                // nobody is left to read the file.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => errors::warn(
                    PROG,
                    format_args!(
                        "unable to write {}/supervise/{file}: {}",
                        self.shown,
                        errors::io_phrase(&e)
                    ),
                ),
                Ok(()) => {}
            }
        }
    }
}

/// Signal a whole process group (run's session leader pid is its pgid).
fn signal_group(leader: Pid, sig: i32) {
    let _ = kill(Pid::from_raw(-leader.as_raw()), Signal::try_from(sig).ok());
}
