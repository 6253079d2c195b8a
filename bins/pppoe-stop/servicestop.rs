//! `pppoe-stop --service DIR` when the config cannot be used (unreadable, a
//! line it cannot parse, a relative PIDFILE): the stop must not depend on
//! it. Supervise knows the loop's pid; the loop's children are found while
//! the loop is alive (their parent is the pinned loop, so they are ours),
//! pinned with pidfds, and waited for after `svc -d`. Past the time limit
//! the loop and its pppd are killed through those pidfds — never anything
//! else.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use upkeep::control::{self, SendError};
use upkeep::errors::Fatal;
use upkeep::pinned::Pinned;
use upkeep::pppoe::KILL_GRACE;
use upkeep::{event, procfs, status};

use crate::stop::later;
use crate::telldown::Told;

/// The lost hook runs as `HOOK CONFIG CODE`; it is left to finish, as the
/// loop leaves it (it may be handing mastership over).
fn is_lost_hook(pid: Pid) -> bool {
    procfs::argv(pid).is_some_and(|argv| argv.len() == 3 && argv[2].iter().all(u8::is_ascii_digit))
}

/// The children of the pinned, live `parent` (its pppd), each pinned and
/// checked to be that parent's child after pinning.
fn children_of(parent: &Pinned) -> Vec<Pinned> {
    if parent.exited() {
        return Vec::new();
    }
    let child_now = |pid| Ok((procfs::parent(pid) == Some(parent.pid)).then_some(pid));
    procfs::children(parent.pid)
        .into_iter()
        .filter(|&pid| !is_lost_hook(pid))
        .filter_map(|pid| Pinned::checked(pid, || child_now(pid)).ok()?)
        .collect()
}

/// The process supervise runs on `dir`, pinned (and still the one supervise
/// reports, so not a reuser of its pid), if any.
fn supervised(dir: &Path) -> Option<Pinned> {
    let supervised_now = || {
        let pid = status::read_status(dir).ok().flatten().map_or(0, |s| s.pid);
        Ok(i32::try_from(pid)
            .ok()
            .filter(|&p| p > 0)
            .map(Pid::from_raw)
            .filter(|&p| is_its_run(dir, p)))
    };
    let pid = supervised_now().ok()??;
    Pinned::checked(pid, supervised_now).ok()?
}

/// Is `pid` the run supervise started on `dir`? A live supervise keeps
/// its status true (its run is its child: the pid cannot be reused before
/// it reaps it and writes the status). A dead one's status still names a
/// run that may have exited since, and its pid be another process's: only
/// the start time upkeep's supervise records in `state` (as an adopting
/// supervise checks it) tells that process from a later one.
fn is_its_run(dir: &Path, pid: Pid) -> bool {
    let recorded = status::read_state(dir)
        .filter(|st| i64::from(st.pid) == i64::from(pid.as_raw()) && st.starttime != 0);
    match recorded {
        Some(st) => procfs::start_time(pid) == Some(st.starttime),
        None => control::supervise_running(dir).unwrap_or(false),
    }
}

/// Take the service down and wait until the supervised loop and its pppd
/// are gone; past `kill_after`, SIGKILL them. Ok once they are.
pub fn stop(dir: &Path, kill_after: Duration) -> Result<(), Fatal> {
    let start = Instant::now();
    let kill_at = later(start, kill_after);
    let give_up = later(kill_at, KILL_GRACE);
    let looped = supervised(dir);
    let mut pinned: Vec<Pinned> = looped.iter().flat_map(children_of).collect();
    let mut told = match Told::tell(dir) {
        (told, Ok(())) => told,
        (_, Err(SendError::NotRunning)) if looped.is_none() => {
            return Err(Fatal::temporary(format!(
                "supervise is not running on {}",
                dir.display()
            )))
        }
        // Its loop runs on without it: ended below, then the status must
        // say so (a supervise started meanwhile is told `d` too).
        (told, Err(SendError::NotRunning)) => told,
        (_, Err(e)) => return Err(Fatal::temporary(e.warning(&dir.display().to_string()))),
    };
    let all_gone = |looped: &Option<Pinned>, pinned: &[Pinned]| {
        looped.as_ref().is_none_or(Pinned::exited) && pinned.iter().all(Pinned::exited)
    };
    let mut killed = false;
    loop {
        if let Some(t) = &mut told {
            // A supervise started since adopts the loop wanting it up.
            let _ = t.retell();
        }
        if all_gone(&looped, &pinned) {
            break;
        }
        let now = Instant::now();
        if now >= give_up {
            let left: Vec<String> = looped
                .iter()
                .chain(&pinned)
                .filter(|p| !p.exited())
                .map(|p| p.pid.to_string())
                .collect();
            return Err(Fatal::temporary(format!(
                "pid {} still running after SIGKILL",
                left.join(" ")
            )));
        }
        if now >= kill_at && !killed {
            killed = true;
            // A pppd started since we looked is the live loop's child too.
            if let Some(l) = &looped {
                pinned.extend(children_of(l));
            }
            for p in pinned.iter().chain(&looped) {
                let _ = p.signal(libc::SIGKILL);
            }
        }
        // Only those still running: an exited one is always readable.
        let fds: Vec<_> = pinned
            .iter()
            .chain(&looped)
            .filter(|p| !p.exited())
            .map(|p| p.pidfd.as_fd())
            .collect();
        let until = if killed { give_up } else { kill_at };
        let _ = event::wait_readable(
            &fds,
            Some(
                until
                    .saturating_duration_since(now)
                    .min(Duration::from_millis(100)),
            ),
        );
    }
    match &mut told {
        Some(t) => t.supervise_down(give_up.max(later(Instant::now(), KILL_GRACE))),
        None => Ok(()),
    }
}
