//! svscan (DESIGN §7): one supervise per service dir and one per `log/`,
//! a pipe between them held open here for the services' whole life,
//! rescans driven by inotify and signals only, and an orderly shutdown
//! (main services first, then their loggers, so the last lines are logged).

mod dangling;
mod deaths;
mod foreign;
mod handover;
mod pipes;
mod scan;
mod stop;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

use crate::errors::{self, Failure, EXIT_TEMPORARY};
use crate::event::{self, Timer};
use foreign::{Pin, Release};

const PROG: &str = "svscan";
/// A supervise that died is restarted at most this often.
const RESTART_SPACING: Duration = Duration::from_secs(1);
/// After EMFILE/ENOMEM, the next attempt.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);
/// One supervise process (main or log side).
#[derive(Default)]
struct Supervisor {
    pid: Option<Pid>,
    last_start: Option<Instant>,
    /// Dead and waiting for RESTART_SPACING to pass.
    restart_pending: bool,
    /// Told to stop for good (dir removed, svscan shutting down).
    stopping: bool,
    /// A supervise we did not start (left by an svscan that was killed)
    /// holds the dir: watched until its lock is released, then replaced by
    /// ours, which adopts the service.
    foreign: Option<WatchDescriptor>,
    /// That foreign supervise's pid and pidfd: seen gone, and told to stop
    /// (SIGTERM, its `dx`), even after its dir was renamed or removed.
    foreign_pin: Option<Pin>,
    /// svscan sent it `x` (to take the log pipe at the next stop).
    told_to_exit: bool,
    /// The next start replaces a supervise that svscan told to exit or
    /// that was killed: it gets its want. One that exited on an operator's
    /// `x` or TERM is replaced as daemontools does, want from `down`.
    replacing: bool,
    /// The control FIFO holding that want, kept open until this
    /// supervise is gone (see handover.rs).
    handover: Option<File>,
}

struct Service {
    name: OsString,
    main: Supervisor,
    log: Option<Supervisor>,
    /// (read end for log's stdin, write end for main's stdout).
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// Still present in the scan dir.
    present: bool,
    /// Watch on the service dir, to notice a `log/` created later.
    watch: Option<WatchDescriptor>,
    /// log/ appeared while main ran without the pipe: main's supervise is
    /// told to exit at the service's next stop and comes back with it.
    reattach_log: bool,
}

impl Supervisor {
    /// Neither running, nor due for a restart, nor waiting for a foreign one.
    fn idle(&self) -> bool {
        self.pid.is_none() && !self.restart_pending && self.foreign.is_none()
    }

    /// A supervise runs on this side, ours or a foreign one.
    fn alive(&self) -> bool {
        self.pid.is_some() || self.foreign.is_some()
    }
}

/// Services are identified by device and inode, as daemontools does: a
/// rename keeps the service, a new dir under an old name is a new one.
type Key = (u64, u64);

pub struct Scanner {
    supervise: PathBuf,
    signals: SignalFd,
    inotify: Inotify,
    retry: Timer,
    restart: Timer,
    recheck: Timer,
    dev_null: File,
    services: HashMap<Key, Service>,
    by_pid: HashMap<Pid, (Key, bool)>,
    watches: HashMap<WatchDescriptor, Key>,
    foreign: HashMap<WatchDescriptor, (Key, bool)>,
    /// Dirs without a `run` yet, watched until one appears.
    candidates: HashMap<WatchDescriptor, OsString>,
    /// The scan dir's own watch.
    root_watch: WatchDescriptor,
    /// Dirs where the target of a dangling symlink will appear.
    dangling: HashSet<WatchDescriptor>,
    shutting_down: bool,
}

/// Set by svscanboot, whose svscan starts with stdout the readproctitle
/// pipe and stderr still svscanboot's own (the journal): once svscan runs,
/// its errors (and its services') follow stdout; a fatal error before that
/// is seen where svscanboot's are.
pub const HANDOFF_ENV: &str = "SVSCANBOOT_HANDOFF";

/// Run svscan in `dir` until SIGTERM/SIGINT and every supervisor is gone.
pub fn run(dir: &Path) -> i32 {
    let handoff = std::env::var_os(HANDOFF_ENV).is_some();
    // Before any child is started: the services never see it.
    std::env::remove_var(HANDOFF_ENV);
    match Scanner::new(dir) {
        Ok(mut s) => {
            if handoff {
                if let Err(e) = nix::unistd::dup2_stderr(std::io::stdout()) {
                    errors::warn(
                        PROG,
                        format_args!(
                            "unable to send errors to stdout: {}",
                            errors::phrase(e as i32)
                        ),
                    );
                }
            }
            s.main_loop()
        }
        Err(f) => {
            errors::say(format_args!("{PROG}: fatal: {f}"));
            EXIT_TEMPORARY
        }
    }
}

fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

impl Scanner {
    fn new(dir: &Path) -> Result<Scanner, Failure> {
        crate::sys::ignore_sigpipe();
        let signals = event::signal_fd(&[
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGALRM,
        ])
        .map_err(|e| Failure::sys("unable to create signalfd", e))?;
        std::env::set_current_dir(dir)
            .map_err(|e| Failure::io(format!("unable to chdir to {}", dir.display()), &e))?;
        // Orphans of adopted services are reparented to us and reaped here.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| Failure::sys("unable to become a subreaper", e))?;
        raise_fd_limit();
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| Failure::sys("unable to create inotify instance", e))?;
        let root_watch = inotify
            .add_watch(
                ".",
                AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_ATTRIB,
            )
            .map_err(|e| Failure::sys(format!("unable to watch {}", dir.display()), e))?;
        let dev_null = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/null")
            .map_err(|e| Failure::io("unable to open /dev/null", &e))?;
        Ok(Scanner {
            supervise: crate::spawn::sibling("supervise"),
            signals,
            inotify,
            retry: Timer::new().map_err(|e| Failure::sys("unable to create timerfd", e))?,
            restart: Timer::new().map_err(|e| Failure::sys("unable to create timerfd", e))?,
            recheck: Timer::new().map_err(|e| Failure::sys("unable to create timerfd", e))?,
            dev_null,
            services: HashMap::new(),
            by_pid: HashMap::new(),
            watches: HashMap::new(),
            foreign: HashMap::new(),
            candidates: HashMap::new(),
            root_watch,
            dangling: HashSet::new(),
            shutting_down: false,
        })
    }

    fn main_loop(&mut self) -> i32 {
        self.scan();
        loop {
            if self.shutting_down && self.by_pid.is_empty() && self.foreign.is_empty() {
                return 0;
            }
            let (ready, pinned) = {
                let mut fds = vec![
                    self.signals.as_fd(),
                    self.inotify.as_fd(),
                    self.retry.as_fd(),
                    self.restart.as_fd(),
                    self.recheck.as_fd(),
                ];
                // Foreign supervisors' pidfds: readable when they exit.
                let pinned = self.pinned_foreign();
                fds.extend(pinned.iter().map(|(_, fd)| *fd));
                let pinned: Vec<_> = pinned.into_iter().map(|(p, _)| p).collect();
                match event::wait_readable(&fds, None) {
                    Ok(r) => (r, pinned),
                    Err(e) => {
                        errors::warn(
                            PROG,
                            format_args!("poll failed: {}", errors::phrase(e as i32)),
                        );
                        continue;
                    }
                }
            };
            let mut rescan = false;
            if ready[0] {
                for sig in event::pending_signals(&self.signals) {
                    match sig {
                        libc::SIGCHLD => self.reap(),
                        libc::SIGHUP | libc::SIGALRM => rescan = true,
                        _ => self.shut_down(),
                    }
                }
            }
            if ready[1] {
                rescan |= self.read_inotify();
            }
            if ready[2] && self.retry.take_expiry() {
                rescan = true;
            }
            if ready[3] && self.restart.take_expiry() {
                self.restart_due();
            }
            if ready[4] && self.recheck.take_expiry() {
                let foreign: Vec<_> = self.foreign.iter().map(|(w, s)| (*w, *s)).collect();
                for (wd, (key, log_side)) in foreign {
                    self.foreign_released(wd, key, log_side, Release::Recheck);
                }
            }
            for ((wd, key, log_side), exited) in pinned.into_iter().zip(&ready[5..]) {
                if *exited {
                    self.foreign_released(wd, key, log_side, Release::Exited);
                }
            }
            if rescan && !self.shutting_down {
                self.scan();
            }
        }
    }

    /// Drain inotify; true if the scan dir (or a service's `log`) changed.
    fn read_inotify(&mut self) -> bool {
        let mut changed = false;
        let mut released = Vec::new();
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                if e.mask.contains(AddWatchFlags::IN_IGNORED) {
                    if let Some(&side) = self.foreign.get(&e.wd) {
                        released.push((e.wd, side, Release::Gone));
                    }
                    self.watches.remove(&e.wd);
                    self.candidates.remove(&e.wd);
                    self.dangling.remove(&e.wd);
                    continue;
                }
                if self.dangling.contains(&e.wd) {
                    changed = true; // a link's target may be there now
                    continue;
                }
                if let Some(&side) = self.foreign.get(&e.wd) {
                    if e.name.as_deref() == Some(std::ffi::OsStr::new("lock")) {
                        released.push((e.wd, side, Release::Closed));
                    }
                    continue;
                }
                if self.watches.contains_key(&e.wd) || self.candidates.contains_key(&e.wd) {
                    // Inside a service dir only `run` and `log` matter.
                    let name = e.name.as_deref();
                    changed |= name == Some(std::ffi::OsStr::new("log"))
                        || name == Some(std::ffi::OsStr::new("run"));
                } else {
                    changed = true;
                }
            }
        }
        for (wd, (key, log_side), how) in released {
            self.foreign_released(wd, key, log_side, how);
        }
        changed
    }

    fn side_dir(svc: &Service, log_side: bool) -> PathBuf {
        let dir = PathBuf::from(&svc.name);
        if log_side {
            dir.join("log")
        } else {
            dir
        }
    }
}
