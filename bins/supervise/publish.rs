//! Publishing: the phase, supervise/status (daemontools' 18 bytes) and
//! supervise/state (upkeep's fields), written when something changed.

use super::*;

impl Supervisor {
    pub(super) fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.published.dirty = true;
        }
    }

    pub(super) fn publish(&mut self) {
        self.published.dirty = false;
        let pid = self.run_pid().map(|p| p.as_raw() as u32).unwrap_or(0);
        let state = State {
            phase: self.phase,
            pid,
            pgid: pid,
            since: self.since,
            want: self.want,
            paused: self.paused && pid != 0,
            last_exit: self.last_exit.clone(),
            restarts: self.restarts.starts.saturating_sub(1),
            fast_failures: self.restarts.fast_failures,
            next_start: self.restarts.next_start,
            check: self.checks.result.to_string(),
            check_failures: self.checks.failures,
            starttime: self.run.as_ref().map(|r| r.starttime).unwrap_or(0),
            refused: self.refused.clone().unwrap_or_default(),
            events: self.owned.events.is_some(),
        };
        let status = Status {
            since: self.since,
            pid,
            paused: self.paused,
            want: self.want,
        };
        let letter = upkeep::svevent::letter(&status, &state);
        // Status first: the daemontools record that svc, svstat, svok and
        // a restart's watcher read is out one file write sooner. A reader
        // of both meets a status newer than the state for a moment: it
        // reads them again (svstat), or waits for the event that follows
        // both (svc -w).
        let (state, status) = (state.encode(), status.encode());
        let mut results = Vec::with_capacity(2);
        if status != self.published.status {
            let r = self.owned.dir.replace(OsStr::new("status"), &status, 0o644);
            if r.is_ok() {
                self.published.status = status;
            }
            results.push(("status", r));
        }
        if state != self.published.state {
            let r = self
                .owned
                .dir
                .replace(OsStr::new("state"), state.as_bytes(), 0o644);
            if r.is_ok() {
                self.published.state = state;
            }
            results.push(("state", r));
        }
        // Waiters re-read both files: wake them once, after both.
        if !results.is_empty() {
            if let Some(events) = self.owned.events.as_mut() {
                events.announce(letter);
            }
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
