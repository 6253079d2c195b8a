//! vrrp-notify (DESIGN §9): keepalived's VRRP transitions, handled strictly
//! in order, as atomic state files and per-state hooks.

pub mod fifo;
pub mod hooks;
pub mod line;
pub mod statefiles;

use crate::errors::{self, Failure, EXIT_TEMPORARY};
use crate::lock;
use crate::tai64::Tai64N;

use hooks::HookConfig;
use line::Event;
use statefiles::StateDir;

/// The lock that serialises hook-mode invocations (STATEDIR/.lock).
pub const LOCK_NAME: &str = ".lock";

/// Hook mode: one event given as arguments by keepalived's `notify`.
/// Invocations queue on an exclusive lock in the state directory, so their
/// state files and hooks never interleave. Returns the exit code: 0, or 111
/// when a state file or a hook failed (so keepalived logs it).
pub fn run_hook_mode(states: &StateDir, hooks: &HookConfig, event: &Event) -> i32 {
    let prog = hooks.prog;
    crate::sys::ignore_sigpipe();
    if let Err(f) = states.ensure() {
        errors::die(prog, EXIT_TEMPORARY, f);
    }
    let path = states.dir().join(LOCK_NAME);
    let file = match lock::open_lock_file(&path) {
        Ok(f) => f,
        Err(e) => errors::die(
            prog,
            EXIT_TEMPORARY,
            Failure::io(format!("unable to open {}", path.display()), &e),
        ),
    };
    let _held = match lock::exclusive(file) {
        Ok(l) => l,
        Err(e) => errors::die(
            prog,
            EXIT_TEMPORARY,
            Failure::sys(format!("unable to lock {}", path.display()), e),
        ),
    };
    let mut code = 0;
    if let Err(f) = states.record(event, Tai64N::now()) {
        errors::warn(prog, f);
        code = EXIT_TEMPORARY;
    }
    if !hooks::run_blocking(hooks, event).is_empty() {
        code = EXIT_TEMPORARY;
    }
    code
}
