//! The lost hook's whole life: started as `HOOK CONFIG CODE` when pppd is
//! lost (own session, so its whole group can be killed), killed past
//! HOOK_LIMIT, and left to finish when the loop stops (it may be the one
//! handing mastership over; cutting it half-way could leave that undone).

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use upkeep::errors::warn;
use upkeep::event::Timer;
use upkeep::pinned::Pinned;
use upkeep::pppoe::config::Config;
use upkeep::spawn::Spawn;

/// How long the lost hook may run.
const HOOK_LIMIT: Duration = Duration::from_secs(30);

/// The lost hook, when one runs, and its time limit.
pub struct LostHook {
    running: Option<Pinned>,
    limit: Timer,
}

impl LostHook {
    pub fn new() -> Result<LostHook, Errno> {
        Ok(LostHook {
            running: None,
            limit: Timer::new()?,
        })
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The running hook's pidfd (readable once it exits).
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.running.as_ref().map(|h| h.pidfd.as_fd())
    }

    /// The time limit's timerfd (readable once it fires).
    pub fn limit_fd(&self) -> BorrowedFd<'_> {
        self.limit.as_fd()
    }

    /// Run `hook` for pppd's exit `code`, under the time limit.
    pub fn start(&mut self, hook: &Path, cfg: &Config, code: i32) -> Result<(), Errno> {
        self.running = Some(spawn(hook, cfg, code)?);
        self.limit.arm(HOOK_LIMIT);
        Ok(())
    }

    /// The hook exited: reap it, saying so if it failed.
    pub fn exited(&mut self) {
        let Some(h) = self.running.take() else { return };
        self.limit.cancel();
        if let Ok(code) = h.reap() {
            if code != 0 {
                warn(crate::PROG, format_args!("lost hook exited {code}"));
            }
        }
    }

    /// The limit's timer is readable: past the limit, kill the hook's group.
    pub fn check_limit(&mut self) {
        if !self.limit.take_expiry() {
            return;
        }
        if let Some(h) = &self.running {
            warn(
                crate::PROG,
                format_args!("lost hook still running after {HOOK_LIMIT:?}: killing it"),
            );
            // Own session, not reaped yet: the group id is still its own.
            let _ = killpg(h.pid, Signal::SIGKILL);
        }
    }

    /// The loop stops: leave the hook to finish on its own (the kernel
    /// reaps it once the loop is gone).
    pub fn abandon(&mut self) {
        self.running = None;
        self.limit.cancel();
    }
}

/// Start the lost hook: `HOOK CONFIG CODE`.
fn spawn(hook: &Path, cfg: &Config, code: i32) -> Result<Pinned, Errno> {
    let c = Spawn::new(hook)
        .arg(&cfg.path)
        .arg(code.to_string())
        .new_session()
        .spawn()?;
    let pinned = Pinned::child(c.pid);
    let exec = c.exec;
    match (pinned, exec) {
        (Ok(p), Ok(())) => Ok(p),
        (p, exec) => {
            let _ = nix::sys::wait::waitpid(c.pid, None);
            drop(p);
            Err(exec.err().unwrap_or(Errno::EIO))
        }
    }
}
