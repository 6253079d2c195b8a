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

    /// Write what changed and wake the waiters.
    pub(super) fn publish(&mut self) {
        if let Some(letter) = self.write_published() {
            self.announce(letter);
        }
    }

    /// Wake the waiters in supervise/event/ with `letter`.
    pub(super) fn announce(&mut self, letter: u8) {
        if let Some(events) = self.owned.events.as_mut() {
            events.announce(letter);
        }
    }

    /// Write `status` and `state` where they changed; the letter to wake
    /// the waiters with when either did.
    pub(super) fn write_published(&mut self) -> Option<u8> {
        self.published.dirty = false;
        let pid = self.run_pid().map(|p| p.as_raw() as u32).unwrap_or(0);
        // The fields are rewritten in place and encoded into a kept
        // buffer: once their strings have grown, publishing allocates
        // nothing.
        let p = &mut self.published;
        let st = &mut p.fields;
        st.phase = self.phase;
        st.pid = pid;
        st.pgid = pid;
        st.since = self.since;
        st.want = self.want;
        st.paused = self.paused && pid != 0;
        st.last_exit.clear();
        st.last_exit.push_str(&self.last_exit);
        st.restarts = self.restarts.starts.saturating_sub(1);
        st.fast_failures = self.restarts.fast_failures;
        st.next_start = self.restarts.next_start;
        st.check.clear();
        st.check.push_str(self.checks.result);
        st.check_failures = self.checks.failures;
        st.refused.clear();
        st.refused
            .push_str(self.refused.as_deref().unwrap_or_default());
        st.events = self.owned.events.is_some();
        st.exiting = self.exit_when_down;
        let status = Status {
            since: self.since,
            pid,
            paused: self.paused,
            want: self.want,
        };
        let letter = upkeep::svevent::letter(&status, st);
        let status = status.encode();
        // Status first: the daemontools record that svc, svstat, svok and
        // a restart's watcher read is out one file write sooner. A reader
        // of both meets a status newer than the state for a moment: it
        // reads them again (svstat), or waits for the event that follows
        // both (svc -w).
        let mut results = [None, None];
        if status != p.status {
            let r = self.owned.dir.replace(OsStr::new("status"), &status, 0o644);
            if r.is_ok() {
                p.status = status;
            }
            results[0] = Some(("status", r));
        }
        // The state names run's start time, read once status is out. run
        // is our child, not yet reaped: its pid names no other process.
        let run = self.run.as_mut();
        let starttime = run.map(|r| {
            *r.starttime
                .get_or_insert_with(|| upkeep::procfs::start_time(r.pid).unwrap_or(0))
        });
        st.starttime = starttime.unwrap_or(0);
        st.encode_into(&mut p.encoded);
        if p.encoded != p.state {
            let r = self
                .owned
                .dir
                .replace(OsStr::new("state"), p.encoded.as_bytes(), 0o644);
            if r.is_ok() {
                std::mem::swap(&mut p.state, &mut p.encoded);
            }
            results[1] = Some(("state", r));
        }
        // Waiters re-read both files: wake them once, after both.
        let changed = results.iter().any(Option::is_some).then_some(letter);
        for (file, result) in results.into_iter().flatten() {
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
        changed
    }
}
