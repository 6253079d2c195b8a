//! pppoe-stop: end the loop for a config, whatever it is doing. It acts on
//! the loop's lock, never on a pid file alone: a pid is signalled only
//! through a pidfd opened on a process that /proc shows holding the lock,
//! and the stop is over only when the stop itself holds that lock (no loop
//! runs, none can start) and pppd's lock is free too.
//!
//! With a service dir, supervise is told `d` first, as `svc -d -wd` would:
//! the watch is set before the command is sent (svwait), supervise TERMs
//! its loop, and the stop waits for that up to the time limit before it
//! acts on the lock itself (KILL past the limit; at once when no supervise
//! runs). A supervise started meanwhile is told `d` too (telldown).

use std::path::Path;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use upkeep::control::SendError;
use upkeep::errors::Fatal;
use upkeep::pidlock::{self, PidLock, Probe};
use upkeep::pppoe::config::Config;
use upkeep::pppoe::{pppdlock, KILL_GRACE};

use crate::telldown::Told;

pub struct StopOptions<'a> {
    /// A service dir whose supervise must be told to stay down first.
    pub service: Option<&'a Path>,
    /// TERM, then KILL after this long.
    pub kill_after: Duration,
}

/// Stop the loop of `cfg` (and its pppd). Ok only when neither remains.
pub fn stop(cfg: &Config, opts: &StopOptions, warn: &mut dyn FnMut(String)) -> Result<(), Fatal> {
    let kill_at = later(Instant::now(), opts.kill_after);
    let deadline = later(kill_at, KILL_GRACE);
    let service = opts.service.or(cfg.service.as_deref());
    let mut told = match service.map(|dir| (dir, Told::tell(dir))) {
        None => None,
        // None runs now; one started during the stop is told below.
        Some((_, (told, Ok(()) | Err(SendError::NotRunning)))) => told,
        Some((dir, (_, Err(e)))) => {
            warn(e.warning(&dir.display().to_string()));
            None
        }
    };
    if let Some(t) = &mut told {
        // supervise TERMs its loop itself; the lock is acted on once that
        // is done (a loop outside supervise, pppd left behind), at once
        // when no supervise runs, or past the limit (KILL at once).
        let _ = t.wait_down(kill_at);
    }
    let kill_after = kill_at.saturating_duration_since(Instant::now());
    let pppd_path = cfg.pppd_pidfile();
    loop {
        if Instant::now() >= deadline {
            return Err(Fatal::temporary(format!(
                "{} is still locked: a loop keeps starting",
                cfg.pidfile.display()
            )));
        }
        let ended = end_holder_named(&cfg.pidfile, "pppoe-connect", kill_after, &mut || {
            // KILL pppd first: it may be the reason the loop is stuck, and
            // it only gets a TERM (PDEATHSIG) when the loop dies.
            if let Ok(Some(h)) = pppdlock::holder(&pppd_path) {
                let _ = h.signal(libc::SIGKILL);
            }
        })?;
        let main = match ended {
            Some(l) => l,
            None => match pidlock::probe(&cfg.pidfile, true) {
                Ok(Probe::Free(l)) => l,
                Ok(_) => continue,
                // No directory for the pid file: nothing can run.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => {
                    return Err(Fatal::io(
                        format!("unable to lock {}", cfg.pidfile.display()),
                        &e,
                    ))
                }
            },
        };
        // We hold the loop's lock: no loop runs and none can start, so
        // the state file speaks for a dead loop. A pppd whose loop was
        // killed may still hold its own lock.
        let _ = upkeep::runtimefile::remove_if_exists(&cfg.state_file());
        // -T counts from the stop's start, for pppd as for the loop.
        end_pppd(
            &pppd_path,
            kill_at.saturating_duration_since(Instant::now()),
        )?;
        // A supervise that never had our `d` (started during the stop,
        // adopting the loop wanting it up) is told now and waited for
        // while the lock is still ours: it cannot start another loop.
        if let Some(t) = &mut told {
            if t.retell() {
                t.supervise_down(deadline.max(later(Instant::now(), KILL_GRACE)))?;
            }
        }
        remove(main);
        break;
    }
    // The rest as `svc -d -wd`, the lock let go: a `u` someone sends
    // meanwhile wins at once (this stop then fails), as it did before.
    match &mut told {
        Some(t) => t.supervise_down(deadline.max(later(Instant::now(), KILL_GRACE))),
        None => Ok(()),
    }
}

/// `start + d`, saturating far in the future.
pub fn later(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .or_else(|| start.checked_add(Duration::from_secs(86_400 * 365)))
        .unwrap_or(start)
}

/// End the pppd holding `path`'s record lock (TERM, KILL past
/// `kill_after`), then remove the file. Only for a caller that holds the
/// loop's lock: no new pppd can start meanwhile.
fn end_pppd(path: &Path, kill_after: Duration) -> Result<(), Fatal> {
    let lock_fatal =
        |e: std::io::Error| Fatal::io(format!("unable to lock {}", path.display()), &e);
    // Once ended, a holder's lock is gone, and no new pppd can start: the
    // loop runs again only if the holder refused to die.
    while let Some(h) = pppdlock::holder(path).map_err(lock_fatal)? {
        if !pppdlock::end(&h, kill_after) {
            return Err(Fatal::temporary(format!(
                "{} is still held by pid {} after SIGKILL",
                path.display(),
                h.pid
            )));
        }
    }
    let _ = upkeep::runtimefile::remove_if_exists(path);
    Ok(())
}

fn remove(l: PidLock) {
    let _ = l.remove();
}

/// Make whoever holds the pid lock at `path` go away: TERM through a
/// verified pidfd, KILL (after `before_kill`) past `kill_after`. Returns the
/// lock, now ours, or None when the file is gone. Past the time limit, also
/// SIGKILL any process named `comm` that holds the lock though the pid file
/// does not name it (a fork of the killed loop that has not exec'd yet
/// keeps a copy of the lock).
fn end_holder_named(
    path: &Path,
    comm: &str,
    kill_after: Duration,
    before_kill: &mut dyn FnMut(),
) -> Result<Option<PidLock>, Fatal> {
    let kill_at = later(Instant::now(), kill_after);
    let give_up = later(kill_at, KILL_GRACE);
    let mut termed: Option<Pid> = None;
    let mut backoff = Duration::from_millis(1);
    let lock_fatal =
        |e: std::io::Error| Fatal::io(format!("unable to lock {}", path.display()), &e);
    loop {
        match pidlock::probe(path, false).map_err(lock_fatal)? {
            Probe::Absent => return Ok(None),
            Probe::Free(l) => return Ok(Some(l)),
            Probe::Held => {}
        }
        let now = Instant::now();
        if now >= give_up {
            return Err(Fatal::temporary(match pidlock::holder(path) {
                Ok(Some(h)) => format!(
                    "{} is still held by pid {} after SIGKILL",
                    path.display(),
                    h.pid
                ),
                _ => format!("{} is still locked after SIGKILL", path.display()),
            }));
        }
        match pidlock::holder(path).map_err(lock_fatal)? {
            Some(h) => {
                backoff = Duration::from_millis(1);
                if now >= kill_at {
                    before_kill();
                    let _ = h.signal(libc::SIGKILL);
                    let _ = h.wait_exit(give_up - now);
                } else {
                    if termed != Some(h.pid) {
                        let _ = h.signal(libc::SIGTERM);
                        termed = Some(h.pid);
                    }
                    let _ = h.wait_exit(kill_at - now);
                }
            }
            None => {
                if now >= kill_at {
                    for h in pidlock::scan_holders(path, comm).unwrap_or_default() {
                        let _ = h.signal(libc::SIGKILL);
                    }
                }
                // Held, but the holder is not known yet (its pid is not
                // written, or it is a stop cleaning up): look again soon.
                let _ = pidlock::wait_change(path, backoff.min(give_up - now));
                backoff = (backoff * 2).min(Duration::from_millis(20));
            }
        }
    }
}
