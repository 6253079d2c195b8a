//! pppoe-stop: end the loop for a config, whatever it is doing. It acts on
//! the loop's lock, never on a pid file alone: a pid is signalled only
//! through a pidfd opened on a process that /proc shows holding the lock,
//! and the stop is over only when the stop itself holds that lock (no loop
//! runs, none can start) and pppd's lock is free too.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::unistd::Pid;

use upkeep::control::{self, SendError};
use upkeep::errors::Fatal;
use upkeep::event;
use upkeep::pidlock::{self, PidLock, Probe};
use upkeep::pppoe::config::Config;
use upkeep::pppoe::{io_fatal, pppdlock, KILL_GRACE};
use upkeep::status::{self, Want};

pub struct StopOptions<'a> {
    /// A service dir whose supervise must be told to stay down first.
    pub service: Option<&'a Path>,
    /// TERM, then KILL after this long.
    pub kill_after: Duration,
}

/// Stop the loop of `cfg` (and its pppd). Ok only when neither remains.
pub fn stop(cfg: &Config, opts: &StopOptions, warn: &mut dyn FnMut(String)) -> Result<(), Fatal> {
    let deadline = Instant::now() + opts.kill_after + KILL_GRACE;
    let service = opts.service.or(cfg.service.as_deref());
    let mut told = false;
    if let Some(dir) = service {
        match control::send(dir, b"d") {
            Ok(()) => {
                told = true;
                wait_supervise(dir, deadline, |s| s.want == Want::Down);
            }
            Err(SendError::NotRunning) => {}
            Err(e) => warn(e.warning(&dir.display().to_string())),
        }
    }
    let pppd_path = cfg.pppd_pidfile();
    loop {
        if Instant::now() >= deadline {
            return Err(Fatal::temporary(format!(
                "{} is still locked: a loop keeps starting",
                cfg.pidfile.display()
            )));
        }
        let ended = end_holder_named(
            &cfg.pidfile,
            Some("pppoe-connect"),
            opts.kill_after,
            &mut || {
                // KILL pppd first: it may be the reason the loop is stuck, and
                // it only gets a TERM (PDEATHSIG) when the loop dies.
                if let Ok(Some(h)) = pppdlock::holder(&pppd_path) {
                    let _ = h.signal(libc::SIGKILL);
                }
            },
        )?;
        let main = match ended {
            Some(l) => l,
            None => match pidlock::probe(&cfg.pidfile, true) {
                Ok(Probe::Free(l)) => l,
                Ok(_) => continue,
                // No directory for the pid file: nothing can run.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => {
                    return Err(io_fatal(
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
        end_pppd(&pppd_path, opts.kill_after)?;
        remove(main);
        break;
    }
    if told {
        let dir = service.unwrap_or(Path::new("."));
        if !wait_supervise(dir, deadline, |s| s.pid == 0) {
            return Err(Fatal::temporary(format!(
                "supervise on {} still reports a process",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// End the pppd holding `path`'s record lock (TERM, KILL past
/// `kill_after`), then remove the file. Only for a caller that holds the
/// loop's lock: no new pppd can start meanwhile.
fn end_pppd(path: &Path, kill_after: Duration) -> Result<(), Fatal> {
    let lock_fatal = |e: std::io::Error| io_fatal(format!("unable to lock {}", path.display()), &e);
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
/// lock, now ours, or None when the file is gone. Past the time limit, also SIGKILL any process named
/// `comm` that holds the lock though the pid file does not name it (a fork
/// of the killed loop that has not exec'd yet keeps a copy of the lock).
fn end_holder_named(
    path: &Path,
    comm: Option<&str>,
    kill_after: Duration,
    before_kill: &mut dyn FnMut(),
) -> Result<Option<PidLock>, Fatal> {
    let kill_at = Instant::now() + kill_after;
    let give_up = kill_at + KILL_GRACE;
    let mut termed: Option<Pid> = None;
    let mut backoff = Duration::from_millis(1);
    let lock_fatal = |e: std::io::Error| io_fatal(format!("unable to lock {}", path.display()), &e);
    loop {
        match pidlock::probe(path, false).map_err(lock_fatal)? {
            Probe::Absent => return Ok(None),
            Probe::Free(l) => return Ok(Some(l)),
            Probe::Held => {}
        }
        let now = Instant::now();
        if now >= give_up {
            let who = pidlock::read_pid(path).ok().flatten();
            let alive = who.is_some_and(|p| nix::sys::signal::kill(p, None).is_ok());
            return Err(Fatal::temporary(match who {
                Some(p) if alive => {
                    format!("{} is still held by pid {p} after SIGKILL", path.display())
                }
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
                if let (Some(comm), true) = (comm, now >= kill_at) {
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

/// Wait until supervise's status on `dir` satisfies `ok` (status is
/// replaced by rename, so watch supervise/ for it). False on timeout.
pub fn wait_supervise(dir: &Path, deadline: Instant, ok: impl Fn(&status::Status) -> bool) -> bool {
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
    if let Some(i) = &ino {
        let _ = i.add_watch(
            &dir.join("supervise"),
            AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE,
        );
    }
    loop {
        match status::read_status(dir) {
            Ok(Some(s)) if ok(&s) => return true,
            Ok(_) => {}
            // No status: no supervise to wait for.
            Err(_) => return true,
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        match &ino {
            Some(i) => {
                let _ = event::wait_readable(
                    &[i.as_fd()],
                    Some((deadline - now).min(Duration::from_millis(100))),
                );
                let _ = i.read_events();
            }
            None => {
                let _ = event::wait_readable(
                    &[],
                    Some((deadline - now).min(Duration::from_millis(10))),
                );
            }
        }
    }
}
