//! Surviving supervise's own death (doc/DESIGN.md, supervise). A SIGKILLed supervise
//! leaves its run running. The next supervise on the dir reads `state`: if
//! the recorded pid is alive with the recorded /proc start time (so it is
//! the same process, not a reused pid), it adopts it — watches it with a
//! pidfd, signals it through the pidfd, reports it up since the original
//! start — instead of starting a second copy.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::{Run, Supervisor, PROG};
use upkeep::status::{self, Phase};
use upkeep::{errors, procfs, sys};

impl Supervisor {
    pub(super) fn adopt_leftover_run(&mut self) {
        let Some(state) = status::read_state(Path::new(".")) else {
            return;
        };
        if state.pid == 0 || state.starttime == 0 || !state.phase.has_process() {
            return;
        }
        let pid = Pid::from_raw(state.pid as i32);
        let same_process =
            || procfs::is_running(pid) && procfs::start_time(pid) == Some(state.starttime);
        if !same_process() {
            return; // gone, or the pid now names another process
        }
        let Ok(pidfd) = sys::pidfd_open(pid) else {
            return;
        };
        // The process may have died and its pid been reused between the
        // check and pidfd_open: check again, now that the pidfd pins it.
        if !same_process() {
            return;
        }
        let status = status::read_status(Path::new(".")).ok().flatten();
        let since = status.map(|s| s.since).unwrap_or(state.since);
        let age = since.to_system().elapsed().unwrap_or(Duration::ZERO);
        self.run = Some(Run {
            pid,
            started: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
            starttime: Some(state.starttime),
            notify: None,
            exec_failed: None,
            adopted: Some(pidfd),
            has_check: Path::new("check").exists(),
        });
        self.since = since;
        self.want = state.want;
        self.paused = state.paused;
        self.last_exit = state.last_exit.clone();
        self.restarts.starts = state.restarts.saturating_add(1);
        let has_check = self.run.as_ref().is_some_and(|r| r.has_check);
        // The readiness pipe died with the old supervise: without a check,
        // an adopted run counts as ready, as one without a readiness fd does.
        self.phase = match state.phase {
            Phase::Stopping => Phase::Stopping,
            Phase::Ready => Phase::Ready,
            _ if has_check => Phase::Up,
            _ => Phase::Ready,
        };
        self.published.dirty = true;
        errors::warn(
            PROG,
            format_args!("{}: adopted the running service, pid {pid}", self.shown),
        );
        if self.phase == Phase::Stopping {
            // It was being stopped when its supervisor died: finish the job
            // (and restart it if that stop was a restart).
            self.restarts.operator_restart = self.want == upkeep::status::Want::Up;
            self.signal_run(self.config.down_signal);
            self.signal_run(libc::SIGCONT);
            self.begin_stop();
        } else {
            self.schedule_check();
        }
    }
}
