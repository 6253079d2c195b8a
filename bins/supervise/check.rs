//! Health checks (doc/DESIGN.md, supervise; Pacemaker's `op monitor`): `./check PID`
//! every check-interval while run is up, killed at check-timeout, never
//! overlapping itself; check-failures failures in a row restart the service
//! (like `t`, with timeout-kill). Until the service is ready, checks probe
//! it sooner (100 ms, doubling up to check-interval) and their failures are
//! not counted: the first pass makes it ready. `timeout-ready` restarts a
//! service that is not ready in time.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::unistd::Pid;

use super::lifecycle::Exit;
use super::{service_program, signal_group, Supervisor, PROG};
use upkeep::errors;
use upkeep::event::Timer;
use upkeep::status::Phase;

const FIRST_PROBE: Duration = Duration::from_millis(100);

pub(super) struct Checks {
    /// The next check is due.
    pub due: Timer,
    /// The running check is over its time limit.
    pub kill: Timer,
    /// timeout-ready ran out.
    pub ready: Timer,
    running: Option<(Pid, Instant)>,
    timed_out: bool,
    /// Delay before the next probe while not yet ready.
    probe_delay: Duration,
    /// ok | failed | timeout | none
    pub result: &'static str,
    pub failures: u32,
}

impl Checks {
    pub fn new() -> Result<Checks, Errno> {
        Ok(Checks {
            due: Timer::new()?,
            kill: Timer::new()?,
            ready: Timer::new()?,
            running: None,
            timed_out: false,
            probe_delay: FIRST_PROBE,
            result: "none",
            failures: 0,
        })
    }

    pub fn pid(&self) -> Option<Pid> {
        self.running.map(|(p, _)| p)
    }
}

impl Supervisor {
    /// A new run: forget the previous run's results.
    pub(super) fn checks_reset(&mut self) {
        self.checks_stop();
        self.checks.result = "none";
        self.checks.failures = 0;
        self.checks.probe_delay = FIRST_PROBE;
    }

    /// run is stopping or gone: no more checks; a running one is killed
    /// (its result no longer matters).
    pub(super) fn checks_stop(&mut self) {
        self.checks.due.cancel();
        self.checks.kill.cancel();
        self.checks.ready.cancel();
        if let Some((pid, _)) = self.checks.running {
            signal_group(pid, libc::SIGKILL);
        }
    }

    fn counting(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Arm the timer for the next check, if run has one and is up.
    pub(super) fn schedule_check(&mut self) {
        let has_check = self.run.as_ref().is_some_and(|r| r.has_check);
        if !has_check
            || self.checks.running.is_some()
            || !matches!(self.phase, Phase::Up | Phase::Ready)
        {
            return;
        }
        let interval = self.config.check_interval;
        let delay = if self.counting() {
            interval
        } else {
            let d = self.checks.probe_delay.min(interval);
            self.checks.probe_delay = (d * 2).min(interval);
            d
        };
        self.checks.due.arm(delay);
    }

    pub(super) fn on_check_due(&mut self) {
        let Some(pid) = self.run_pid() else { return };
        if !matches!(self.phase, Phase::Up | Phase::Ready) || self.checks.running.is_some() {
            return;
        }
        // Both of its outputs go where run's stdout goes (the log pipe
        // under svscan): a check's complaint belongs in the service's log,
        // not in svscan's error output.
        let stdout = std::io::stdout();
        let cmd = service_program("./check")
            .arg(pid.to_string())
            .fd(&stdout, 2);
        match cmd.spawn() {
            Ok(child) => {
                self.checks.running = Some((child.pid, Instant::now()));
                self.checks.timed_out = false;
                self.checks.kill.arm(self.config.check_timeout);
            }
            Err(e) => {
                self.warn_unable_to_start("check", e);
                self.check_failed("failed");
            }
        }
    }

    pub(super) fn on_check_timeout(&mut self) {
        if let Some((pid, _)) = self.checks.running {
            self.checks.timed_out = true;
            signal_group(pid, libc::SIGKILL);
        }
    }

    pub(super) fn on_check_exit(&mut self, exit: Exit) {
        self.checks.running = None;
        self.checks.kill.cancel();
        if self.run.is_none() || !matches!(self.phase, Phase::Up | Phase::Ready) {
            return; // the service went away meanwhile
        }
        if self.checks.timed_out {
            self.check_failed("timeout");
        } else if matches!(exit, Exit::Code(0)) {
            self.checks.result = "ok";
            self.checks.failures = 0;
            self.dirty = true;
            let has_notify_fd = self.config.notification_fd.is_some();
            if !has_notify_fd {
                self.became_ready();
            }
            self.schedule_check();
        } else {
            self.check_failed("failed");
        }
    }

    fn check_failed(&mut self, result: &'static str) {
        self.checks.result = result;
        self.dirty = true;
        if !self.counting() {
            self.schedule_check();
            return;
        }
        self.checks.failures += 1;
        if self.checks.failures < self.config.check_failures {
            self.schedule_check();
            return;
        }
        errors::warn(
            PROG,
            format_args!(
                "{}: check {result} {} times in a row: restarting",
                self.shown, self.checks.failures
            ),
        );
        self.restart_for_health();
    }

    pub(super) fn on_ready_timeout(&mut self) {
        if self.run.is_some() && matches!(self.phase, Phase::Starting | Phase::Up) {
            errors::warn(
                PROG,
                format_args!(
                    "{}: not ready within {:?}: restarting",
                    self.shown,
                    self.config.timeout_ready.unwrap_or_default()
                ),
            );
            self.restart_for_health();
        }
    }

    /// Like `t`: TERM (restart at once, no backoff), KILL at timeout-kill.
    fn restart_for_health(&mut self) {
        self.operator_restart = true;
        self.signal_run(libc::SIGTERM);
        self.signal_run(libc::SIGCONT);
        self.begin_stop();
    }
}
