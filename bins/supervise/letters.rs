//! The control-letter interpreter: what each byte read from
//! supervise/control does (doc/DESIGN.md, supervise/ — the wire format).

use super::*;

impl Supervisor {
    pub(super) fn on_control(&mut self) {
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

    pub(super) fn command(&mut self, letter: u8) {
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
                if let Some(sig) = upkeep::control::letter_signal(other) {
                    self.signal_run(sig);
                }
                // Unknown bytes are ignored, as daemontools does.
            }
        }
    }

    /// The down signal was sent (or a restart for health): KILL the group
    /// at timeout-kill if run is still there.
    pub(super) fn begin_stop(&mut self) {
        self.set_phase(Phase::Stopping);
        self.checks_stop();
        if let (Some(limit), Some(pid)) = (self.config.timeout_kill, self.run_pid()) {
            self.kill_group = Some(pid);
            self.kill_timer.arm(limit);
        }
    }

    pub(super) fn start_now_if_idle(&mut self) {
        if self.run.is_some() || self.finish.is_some() {
            return; // after finish, want decides
        }
        self.fast_failures = 0;
        self.cancel_pending_start();
        self.start();
    }

    pub(super) fn cancel_pending_start(&mut self) {
        if self.start_timer.is_armed() || self.phase == Phase::Backoff {
            self.start_timer.cancel();
            self.next_start = None;
            if self.phase == Phase::Backoff {
                self.set_phase(Phase::Down);
            }
        }
    }

    pub(super) fn run_pid(&self) -> Option<Pid> {
        self.run.as_ref().map(|r| r.pid)
    }

    /// Signal run: through its pidfd when adopted (never a pid reuser),
    /// else by pid (our child cannot be reused before we reap it).
    pub(super) fn signal_run(&self, sig: i32) {
        let Some(run) = &self.run else { return };
        let result = match &run.adopted {
            Some(pidfd) => upkeep::sys::pidfd_send_signal(pidfd, sig),
            None => kill(run.pid, Signal::try_from(sig).ok()),
        };
        match result {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => errors::warn(
                PROG,
                format_args!("unable to signal {}: {}", run.pid, errors::phrase(e)),
            ),
        }
    }
}
