//! The loop's own files: PIDFILE, whose flock pppoe-connect holds for its
//! whole life (so "lock free" means "no loop"), with its pid in it; and
//! PIDFILE.state, what the loop is doing, replaced atomically.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::errors::Fatal;
use crate::pidlock;

/// What `PIDFILE.state` says.
pub const STATE_RUNNING: &str = "running";
pub const STATE_WAITING: &str = "waiting";
pub const STATE_HOOK: &str = "hook";
pub const STATE_STOPPING: &str = "stopping";

/// The "already running" refusal, naming the holder's pid once it is known
/// (a holder that just took the lock gets a moment to write it).
pub fn already_running(pidfile: &Path) -> Fatal {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        if let Ok(Some(h)) = pidlock::holder(pidfile) {
            return Fatal::temporary(format!("already running as pid {}", h.pid));
        }
        let now = Instant::now();
        if now >= deadline || !pidfile.exists() {
            return Fatal::temporary("already running");
        }
        let _ = pidlock::wait_change(pidfile, (deadline - now).min(Duration::from_millis(20)));
    }
}
