//! supervise's state machine (DESIGN §5): one poll loop over a signalfd,
//! the control FIFO, timerfds and the child's exec-status and readiness
//! pipes. No sleeping, no polling.

mod setup;

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::errors::{self, Failure, EXIT_TEMPORARY};
use crate::event::{self, Timer};
use crate::servicedir::{self, Config, ConfigReader};
use crate::spawn::{self, Spawn};
use crate::status::{Phase, State, Status, Want};
use crate::tai64::Tai64N;
use crate::{signals, statefile};

const PROG: &str = "supervise";
/// A run that lived at least this long is restarted at once.
const MIN_HEALTHY_RUN: Duration = Duration::from_secs(1);

/// The running `./run`.
struct Run {
    pid: Pid,
    started: Instant,
    /// Until EOF (exec done) or an errno (exec failed).
    exec_status: Option<OwnedFd>,
    /// Read end of the notification-fd pipe, until readiness or EOF.
    notify: Option<OwnedFd>,
    notify_buf_seen_newline: bool,
    exec_failed: Option<Errno>,
}

struct Finish {
    pid: Pid,
    exec_status: OwnedFd,
}

pub struct Supervisor {
    shown: String,
    name: String,
    reader: ConfigReader,
    config: Config,
    _owned: setup::Owned,
    control: File,
    signals: SignalFd,
    start_timer: Timer,
    kill_timer: Timer,
    finish_timer: Timer,

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
    /// An operator asked for this restart (`t`): no backoff for it.
    operator_restart: bool,
    /// The last run died before MIN_HEALTHY_RUN.
    last_run_fast: bool,
    /// A start failure was already reported in the current streak.
    start_failure_reported: bool,
    dirty: bool,
}

/// Run supervise on `dir` until told to exit. Returns the exit code.
pub fn run(dir: &str) -> i32 {
    match Supervisor::new(dir) {
        Ok(mut s) => s.main_loop(),
        Err((code, failure)) => {
            errors::say(format_args!("{PROG}: fatal: {failure}"));
            code
        }
    }
}

impl Supervisor {
    fn new(dir: &str) -> Result<Supervisor, (i32, Failure)> {
        crate::sys::ignore_sigpipe();
        let signals = event::signal_fd(&[
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
        ])
        .map_err(|e| (EXIT_TEMPORARY, Failure::sys("unable to create signalfd", e)))?;
        std::env::set_current_dir(dir).map_err(|e| {
            (
                EXIT_TEMPORARY,
                Failure::io(format!("unable to chdir to {dir}"), &e),
            )
        })?;
        let normally_down = servicedir::normally_down(Path::new(".")).map_err(|e| {
            (
                EXIT_TEMPORARY,
                Failure::io(format!("unable to stat {dir}/down"), &e),
            )
        })?;
        let owned = setup::take_ownership(dir)?;
        let control = owned.control.try_clone().map_err(|e| {
            (
                EXIT_TEMPORARY,
                Failure::io(format!("unable to open {dir}/supervise/control"), &e),
            )
        })?;
        let timer = || {
            Timer::new().map_err(|e| (EXIT_TEMPORARY, Failure::sys("unable to create timerfd", e)))
        };
        let abs = std::env::current_dir().unwrap_or_else(|_| dir.into());
        let name = abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.to_string());
        let mut reader = ConfigReader::new(Path::new("."));
        let config = reader.load();
        Ok(Supervisor {
            shown: dir.to_string(),
            name,
            reader,
            config,
            _owned: owned,
            control,
            signals,
            start_timer: timer()?,
            kill_timer: timer()?,
            finish_timer: timer()?,
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
            dirty: true,
        })
    }

    fn main_loop(&mut self) -> i32 {
        if self.want == Want::Up {
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

    fn wait_and_dispatch(&mut self) {
        // Fixed slots: 0 signals, 1 control, 2-4 timers, then optional pipes.
        let ready = {
            let mut fds = vec![
                self.signals.as_fd(),
                self.control.as_fd(),
                self.start_timer.as_fd(),
                self.kill_timer.as_fd(),
                self.finish_timer.as_fd(),
            ];
            let run = self.run.as_ref();
            let exec = run.and_then(|r| r.exec_status.as_ref());
            let notify = run.and_then(|r| r.notify.as_ref());
            fds.extend(exec.map(|f| f.as_fd()));
            fds.extend(notify.map(|f| f.as_fd()));
            match event::wait_readable(&fds, None) {
                Ok(r) => r,
                Err(e) => {
                    errors::warn(
                        PROG,
                        format_args!("poll failed: {}", errors::phrase(e as i32)),
                    );
                    return;
                }
            }
        };
        let has_exec = self.run.as_ref().is_some_and(|r| r.exec_status.is_some());
        let mut slot = 5;
        if has_exec {
            if ready[slot] {
                self.on_exec_status();
            }
            slot += 1;
        }
        if ready.get(slot).copied().unwrap_or(false) {
            self.on_notify();
        }
        if ready[1] {
            self.on_control();
        }
        if ready[2] && self.start_timer.take_expiry() {
            self.on_start_timer();
        }
        if ready[3] && self.kill_timer.take_expiry() {
            self.on_kill_timer();
        }
        if ready[4] && self.finish_timer.take_expiry() {
            self.on_finish_timer();
        }
        if ready[0] {
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
                if let Some(pid) = self.run_pid() {
                    self.signal(pid, self.config.down_signal);
                    self.signal(pid, libc::SIGCONT);
                    self.paused = false;
                    self.set_phase(Phase::Stopping);
                    if let Some(limit) = self.config.timeout_kill {
                        self.kill_group = Some(pid);
                        self.kill_timer.arm(limit);
                    }
                }
            }
            b'x' => {
                self.exit_when_down = true;
                self.dirty = true;
            }
            b'p' => {
                self.paused = true;
                self.dirty = true;
                if let Some(pid) = self.run_pid() {
                    self.signal(pid, libc::SIGSTOP);
                }
            }
            b'c' => {
                self.paused = false;
                self.dirty = true;
                if let Some(pid) = self.run_pid() {
                    self.signal(pid, libc::SIGCONT);
                }
            }
            b't' | b'k' => {
                if let Some(pid) = self.run_pid() {
                    // An operator's restart is never throttled as a crash.
                    self.operator_restart = true;
                    let sig = if letter == b't' {
                        libc::SIGTERM
                    } else {
                        libc::SIGKILL
                    };
                    self.signal(pid, sig);
                } else if self.phase == Phase::Backoff {
                    self.fast_failures = 0;
                    self.start_now_if_idle();
                }
            }
            b'K' => {
                if let Some(pid) = self.run_pid() {
                    self.signal(Pid::from_raw(-pid.as_raw()), libc::SIGKILL);
                }
            }
            other => {
                if let (Some(sig), Some(pid)) =
                    (crate::control::letter_signal(other), self.run_pid())
                {
                    self.signal(pid, sig);
                }
                // Unknown bytes are ignored, as daemontools does.
            }
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

    fn signal(&self, pid: Pid, sig: i32) {
        let sig = Signal::try_from(sig).ok();
        match kill(pid, sig) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => errors::warn(
                PROG,
                format_args!("unable to signal {}: {}", pid, errors::phrase(e as i32)),
            ),
        }
    }

    fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.dirty = true;
        }
    }

    // ---- starting -------------------------------------------------------

    fn start(&mut self) {
        self.config = self.reader.load();
        let mut cmd = Spawn::new("./run")
            .new_session()
            .inherit(0)
            .inherit(1)
            .inherit(2);
        let mut notify_read = None;
        let mut notify_write = None;
        if let Some(n) = self.config.notification_fd {
            match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK) {
                Ok((r, w)) => {
                    cmd = cmd.fd(&w, n);
                    notify_read = Some(r);
                    notify_write = Some(w);
                }
                Err(e) => errors::warn(
                    PROG,
                    format_args!(
                        "unable to create readiness pipe: {}",
                        errors::phrase(e as i32)
                    ),
                ),
            }
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                // Fork failed (EAGAIN, ENOMEM): never give up, back off.
                self.report_start_failure(e);
                self.last_run_fast = true;
                self.schedule_restart();
                return;
            }
        };
        drop(notify_write);
        if self.starts > 0 {
            self.dirty = true;
        }
        self.starts += 1;
        self.run = Some(Run {
            pid: child.pid,
            started: Instant::now(),
            exec_status: Some(child.exec_status),
            notify: notify_read,
            notify_buf_seen_newline: false,
            exec_failed: None,
        });
        self.since = Tai64N::now();
        self.paused = false;
        self.operator_restart = false;
        self.next_start = None;
        self.set_phase(Phase::Starting);
        self.dirty = true;
    }

    fn report_start_failure(&mut self, e: Errno) {
        if !self.start_failure_reported {
            errors::warn(
                PROG,
                format_args!(
                    "unable to start {}/run: {}",
                    self.shown,
                    errors::phrase(e as i32)
                ),
            );
            self.start_failure_reported = true;
        }
    }

    fn on_exec_status(&mut self) {
        let Some(run) = self.run.as_mut() else { return };
        let Some(fd) = run.exec_status.take() else {
            return;
        };
        match spawn::read_exec_status(&fd) {
            Ok(()) => {
                self.start_failure_reported = false;
                if self.phase == Phase::Starting {
                    let ready = run.notify.is_none() && !Path::new("check").exists();
                    self.set_phase(if ready { Phase::Ready } else { Phase::Up });
                }
            }
            Err(e) => {
                run.exec_failed = Some(e);
                self.report_start_failure(e);
            }
        }
    }

    fn on_notify(&mut self) {
        let Some(run) = self.run.as_mut() else { return };
        let Some(fd) = run.notify.as_ref() else {
            return;
        };
        let mut buf = [0u8; 512];
        let mut close = false;
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => close = true,
            Ok(n) => {
                if buf[..n].contains(&b'\n') {
                    run.notify_buf_seen_newline = true;
                    close = true;
                }
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
            Err(_) => close = true,
        }
        if close {
            run.notify = None;
        }
        if run.notify_buf_seen_newline && matches!(self.phase, Phase::Up | Phase::Starting) {
            self.set_phase(Phase::Ready);
        }
    }

    fn on_start_timer(&mut self) {
        self.next_start = None;
        if self.run.is_none() && self.finish.is_none() && matches!(self.want, Want::Up) {
            self.start();
        } else if self.phase == Phase::Backoff {
            self.set_phase(Phase::Down);
        }
    }

    // ---- exits ----------------------------------------------------------

    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Err(Errno::EINTR) => continue,
                Err(_) => return,
                Ok(status) => {
                    let pid = status.pid();
                    if pid.is_some() && pid == self.run_pid() {
                        self.on_run_exit(status);
                    } else if pid.is_some() && pid == self.finish.as_ref().map(|f| f.pid) {
                        self.on_finish_exit(status);
                    }
                }
            }
        }
    }

    fn on_run_exit(&mut self, status: WaitStatus) {
        let Some(mut run) = self.run.take() else {
            return;
        };
        if run.exec_status.is_some() {
            // The exec result is already in the pipe: read it now so an
            // exec failure is reported before the exit is handled.
            self.run = Some(run);
            self.on_exec_status();
            run = self.run.take().expect("run was just put back");
        }
        let (code, sig) = match status {
            WaitStatus::Exited(_, c) => (c, 0),
            WaitStatus::Signaled(_, s, _) => (256, s as i32),
            _ => (256, 0),
        };
        self.last_exit = if sig != 0 {
            format!("signal:{}", signals::name(sig))
        } else {
            code.to_string()
        };
        // A stop we asked for is no failure, whatever the run's age.
        let stopped_on_purpose = self.phase == Phase::Stopping;
        self.last_run_fast = !stopped_on_purpose
            && (run.exec_failed.is_some() || run.started.elapsed() < MIN_HEALTHY_RUN);
        self.since = Tai64N::now();
        self.paused = false;
        self.dirty = true;

        // Leftovers of run's process group: TERM now, KILL at timeout-kill.
        let group = Pid::from_raw(-run.pid.as_raw());
        if kill(group, Signal::SIGTERM).is_ok() {
            let _ = kill(group, Signal::SIGCONT);
            if !self.kill_timer.is_armed() {
                if let Some(limit) = self.config.timeout_kill {
                    self.kill_timer.arm(limit);
                }
            }
            self.kill_group = Some(run.pid);
        } else if self.kill_group == Some(run.pid) {
            self.kill_timer.cancel();
            self.kill_group = None;
        }

        if Path::new("finish").exists() {
            self.start_finish(code, sig);
        } else {
            self.after_down();
        }
    }

    fn start_finish(&mut self, code: i32, sig: i32) {
        let cmd = Spawn::new("./finish")
            .arg(code.to_string())
            .arg(sig.to_string())
            .arg(&self.name)
            .new_session()
            .inherit(0)
            .inherit(1)
            .inherit(2);
        match cmd.spawn() {
            Ok(child) => {
                self.finish = Some(Finish {
                    pid: child.pid,
                    exec_status: child.exec_status,
                });
                self.finish_timer.arm(self.config.timeout_finish);
                self.set_phase(Phase::Finishing);
            }
            Err(e) => {
                errors::warn(
                    PROG,
                    format_args!(
                        "unable to start {}/finish: {}",
                        self.shown,
                        errors::phrase(e as i32)
                    ),
                );
                self.after_down();
            }
        }
    }

    fn on_finish_exit(&mut self, _status: WaitStatus) {
        if let Some(f) = self.finish.take() {
            if let Err(e) = spawn::read_exec_status(&f.exec_status) {
                errors::warn(
                    PROG,
                    format_args!(
                        "unable to start {}/finish: {}",
                        self.shown,
                        errors::phrase(e as i32)
                    ),
                );
            }
        }
        self.finish_timer.cancel();
        self.after_down();
    }

    fn on_finish_timer(&mut self) {
        if let Some(f) = &self.finish {
            // finish ran too long: KILL its whole group; its exit is reaped.
            self.signal(Pid::from_raw(-f.pid.as_raw()), libc::SIGKILL);
        }
    }

    fn on_kill_timer(&mut self) {
        if let Some(group) = self.kill_group.take() {
            self.signal(Pid::from_raw(-group.as_raw()), libc::SIGKILL);
        }
    }

    /// run (and finish) are gone: decide what comes next.
    fn after_down(&mut self) {
        self.set_phase(Phase::Down);
        self.dirty = true;
        if self.exit_when_down {
            return;
        }
        match self.want {
            Want::Up => {
                if self.operator_restart || !self.last_run_fast {
                    self.operator_restart = false;
                    self.fast_failures = 0;
                    self.start();
                } else {
                    self.schedule_restart();
                }
            }
            Want::Down | Want::Once => {}
        }
    }

    /// A fast failure: wait MIN·2^(n-1), capped at MAX, then start.
    fn schedule_restart(&mut self) {
        self.fast_failures = self.fast_failures.saturating_add(1);
        let (min, max) = self.config.backoff;
        let shift = (self.fast_failures - 1).min(31);
        let delay = min.checked_mul(1u32 << shift).unwrap_or(max).min(max);
        self.start_timer.arm(delay);
        let at = std::time::SystemTime::now() + delay;
        self.next_start = Some(Tai64N::from_system(at));
        self.set_phase(Phase::Backoff);
        self.dirty = true;
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
            check: "none".into(),
            check_failures: 0,
            starttime: 0,
        };
        let status = Status {
            since: self.since,
            pid,
            paused: self.paused,
            want: self.want,
        };
        // State first: a reader woken by the status rename sees both new.
        let state_written =
            statefile::write_atomic(Path::new("supervise/state"), state.encode().as_bytes());
        let status_written =
            statefile::write_atomic(Path::new("supervise/status"), &status.encode());
        for (file, result) in [("state", state_written), ("status", status_written)] {
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
