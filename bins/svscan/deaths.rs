//! A supervise's death: reaped, reported, and restarted (at most once a
//! second per side), or, for a service that is going, the next step of
//! its orderly stop.

use std::time::Instant;

use super::{Key, Scanner, Side, PROG, RESTART_SPACING};
use upkeep::{errors, event};

impl Scanner {
    pub(super) fn reap(&mut self) {
        for (pid, ended) in event::reap_children() {
            // Anything not ours is an orphan reparented to us: reaped, done.
            if let Some((key, side)) = self.services.take_pid(pid) {
                self.supervise_died(key, side, ended);
            }
        }
    }

    fn supervise_died(&mut self, key: Key, side: Side, ended: event::Ended) {
        let Some(svc) = self.services.get_mut(&key) else {
            return;
        };
        let present = svc.present && !self.shutting_down;
        let dir = Scanner::side_dir(svc, side);
        let sup = svc.side_mut(side);
        let Some(sup) = sup else { return };
        sup.pid = None;
        // One that failed before reading the want it was handed (lock still
        // held by its dying predecessor) hands it on to the next.
        let handed = sup.handover.take().is_some();
        sup.replacing = matches!(ended, event::Ended::Signaled(_))
            || std::mem::take(&mut sup.told_to_exit)
            || (handed && !matches!(ended, event::Ended::Exited(0)));
        if present {
            match ended {
                event::Ended::Exited(0) => {}
                event::Ended::Exited(code) => errors::warn(
                    PROG,
                    format_args!("supervise {} exited {code}", dir.display()),
                ),
                event::Ended::Signaled(sig) => errors::warn(
                    PROG,
                    format_args!(
                        "supervise {} killed by {}",
                        dir.display(),
                        upkeep::signals::name(sig)
                    ),
                ),
            }
            let due = sup
                .last_start
                .get()
                .map(|t| t + RESTART_SPACING)
                .unwrap_or_else(Instant::now);
            if due <= Instant::now() {
                self.start(key, side);
            } else {
                sup.restart_pending = true;
                self.arm_restart_timer();
            }
            return;
        }
        self.side_gone(key, side);
    }

    pub(super) fn arm_restart_timer(&mut self) {
        let earliest = self
            .services
            .values()
            .flat_map(|s| std::iter::once(&s.main).chain(s.log.as_deref()))
            .filter(|s| s.restart_pending)
            .filter_map(|s| s.last_start.get().map(|t| t + RESTART_SPACING))
            .min();
        match earliest {
            Some(due) => self
                .restart
                .arm(due.saturating_duration_since(Instant::now())),
            None => self.restart.cancel(),
        }
    }

    pub(super) fn restart_due(&mut self) {
        let now = Instant::now();
        let due: Vec<(Key, Side)> = self
            .services
            .iter()
            .flat_map(|(k, s)| {
                let main = (
                    s.main.restart_pending,
                    *k,
                    Side::Main,
                    s.main.last_start.get(),
                );
                let log = s
                    .log
                    .as_ref()
                    .map(|l| (l.restart_pending, *k, Side::Log, l.last_start.get()));
                std::iter::once(main).chain(log)
            })
            .filter(|(pending, _, _, last)| {
                *pending && last.is_none_or(|t| t + RESTART_SPACING <= now)
            })
            .map(|(_, k, log, _)| (k, log))
            .collect();
        for (key, side) in due {
            if self.shutting_down {
                // A stop of a run left behind, tried again (stop.rs).
                self.side_gone(key, side);
            } else {
                self.start(key, side);
            }
        }
        self.arm_restart_timer();
    }
}
