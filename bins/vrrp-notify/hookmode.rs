//! Hook mode: the one event keepalived's `notify` passes as arguments,
//! invocations taking turns in the order keepalived started them.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use upkeep::errors::{self, Fatal, EXIT_TEMPORARY};
use upkeep::lock::{self, Lock};
use upkeep::tai64::Tai64N;

use crate::hooks::{self, HookConfig};
use crate::line::Event;
use crate::order::{self, Order};
use crate::statefiles::{Entry, StateDir};

/// The lock that serialises hook-mode invocations (STATEDIR/.lock).
pub const LOCK_NAME: &str = ".lock";
/// How often a failed state file write is tried again.
pub const RETRY: Duration = Duration::from_secs(1);

fn take_lock(states: &StateDir) -> Result<Lock, Fatal> {
    let path = states.dir().join(LOCK_NAME);
    let file = lock::open_lock_file(&path)
        .map_err(|e| Fatal::io(format!("unable to open {}", path.display()), &e))?;
    lock::exclusive(file).map_err(|e| Fatal::sys(format!("unable to lock {}", path.display()), e))
}

/// Wait for `pid` to exit, at most `limit`: did it?
fn wait_exit(pid: Pid, limit: Duration) -> bool {
    let Ok(fd) = upkeep::sys::pidfd_open(pid) else {
        return true;
    };
    use std::os::fd::AsFd;
    upkeep::event::wait_readable(&[fd.as_fd()], Some(limit)).map_or(true, |r| r[0])
}

/// Hook mode: one event given as arguments by keepalived's `notify`.
/// Invocations take turns on an exclusive lock in the state directory, in
/// the order keepalived started them (see `order`); one that finds a newer
/// event already applied drops its own. Returns the exit code: 0, or 111
/// when a state file or a hook failed (so keepalived logs it); or what kept
/// it from taking its turn.
pub fn run(states: &StateDir, hooks: &HookConfig, event: &Event) -> Result<i32, Fatal> {
    let prog = hooks.prog;
    upkeep::sys::ignore_sigpipe();
    states.ensure()?;
    let me = Order::of_self();
    // An older invocation still on its way gets its turn first; a stuck
    // one is waited for no longer than its hooks could take.
    let patience = hooks
        .timeout
        .saturating_mul(2)
        .saturating_add(Duration::from_secs(1));
    let mut stuck = Vec::new();
    let _held = loop {
        let held = take_lock(states)?;
        let older = me
            .as_ref()
            .and_then(|o| order::older_sibling(o, states.dir(), &stuck));
        match older {
            None => break held,
            Some(pid) => {
                drop(held);
                if !wait_exit(pid, patience) {
                    stuck.push(pid);
                }
            }
        }
    };
    states.remove_stale_temps();
    if let (Some(me), Some(last)) = (&me, states.journal(&event.name)) {
        if last.order.as_ref().is_some_and(|l| !me.is_after(l)) {
            errors::warn(
                prog,
                format_args!(
                    "not applying {event}: a later event ({}) is already applied",
                    last.event
                ),
            );
            return Ok(0);
        }
    }
    let mut entry = Entry::new(event.clone(), Tai64N::now());
    entry.order = me;
    let mut code = 0;
    if !apply_retrying(prog, states, &entry, hooks.timeout) {
        return Ok(EXIT_TEMPORARY);
    }
    if !hooks::run_blocking(hooks, event)?.is_empty() {
        code = EXIT_TEMPORARY;
    }
    if let Err(f) = states.mark_done(&entry) {
        errors::warn(prog, f);
    }
    Ok(code)
}

/// Apply `entry`, trying again every second for up to `limit` (a full
/// disk may clear); the first failure is reported, and the last if it
/// never worked.
fn apply_retrying(prog: &str, states: &StateDir, entry: &Entry, limit: Duration) -> bool {
    let end = Instant::now().checked_add(limit);
    let mut reported = false;
    loop {
        match states.apply(entry) {
            Ok(()) => return true,
            Err(f) => {
                if end.is_some_and(|e| Instant::now() >= e) {
                    errors::warn(prog, format_args!("giving up: {f}"));
                    return false;
                }
                if !reported {
                    errors::warn(prog, format_args!("{f}: trying again every second"));
                    reported = true;
                }
                let _ = upkeep::event::wait_readable(&[], Some(RETRY));
            }
        }
    }
}
