//! Starting run, learning that it was exec'd or became ready, and handling
//! its exit: leftovers of its process group, finish, restart or backoff.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{service_program, signal_group, Finish, Run, Supervisor, PROG};
use upkeep::errors;
use upkeep::event::Ended;
use upkeep::signals;
use upkeep::spawn;
use upkeep::status::{Phase, Want};
use upkeep::tai64::Tai64N;

/// How ./run is started (a readiness fd is added to it when configured).
pub(super) fn run_program() -> spawn::Spawn {
    service_program("./run").inherit(2)
}

/// A run that lived at least this long is restarted at once.
const MIN_HEALTHY_RUN: Duration = Duration::from_secs(1);

/// How run ended, as finish and the state file report it.
pub(super) enum Exit {
    Code(i32),
    Signal(i32),
    /// An adopted run: not our child, so its status cannot be known.
    Unknown,
}

impl Supervisor {
    pub(super) fn start(&mut self) {
        if !self.view.unchanged() && !self.look_in_full() {
            return;
        }
        if self.refused.take().is_some() {
            self.published.dirty = true;
        }
        let mut with_notify = None;
        let mut notify_read = None;
        let mut notify_write = None;
        if let Some(n) = self.config.notification_fd {
            match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK) {
                Ok((r, w)) => {
                    with_notify = Some(run_program().fd(&w, n));
                    notify_read = Some(r);
                    notify_write = Some(w);
                }
                Err(e) => errors::warn(
                    PROG,
                    format_args!("unable to create readiness pipe: {}", errors::phrase(e)),
                ),
            }
        }
        // The usual run is started from the one made at start-up: nothing
        // to build (allocate) on the restart path.
        let base = std::rc::Rc::clone(&self.run_cmd);
        let cmd = with_notify.as_ref().unwrap_or(&base);
        let has_check = self.view.has_check();
        let before = upkeep::procfs::boot_clock();
        let mut letter = None;
        let started = cmd.spawn_gated(|pid| {
            // The child waits at its gate: run's pid goes on disk before
            // run can exist, so a supervise killed now leaves a state the
            // next one adopts from, never an unrecorded copy (the child
            // is killed unexec'd when we die first).
            self.restarts.starts = self.restarts.starts.saturating_add(1);
            let ready_at_exec = notify_read.is_none() && !has_check;
            self.run = Some(Run {
                pid,
                started: Instant::now(),
                // Known from the clock most of the time: no /proc read.
                starttime: upkeep::procfs::start_time_between(before, upkeep::procfs::boot_clock()),
                notify: notify_read.take(),
                exec_failed: None,
                adopted: None,
                has_check,
            });
            self.since = Tai64N::now();
            self.paused = false;
            self.restarts.operator_restart = false;
            self.restarts.next_start = None;
            self.checks_reset();
            if let (false, Some(limit)) = (ready_at_exec, self.config.timeout_ready) {
                self.checks.ready.arm(limit);
            }
            // Written once, with the phase run has once exec'd (without a
            // readiness fd or a check, exec'd means ready); the waiters
            // are woken only when the exec has happened.
            self.set_phase(if ready_at_exec {
                Phase::Ready
            } else {
                Phase::Up
            });
            self.published.dirty = true;
            letter = self.write_published();
        });
        drop(notify_write);
        match started {
            Ok((_, exec)) => self.exec_done(exec, letter),
            Err(e) => {
                // Fork failed (EAGAIN, ENOMEM): never give up, back off.
                self.report_start_failure(e);
                self.restarts.last_run_fast = true;
                self.schedule_restart();
            }
        }
    }

    /// Judge the dir and read its configuration, as when supervise began;
    /// false (a restart is scheduled) when it cannot be trusted.
    fn look_in_full(&mut self) -> bool {
        let taken = self.view.before_full_look();
        let here = Path::new(".");
        let distrust = self
            .trust
            .judge_dir(here)
            .or_else(|| self.trust.judge_files(here));
        if let Some(why) = distrust {
            self.view.after_full_look(taken, false);
            // Another user could change what runs here (as root, often), or
            // how: refuse, as keepalived refuses unsafe scripts, and retry
            // with backoff so fixing the modes brings the service up.
            if self.refused.as_ref() != Some(&why) {
                errors::warn(
                    PROG,
                    format_args!("refusing to start {}/run: {why}", self.shown),
                );
            }
            self.refused = Some(why);
            self.restarts.last_run_fast = true;
            self.schedule_restart();
            return false;
        }
        // Read only once trusted.
        self.config = self.reader.load();
        self.view.after_full_look(taken, true);
        true
    }

    pub(super) fn report_start_failure(&mut self, e: Errno) {
        if !self.restarts.start_failure_reported {
            self.warn_unable_to_start("run", e);
            self.restarts.start_failure_reported = true;
        }
    }

    /// run was exec'd, or failed to be (it then exits 127, reaped later).
    fn exec_done(&mut self, exec: Result<(), Errno>, letter: Option<u8>) {
        let Some(run) = self.run.as_mut() else { return };
        match exec {
            Ok(()) => {
                self.restarts.start_failure_reported = false;
                if let Some(letter) = letter {
                    self.announce(letter);
                }
                self.schedule_check();
            }
            Err(e) => {
                run.exec_failed = Some(e);
                self.report_start_failure(e);
                // Not up after all: starting until its exit is handled.
                self.checks.ready.cancel();
                self.set_phase(Phase::Starting);
            }
        }
    }

    pub(super) fn on_notify(&mut self) {
        let Some(run) = self.run.as_mut() else { return };
        let Some(fd) = run.notify.as_ref() else {
            return;
        };
        let mut buf = [0u8; 512];
        let (close, ready) = match nix::unistd::read(fd, &mut buf) {
            Ok(0) => (true, false),
            Ok(n) => {
                let newline = buf[..n].contains(&b'\n');
                (newline, newline)
            }
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => (false, false),
            Err(_) => (true, false),
        };
        if close {
            run.notify = None;
        }
        if ready {
            self.became_ready();
        }
    }

    /// run said it is ready (notification fd) or passed its first check.
    pub(super) fn became_ready(&mut self) {
        if matches!(self.phase, Phase::Up | Phase::Starting) {
            self.set_phase(Phase::Ready);
            self.checks.ready.cancel();
        }
    }

    pub(super) fn on_start_timer(&mut self) {
        self.restarts.next_start = None;
        if self.run.is_none() && self.finish.is_none() && matches!(self.want, Want::Up) {
            self.start();
        } else if self.phase == Phase::Backoff {
            self.set_phase(Phase::Down);
        }
    }

    // ---- exits ----------------------------------------------------------

    pub(super) fn reap(&mut self) {
        // Each child as it is reaped, no list: the restart path allocates
        // nothing.
        upkeep::event::reap_each(|pid, ended| {
            let exit = match ended {
                Ended::Exited(c) => Exit::Code(c),
                Ended::Signaled(s) => Exit::Signal(s),
            };
            if Some(pid) == self.run_pid() && self.run.as_ref().is_some_and(|r| r.adopted.is_none())
            {
                self.on_run_exit(exit);
            } else if Some(pid) == self.finish.as_ref().map(|f| f.pid) {
                self.on_finish_exit();
            } else if Some(pid) == self.checks.pid() {
                self.on_check_exit(exit);
            }
        });
    }

    pub(super) fn on_adopted_exit(&mut self) {
        // The pidfd polls readable once the process has exited; svscan (our
        // subreaper) or init reaps it.
        self.on_run_exit(Exit::Unknown);
    }

    pub(super) fn on_run_exit(&mut self, exit: Exit) {
        let Some(run) = self.run.take() else { return };
        let (code, sig) = match exit {
            Exit::Code(c) => (c, 0),
            Exit::Signal(s) => (256, s),
            Exit::Unknown => (-1, 0),
        };
        // Rewritten in place: no allocation once grown.
        self.last_exit.clear();
        let _ = match exit {
            Exit::Code(c) => write!(self.last_exit, "{c}"),
            Exit::Signal(s) => match signals::known_name(s) {
                Some(name) => write!(self.last_exit, "signal:{name}"),
                None => write!(self.last_exit, "signal:{s}"),
            },
            Exit::Unknown => write!(self.last_exit, "unknown"),
        };
        // A stop we asked for is no failure, whatever the run's age.
        let stopped_on_purpose = self.phase == Phase::Stopping;
        self.restarts.last_run_fast = !stopped_on_purpose
            && (run.exec_failed.is_some() || run.started.elapsed() < MIN_HEALTHY_RUN);
        self.since = Tai64N::now();
        self.paused = false;
        self.published.dirty = true;
        self.checks_stop();

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
            self.start_finish(code, sig, run.pid);
        } else {
            self.after_down();
        }
    }

    /// `./finish CODE SIGNAL NAME PGID`, as s6's: PGID is run's process
    /// group (its pid), for a finish that ends what run left behind.
    fn start_finish(&mut self, code: i32, sig: i32, group: Pid) {
        if let Some(why) = self.trust.judge(Path::new("finish"), "finish") {
            errors::warn(
                PROG,
                format_args!("refusing to start {}/finish: {why}", self.shown),
            );
            self.refused = Some(why);
            self.after_down();
            return;
        }
        let cmd = service_program("./finish")
            .arg(code.to_string())
            .arg(sig.to_string())
            .arg(&self.name)
            .arg(group.as_raw().to_string())
            .inherit(2);
        match cmd.spawn() {
            Ok(child) => {
                self.finish = Some(Finish {
                    pid: child.pid,
                    exec: child.exec,
                });
                if let Some(limit) = self.config.timeout_finish {
                    self.finish_timer.arm(limit);
                }
                self.set_phase(Phase::Finishing);
            }
            Err(e) => {
                self.warn_unable_to_start("finish", e);
                self.after_down();
            }
        }
    }

    fn on_finish_exit(&mut self) {
        if let Some(f) = self.finish.take() {
            if let Err(e) = f.exec {
                self.warn_unable_to_start("finish", e);
            }
        }
        self.finish_timer.cancel();
        self.after_down();
    }

    pub(super) fn on_finish_timer(&mut self) {
        if let Some(f) = &self.finish {
            // finish ran too long: KILL its whole group; its exit is reaped.
            signal_group(f.pid, libc::SIGKILL);
        }
    }

    pub(super) fn on_kill_timer(&mut self) {
        if let Some(group) = self.kill_group.take() {
            signal_group(group, libc::SIGKILL);
        }
    }

    /// run (and finish) are gone: decide what comes next.
    fn after_down(&mut self) {
        self.set_phase(Phase::Down);
        self.published.dirty = true;
        if self.exit_when_down {
            return;
        }
        if self.want == Want::Up {
            if self.restarts.operator_restart || !self.restarts.last_run_fast {
                self.restarts.operator_restart = false;
                self.restarts.fast_failures = 0;
                self.start();
            } else {
                self.schedule_restart();
            }
        }
    }

    /// A fast failure: wait MIN·2^(n-1), capped at MAX, then start.
    fn schedule_restart(&mut self) {
        self.restarts.fast_failures = self.restarts.fast_failures.saturating_add(1);
        let (min, max) = self.config.backoff;
        let shift = (self.restarts.fast_failures - 1).min(31);
        let delay = min.checked_mul(1u32 << shift).unwrap_or(max).min(max);
        self.start_timer.arm(delay);
        self.restarts.next_start = std::time::SystemTime::now()
            .checked_add(delay)
            .map(Tai64N::from_system);
        self.set_phase(Phase::Backoff);
        self.published.dirty = true;
    }
}
