//! pppd as the loop runs it: a direct child, own session,
//! PR_SET_PDEATHSIG=SIGTERM, holding a record lock on PIDFILE.pppd that its
//! own children never hold (see pppdlock); and what its exit codes mean.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use nix::sys::signal::{kill, Signal};

use upkeep::errors::{io_phrase, phrase, warn, Fatal};
use upkeep::pinned::Pinned;
use upkeep::pppoe::config::Config;
use upkeep::pppoe::pppdlock;
use upkeep::spawn::Spawn;

/// pppd exit codes that no redial can fix: options error, not root, no
/// kernel PPP support.
pub fn is_permanent(code: i32) -> bool {
    matches!(code, 2..=4)
}

/// pppd's exit code meaning SIGINT/SIGTERM/SIGHUP ended it (not a loss).
pub const PPPD_SIGNALLED: i32 = 5;

/// pppd's own words for its exit codes (pppd(8), EXIT STATUS), for log lines.
pub fn describe(code: i32) -> &'static str {
    match code {
        0 => "ok",
        1 => "fatal error",
        2 => "options error",
        3 => "not root",
        4 => "no kernel PPP support",
        5 => "terminated by signal",
        6 => "serial port lock failed",
        7 => "serial port open failed",
        8 => "connect script failed",
        9 => "pty command failed",
        10 => "PPP negotiation failed",
        11 => "peer failed to authenticate",
        12 => "idle timeout",
        13 => "connect time limit",
        14 => "callback",
        15 => "peer not answering LCP echo",
        16 => "modem hung up",
        17 => "loopback detected",
        18 => "init script failed",
        19 => "we failed to authenticate",
        c if c > 128 => "killed by a signal",
        _ => "unknown",
    }
}

/// A running pppd.
pub struct Pppd {
    pub proc: Pinned,
    /// PIDFILE.pppd, whose lock pppd holds (see pppdlock).
    pub path: PathBuf,
}

impl Pppd {
    /// pppd is reaped: its pid file goes.
    pub fn remove_file(&self) {
        let _ = upkeep::runtimefile::remove_if_exists(&self.path);
    }
}

/// Why no pppd runs now.
pub enum DialError {
    /// Try again after the retry delay (fork or exec failed).
    Retry(String),
    /// The loop cannot go on.
    Fatal(Fatal),
}

/// Start pppd for `cfg`, first ending a pppd that an earlier, killed loop
/// left holding PIDFILE.pppd (two pppds would fight for one session).
pub fn start_pppd(cfg: &Config) -> Result<Pppd, DialError> {
    let path = cfg.pppd_pidfile();
    let lock_fatal = |e: std::io::Error| {
        DialError::Fatal(Fatal::io(format!("unable to lock {}", path.display()), &e))
    };
    let mut tries = 0;
    let file = loop {
        let file = pppdlock::open(&path).map_err(lock_fatal)?;
        match pppdlock::holder_of(&file).map_err(lock_fatal)? {
            None => break file,
            Some(h) if tries < 2 => {
                tries += 1;
                warn(
                    crate::PROG,
                    format_args!(
                        "pppd of an earlier loop still holds {} (pid {}): stopping it",
                        path.display(),
                        h.pid
                    ),
                );
                pppdlock::end(&h, cfg.stop_timeout);
            }
            Some(h) => {
                return Err(DialError::Fatal(Fatal::temporary(format!(
                    "pppd of an earlier loop still holds {} (pid {})",
                    path.display(),
                    h.pid
                ))))
            }
        }
    };
    let fd = file.as_raw_fd();
    let child = Spawn::new(&cfg.pppd)
        .args(cfg.pppd_args())
        .new_session()
        .parent_death_signal(libc::SIGTERM)
        .inherit(fd)
        .record_lock(fd)
        .spawn();
    let remove = || {
        let _ = upkeep::runtimefile::remove_if_exists(&path);
    };
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            remove();
            return Err(DialError::Retry(format!("unable to fork: {}", phrase(e))));
        }
    };
    let proc = match Pinned::child(child.pid) {
        Ok(p) => p,
        Err(e) => {
            // Cannot watch it: do not leave it unwatched. (Our unreaped
            // child: its pid cannot have been reused.)
            let _ = kill(child.pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(child.pid, None);
            remove();
            return Err(DialError::Fatal(Fatal::sys("unable to open pidfd", e)));
        }
    };
    if let Err(e) = child.exec {
        let _ = proc.reap();
        remove();
        return Err(DialError::Retry(format!(
            "unable to run {}: {}",
            cfg.pppd.display(),
            phrase(e)
        )));
    }
    if let Err(e) = pppdlock::write_pid(&file, child.pid) {
        warn(
            crate::PROG,
            format_args!("unable to write {}: {}", path.display(), io_phrase(&e)),
        );
    }
    Ok(Pppd { proc, path })
}
