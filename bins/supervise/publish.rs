//! Publishing: the phase, supervise/status (daemontools' 18 bytes) and
//! supervise/state (upkeep's fields), written when something changed.

use super::*;

impl Supervisor {
    pub(super) fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.dirty = true;
        }
    }

    pub(super) fn publish(&mut self) {
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
