//! Stopping a service for good (its dir removed or hidden, or svscan told
//! to exit): main side first, its logger once main's supervise is gone, so
//! the last lines are logged — for the supervisors svscan started and for
//! the foreign ones a killed svscan left behind alike.

use nix::sys::signal::{kill, Signal};

use super::{foreign, Key, Scanner, Side};
use upkeep::sys;

impl Scanner {
    /// The dir is gone (or hidden): stop its service, main side first.
    pub(super) fn remove(&mut self, key: Key) {
        let svc = self.services.get_mut(&key).expect("known service");
        svc.main.restart_pending = false;
        if let Some(l) = svc.log.as_mut() {
            l.restart_pending = false;
        }
        if let Some(wd) = svc.watch.take() {
            self.watches.remove(&wd);
            let _ = self.inotify.rm_watch(wd);
        }
        if svc.main.alive() {
            self.stop_side(key, Side::Main);
        }
        let svc = &self.services[&key];
        if !svc.main.alive() {
            self.stop_side(key, Side::Log);
        }
        self.forget_if_gone(key);
    }

    /// SIGTERM (supervise's `dx`) to ours; `dx` through the control FIFO
    /// to a foreign one, which stays watched so that its exit is known. One
    /// that cannot be told (its dir is gone) is not waited for.
    fn stop_side(&mut self, key: Key, side: Side) {
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
        if sup.foreign.is_none() || std::mem::replace(&mut sup.stopping, true) {
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

    /// A side's supervise is gone and the service is going: once main is
    /// gone, stop the logger; once both are, forget the service.
    pub(super) fn side_gone(&mut self, key: Key, side: Side) {
        if !self.services.contains_key(&key) {
            return;
        }
        if side == Side::Main {
            self.stop_side(key, Side::Log);
        }
        self.forget_if_gone(key);
    }

    fn forget_if_gone(&mut self, key: Key) {
        let Some(svc) = self.services.get(&key) else {
            return;
        };
        if !svc.main.alive() && !svc.log.as_ref().is_some_and(|l| l.alive()) {
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
