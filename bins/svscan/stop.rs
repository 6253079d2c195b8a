//! Stopping a service for good (its dir removed or hidden, or svscan told
//! to exit): main side first, its logger once main's supervise is gone, so
//! the last lines are logged — for the supervisors svscan started and for
//! the foreign ones a killed svscan left behind alike. The logger is not
//! signalled: its supervise is told `ox` and svscan closes its own ends of
//! the log pipe, so the logger reads to EOF, writes everything and exits;
//! only one still there DRAIN_TIMEOUT later (a descendant of the service
//! still holds the pipe, or the logger ignores EOF) is stopped as main was.
//! A run whose supervise was killed just before the shutdown is stopped too.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{foreign, handover, Key, Scanner, Side, Stamp, Supervise, PROG, RESTART_SPACING};
use upkeep::status;
use upkeep::{errors, procfs, sys};

/// Supervisors started, a second apart, to stop one run left behind
/// before svscan gives up on it and exits anyway.
const STOP_ATTEMPTS: u8 = 3;
/// How long a logger told to end on EOF has before it is stopped anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The run a dead supervise left on DIR: the pid its supervise/state
/// names, if that process still runs with the start time recorded there
/// (never a later process that merely reused the pid).
fn leftover_run(dir: &Path) -> Option<Pid> {
    let state = status::read_state(dir)?;
    if !state.phase.has_process() || state.starttime == 0 {
        return None;
    }
    let pid = Pid::from_raw(i32::try_from(state.pid).ok().filter(|&p| p > 0)?);
    (procfs::is_running(pid) && procfs::start_time(pid) == Some(state.starttime)).then_some(pid)
}

impl Scanner {
    /// The dir is gone (or hidden): stop its service, main side first.
    pub(super) fn remove(&mut self, key: Key) {
        let svc = self.services.get_mut(&key).expect("known service");
        svc.main.restart_pending = false;
        if let Some(l) = svc.log.as_deref_mut() {
            l.restart_pending = false;
        }
        if let Some(wd) = self.services.take_watch(&key) {
            let _ = self.inotify.rm_watch(wd);
        }
        self.stop_side(key, Side::Main);
        let svc = &self.services[&key];
        if !svc.main.alive() {
            self.stop_side(key, Side::Log);
        }
        self.forget_if_gone(key);
    }

    /// A logger is drained first (drain_log); past that, or for main:
    /// SIGTERM (supervise's `dx`) to ours; `dx` through the control FIFO
    /// to a foreign one, which stays watched so that its exit is known. One
    /// that cannot be told (its dir is gone) is not waited for. One that
    /// is dead is replaced at shutdown to stop its run (stop_leftover).
    pub(super) fn stop_side(&mut self, key: Key, side: Side) {
        if side == Side::Log && self.drain_log(key) {
            return;
        }
        let svc = self.services.get_mut(&key).expect("known service");
        let dir = Self::side_dir(svc, side);
        let Some(sup) = svc.side_mut(side) else {
            return;
        };
        if let Some(pid) = sup.pid {
            // Again at each rescan while it lingers: harmless, as daemontools.
            let _ = kill(pid, Signal::SIGTERM);
            return;
        }
        if sup.foreign.is_none() {
            if self.shutting_down {
                self.stop_leftover(key, side);
            }
            return;
        }
        if std::mem::replace(&mut sup.stopping, true) {
            return;
        }
        // Through the control FIFO while the dir is still that supervise's
        // (any supervise, daemontools' too, obeys `dx`); once the dir was
        // renamed, removed or reused, to the pinned process: SIGTERM is
        // upkeep's supervise's `dx`.
        let told = match &sup.foreign_pin {
            Some(pin) if !foreign::still_holds(pin, &dir) => {
                sys::pidfd_send_signal(&pin.pidfd, libc::SIGTERM).is_ok()
            }
            _ => upkeep::control::send(&dir, b"dx").is_ok(),
        };
        if !told {
            sup.foreign_pin = None;
            let wd = sup.foreign.take().expect("checked above");
            self.foreign.remove(&wd);
            let _ = self.inotify.rm_watch(wd);
            if side == Side::Main {
                self.stop_side(key, Side::Log);
            }
        }
    }

    /// The logger's turn: its supervise is told `ox` (no signal, no
    /// restart, exit once the logger is down) and svscan drops its copies
    /// of the log pipe, so the logger ends on EOF once main's run and
    /// supervise are gone. True while that drain stands; false when the
    /// logger is to be stopped now (it could not be told, or its time is up).
    fn drain_log(&mut self, key: Key) -> bool {
        let svc = self.services.get_mut(&key).expect("known service");
        let dir = Self::side_dir(svc, Side::Log);
        // Whatever follows, the pipe is no longer given to anyone — unless
        // the service came back meanwhile: then it is its new one (scan.rs).
        if !svc.present {
            svc.pipe = None;
        }
        let Some(log) = svc.log.as_deref_mut() else {
            return false;
        };
        let now = Instant::now();
        if let Some(until) = log.drain_until.get() {
            return until > now;
        }
        if !log.alive() {
            return false;
        }
        let dir = match (log.pid, &log.foreign_pin) {
            // Our child, not reaped yet: its cwd is its dir even after a
            // rename, and no other supervise's.
            (Some(pid), _) => Some(PathBuf::from(format!("/proc/{pid}/cwd"))),
            // The dir is no longer that foreign supervise's: only a signal
            // reaches it.
            (None, Some(pin)) if !foreign::still_holds(pin, &dir) => None,
            (None, _) => Some(dir),
        };
        let told = dir.is_some_and(|dir| {
            // A logger the operator took down (`svc -d`) is not started
            // again to drain the pipe: its supervise just exits.
            let down = status::read_status(&dir)
                .ok()
                .flatten()
                .is_some_and(|s| s.want == status::Want::Down);
            let letters: &[u8] = if down { b"x" } else { b"ox" };
            upkeep::control::send(&dir, letters).is_ok()
        });
        if !told {
            return false;
        }
        // Saturating: no deadline at all means stopping it at once.
        log.drain_until = Stamp::new(Some(now.checked_add(DRAIN_TIMEOUT).unwrap_or(now)));
        self.arm_drain_timer();
        true
    }

    fn arm_drain_timer(&mut self) {
        let now = Instant::now();
        let earliest = self
            .services
            .values()
            .filter_map(|s| s.log.as_deref())
            .filter(|l| l.alive())
            .filter_map(|l| l.drain_until.get())
            .filter(|&t| t > now)
            .min();
        match earliest {
            Some(t) => self.drain.arm(t.saturating_duration_since(now)),
            None => self.drain.cancel(),
        }
    }

    /// The drain timer fired: the loggers still there past their time are
    /// stopped as main was (a descendant of the service may still hold the
    /// pipe's write end, or the logger ignores EOF).
    pub(super) fn drain_due(&mut self) {
        let now = Instant::now();
        let due: Vec<Key> = self
            .services
            .iter()
            .filter(|(_, s)| {
                s.log
                    .as_ref()
                    .is_some_and(|l| l.alive() && l.drain_until.get().is_some_and(|t| t <= now))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.stop_side(key, Side::Log);
        }
        self.arm_drain_timer();
    }

    /// A side's supervise is gone and the service is going: once main is
    /// gone, stop the logger; once both are, forget the service.
    pub(super) fn side_gone(&mut self, key: Key, side: Side) {
        if !self.services.contains_key(&key) {
            return;
        }
        if self.shutting_down && self.stop_leftover(key, side) {
            return;
        }
        if side == Side::Main {
            self.stop_side(key, Side::Log);
        }
        self.forget_if_gone(key);
    }

    /// Shutting down, and this side's supervise is gone (killed, or dead
    /// and not restarted yet) while its run may still run: an orphan that
    /// would outlive svscan. If the run is still there, one more supervise
    /// is started with `dx` queued in its control FIFO: it adopts the run
    /// and stops it the usual way (down signal, finish, timeout-kill), then
    /// exits. True while such a stop is under way or due.
    fn stop_leftover(&mut self, key: Key, side: Side) -> bool {
        let Some(svc) = self.services.get_mut(&key) else {
            return false;
        };
        let dir = Self::side_dir(svc, side);
        let Some(sup) = svc.side_mut(side) else {
            return false;
        };
        sup.restart_pending = false;
        let Some(pid) = leftover_run(&dir) else {
            return false;
        };
        if sup.stop_attempts >= STOP_ATTEMPTS {
            errors::warn(
                PROG,
                format_args!(
                    "unable to stop {}: pid {pid} is left running",
                    dir.display()
                ),
            );
            return false;
        }
        // The first at once; a retry a second after the last start, as
        // restarts are spaced.
        let due = sup
            .last_start
            .get()
            .and_then(|t| t.checked_add(RESTART_SPACING));
        if sup.stop_attempts > 0 && due.is_some_and(|due| due > Instant::now()) {
            sup.restart_pending = true;
            self.arm_restart_timer();
            return true;
        }
        sup.stop_attempts += 1;
        let Some(fifo) = handover::queue(&dir, b"dx") else {
            errors::warn(
                PROG,
                format_args!(
                    "unable to stop {}: unable to write supervise/control; pid {pid} is left running",
                    dir.display()
                ),
            );
            return false;
        };
        sup.handover = Some(fifo);
        self.start(key, side);
        true
    }

    /// Shutting down and a stop of a run left behind is due (stop_leftover).
    pub(super) fn stop_pending(&self) -> bool {
        self.services
            .values()
            .flat_map(|s| std::iter::once(&s.main).chain(s.log.as_deref()))
            .any(|s| s.restart_pending)
    }

    fn forget_if_gone(&mut self, key: Key) {
        let Some(svc) = self.services.get(&key) else {
            return;
        };
        let busy = |s: &Supervise| s.alive() || s.restart_pending;
        if !busy(&svc.main) && !svc.log.as_deref().is_some_and(busy) {
            self.services.remove(&key);
        }
    }

    pub(super) fn shut_down(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.retry.cancel();
        self.restart.cancel();
        let keys: Vec<Key> = self.services.keys().copied().collect();
        for key in keys {
            self.services.get_mut(&key).expect("known").present = false;
            self.remove(key);
        }
    }
}
