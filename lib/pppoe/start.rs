//! pppoe-start: run pppoe-connect detached (own session, stdio to /dev/null
//! or a log) and wait until it runs pppd, or a time limit passes.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::unistd::{AccessFlags, Pid};

use super::config::Config;
use super::{already_running, io_fatal, sys_fatal, Fatal, Proc, STATE_RUNNING};
use crate::event;
use crate::pidlock::{self, Probe};
use crate::spawn::Spawn;
use crate::{runtimefile, sys};

pub struct StartOptions<'a> {
    /// How long to wait for pppd; zero: only for the loop to hold its lock.
    pub timeout: Duration,
    /// Where the loop's stdout and stderr go (appended); /dev/null if None.
    pub log: Option<&'a Path>,
    /// The pppoe-connect program.
    pub connect: &'a Path,
}

fn open_out(log: Option<&Path>) -> std::io::Result<File> {
    match log {
        Some(p) => OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(p),
        None => OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/null"),
    }
}

/// Start the loop for `cfg`; the loop's pid once pppd runs.
pub fn start(cfg: &Config, opts: &StartOptions) -> Result<Pid, Fatal> {
    // Catch what would make the loop fail at once, where it can be seen.
    cfg.check_link()?;
    if let Err(e) = nix::unistd::access(&cfg.pppd, AccessFlags::X_OK) {
        return Err(sys_fatal(
            format!("unable to run {}", cfg.pppd.display()),
            e,
        ));
    }
    // The loop would refuse a directory others can write: say so here,
    // where it can be seen, not as "exited 111".
    runtimefile::Dir::open(runtimefile::parent_of(&cfg.pidfile))
        .map_err(|e| io_fatal(format!("unable to lock {}", cfg.pidfile.display()), &e))?;
    if let Probe::Held = pidlock::probe(&cfg.pidfile, false)
        .map_err(|e| io_fatal(format!("unable to lock {}", cfg.pidfile.display()), &e))?
    {
        return Err(already_running(&cfg.pidfile));
    }
    let devnull = File::open("/dev/null").map_err(|e| io_fatal("unable to open /dev/null", &e))?;
    let out = open_out(opts.log).map_err(|e| {
        let name = opts
            .log
            .map(|p| p.display().to_string())
            .unwrap_or("/dev/null".into());
        io_fatal(format!("unable to open {name}"), &e)
    })?;
    let dir = cfg
        .pidfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| sys_fatal("unable to create inotify", e))?;
    ino.add_watch(
        &dir,
        AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MODIFY,
    )
    .map_err(|e| sys_fatal(format!("unable to watch {}", dir.display()), e))?;

    let child = Spawn::new(opts.connect)
        .arg(&cfg.path)
        .new_session()
        .fd(&devnull, 0)
        .fd(&out, 1)
        .fd(&out, 2)
        .spawn()
        .map_err(|e| sys_fatal("unable to fork", e))?;
    let proc = Proc {
        pid: child.pid,
        pidfd: sys::pidfd_open(child.pid).map_err(|e| sys_fatal("unable to open pidfd", e))?,
    };
    if let Err(e) = child.wait_exec() {
        let _ = proc.reap();
        return Err(sys_fatal(
            format!("unable to run {}", opts.connect.display()),
            e,
        ));
    }
    // A zero timeout (rp-pppoe's CONNECT_TIMEOUT=0): do not wait for pppd,
    // only for the loop to hold its lock.
    let wait_pppd = !opts.timeout.is_zero();
    let limit = if wait_pppd {
        opts.timeout
    } else {
        Duration::from_secs(30)
    };
    let now = Instant::now();
    let deadline = now
        .checked_add(limit)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365));
    loop {
        let ours = pidlock::read_pid(&cfg.pidfile).ok().flatten() == Some(child.pid);
        let state = runtimefile::read_optional(&cfg.state_file()).ok().flatten();
        if ours && (!wait_pppd || state.as_deref().map(str::trim) == Some(STATE_RUNNING)) {
            return Ok(child.pid);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Fatal::temporary(format!(
                "timed out waiting for pppd (pppoe-connect runs as pid {})",
                child.pid
            )));
        }
        let ready = event::wait_readable(&[proc.pidfd.as_fd(), ino.as_fd()], Some(deadline - now))
            .map_err(|e| sys_fatal("unable to poll", e))?;
        if ready[1] {
            let _ = ino.read_events();
        }
        if ready[0] {
            let code = proc.reap().unwrap_or(111);
            if let Ok(Probe::Held) = pidlock::probe(&cfg.pidfile, false) {
                return Err(already_running(&cfg.pidfile));
            }
            let hint = opts
                .log
                .map(|p| format!(" (see {})", p.display()))
                .unwrap_or_default();
            return Err(Fatal {
                code: if code == 100 { 100 } else { 111 },
                message: format!("pppoe-connect exited {code} before pppd ran{hint}"),
            });
        }
    }
}
