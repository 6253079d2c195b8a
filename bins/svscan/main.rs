//! svscan [DIR]: one supervise per service dir and one per `log/`, a pipe
//! between them held open here for the services' whole life, the names
//! inotify reports looked at one by one (the whole dir read again only on
//! SIGHUP, SIGALRM or an inotify overflow), and an orderly
//! shutdown (main services first, then their loggers, so the last lines
//! are logged). See doc/DESIGN.md for the contract.
#![forbid(unsafe_code)]
// Started by `daemon_main!` below, without Rust's runtime set-up (see there).
#![cfg_attr(not(test), no_main)]

mod dangling;
mod deaths;
mod foreign;
mod handover;
mod idtable;
mod name;
mod notify;
mod pipes;
mod scan;
mod services;
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

use foreign::{Pin, Release};
use services::{Name, Services};
use upkeep::errors::{self, Fatal};
use upkeep::event::{self, Timer};
use upkeep::handoff::HANDOFF_ENV;

const PROG: &str = "svscan";
/// A supervise that died is restarted at most this often.
const RESTART_SPACING: Duration = Duration::from_secs(1);
/// After EMFILE/ENOMEM, the next attempt.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);
/// One supervise process (main or log side).
#[derive(Default)]
struct Supervise {
    pid: Option<Pid>,
    last_start: Stamp,
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
    /// The control FIFO holding that want (or the `dx` of a supervise
    /// started only to stop a run left behind), kept open until this
    /// supervise is gone (see handover.rs).
    handover: Option<File>,
    /// A logger told `ox` to end on EOF (stop.rs): stopped anyway if its
    /// supervise is still there at this instant.
    drain_until: Stamp,
    /// Supervisors started during shutdown to stop a run left behind by
    /// one that was killed (see stop.rs).
    stop_attempts: u8,
}

struct Service {
    name: Name,
    main: Supervise,
    /// Boxed: most services have no log/, and 500 services fit in a
    /// smaller table.
    log: Option<Box<Supervise>>,
    /// (read end for log's stdin, write end for main's stdout).
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// Still present in the scan dir.
    present: bool,
    /// Watch on the service dir, to notice a `log/` created later.
    watch: Option<WatchDescriptor>,
    /// log/ appeared while main ran without the pipe: main's supervise is
    /// told to exit at the service's next stop and comes back with it.
    reattach_log: bool,
    /// Seen under a second name too (a link to it in the scan dir): its
    /// name going away does not mean it went (see scan.rs).
    aliased: bool,
}

/// An `Option<Instant>` in 8 bytes, not 16: nanoseconds since svscan
/// started, plus one (0 is none). Two in every Supervise.
#[derive(Clone, Copy, Default)]
struct Stamp(u64);

/// The instant Stamps count from: svscan's start (Scanner::new).
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Stamp {
    fn new(t: Option<Instant>) -> Stamp {
        Stamp(t.map_or(0, |t| {
            let ns = t.saturating_duration_since(epoch()).as_nanos();
            u64::try_from(ns).unwrap_or(u64::MAX - 1) + 1
        }))
    }

    fn get(self) -> Option<Instant> {
        (self.0 != 0).then(|| epoch() + Duration::from_nanos(self.0 - 1))
    }
}

/// Which of a service's two supervises: the service's own or its log/'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Main,
    Log,
}

impl Service {
    fn side(&self, side: Side) -> Option<&Supervise> {
        match side {
            Side::Main => Some(&self.main),
            Side::Log => self.log.as_deref(),
        }
    }

    fn side_mut(&mut self, side: Side) -> Option<&mut Supervise> {
        match side {
            Side::Main => Some(&mut self.main),
            Side::Log => self.log.as_deref_mut(),
        }
    }
}

impl Supervise {
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

struct Scanner {
    supervise: PathBuf,
    signals: SignalFd,
    inotify: Inotify,
    retry: Timer,
    restart: Timer,
    recheck: Timer,
    /// The earliest deadline of a logger ending on EOF (stop.rs).
    drain: Timer,
    dev_null: File,
    /// With their indexes by name, by supervise pid and by watch.
    services: Services,
    foreign: HashMap<WatchDescriptor, (Key, Side)>,
    /// Dirs without a `run` yet, watched until one appears.
    /// Each with the names it was seen under (a link to it is one more).
    candidates: HashMap<WatchDescriptor, HashSet<OsString>>,
    /// The scan dir's own watch.
    root_watch: WatchDescriptor,
    /// Dirs where the target of a dangling symlink will appear, each with
    /// the links (names in the scan dir) waiting on it.
    dangling: HashMap<WatchDescriptor, HashSet<OsString>>,
    shutting_down: bool,
}

/// Run svscan in `dir` until SIGTERM/SIGINT and every supervisor is gone.
fn run(dir: &Path) -> i32 {
    let handoff = std::env::var_os(HANDOFF_ENV).is_some();
    // Before any child is started: the services never see it.
    std::env::remove_var(HANDOFF_ENV);
    match Scanner::new(dir) {
        Ok(mut s) => {
            if handoff {
                if let Err(e) = nix::unistd::dup2_stderr(std::io::stdout()) {
                    errors::warn(
                        PROG,
                        format_args!("unable to send errors to stdout: {}", errors::phrase(e)),
                    );
                }
            }
            s.main_loop()
        }
        Err(fatal) => errors::report(PROG, &fatal),
    }
}

impl Scanner {
    fn new(dir: &Path) -> Result<Scanner, Fatal> {
        epoch();
        let signals = event::daemon_signals(&[
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGALRM,
        ])
        .map_err(|e| Fatal::sys("unable to create signalfd", e))?;
        std::env::set_current_dir(dir)
            .map_err(|e| Fatal::io(format!("unable to chdir to {}", dir.display()), &e))?;
        // Orphans of adopted services are reparented to us and reaped here.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| Fatal::sys("unable to become a subreaper", e))?;
        event::raise_fd_limit();
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| Fatal::sys("unable to create inotify instance", e))?;
        let root_watch = inotify
            .add_watch(
                ".",
                AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_ATTRIB,
            )
            .map_err(|e| Fatal::sys(format!("unable to watch {}", dir.display()), e))?;
        let dev_null = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/null")
            .map_err(|e| Fatal::io("unable to open /dev/null", &e))?;
        Ok(Scanner {
            supervise: upkeep::spawn::sibling("supervise"),
            signals,
            inotify,
            retry: Timer::new().map_err(|e| Fatal::sys("unable to create timerfd", e))?,
            restart: Timer::new().map_err(|e| Fatal::sys("unable to create timerfd", e))?,
            recheck: Timer::new().map_err(|e| Fatal::sys("unable to create timerfd", e))?,
            drain: Timer::new().map_err(|e| Fatal::sys("unable to create timerfd", e))?,
            dev_null,
            services: Services::default(),
            foreign: HashMap::new(),
            candidates: HashMap::new(),
            root_watch,
            dangling: HashMap::new(),
            shutting_down: false,
        })
    }

    fn main_loop(&mut self) -> i32 {
        self.scan();
        let mut worked = true;
        loop {
            if self.shutting_down
                && self.services.pids() == 0
                && self.foreign.is_empty()
                && !self.stop_pending()
            {
                return 0;
            }
            let (ready, pinned) = {
                let mut fds = vec![
                    self.signals.as_fd(),
                    self.inotify.as_fd(),
                    self.retry.as_fd(),
                    self.restart.as_fd(),
                    self.recheck.as_fd(),
                    self.drain.as_fd(),
                ];
                // Foreign supervisors' pidfds: readable when they exit.
                let pinned = self.pinned_foreign();
                fds.extend(pinned.iter().map(|(_, fd)| *fd));
                let pinned: Vec<_> = pinned.into_iter().map(|(p, _)| p).collect();
                // About to sleep after some work: what that work freed goes
                // back (a burst of new services leaves ~130 kB of free heap
                // at 500), so svscan's size is what it keeps, not its peak.
                if worked
                    && event::wait_readable(&fds, Some(Duration::ZERO))
                        .is_ok_and(|r| !r.contains(&true))
                {
                    worked = false;
                    upkeep::sys::release_free_heap();
                }
                match event::wait_readable(&fds, None) {
                    Ok(r) => (r, pinned),
                    Err(e) => {
                        errors::warn(PROG, format_args!("poll failed: {}", errors::phrase(e)));
                        continue;
                    }
                }
            };
            worked = true;
            let mut rescan = false;
            let mut names = HashSet::new();
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
                rescan |= self.read_inotify(&mut names);
            }
            if ready[2] && self.retry.take_expiry() {
                rescan = true;
            }
            if ready[3] && self.restart.take_expiry() {
                self.restart_due();
            }
            if ready[4] && self.recheck.take_expiry() {
                let foreign: Vec<_> = self.foreign.iter().map(|(w, s)| (*w, *s)).collect();
                for (wd, (key, side)) in foreign {
                    self.foreign_released(wd, key, side, Release::Recheck);
                }
            }
            if ready[5] && self.drain.take_expiry() {
                self.drain_due();
            }
            for ((wd, key, side), exited) in pinned.into_iter().zip(&ready[6..]) {
                if *exited {
                    self.foreign_released(wd, key, side, Release::Exited);
                }
            }
            if !self.shutting_down {
                if rescan {
                    self.scan();
                } else if !names.is_empty() {
                    self.check(names, false);
                }
            }
        }
    }

    fn side_dir(svc: &Service, side: Side) -> PathBuf {
        let dir = PathBuf::from(&*svc.name);
        match side {
            Side::Main => dir,
            Side::Log => dir.join("log"),
        }
    }
}

const HELP: &str = "usage: svscan [dir]
Start a supervise for every subdirectory of dir (default .) that has a
run file, and one for its log/ with a pipe between them; watch dir for
new and removed services (inotify; SIGHUP or SIGALRM rescans).  SIGTERM
or SIGINT stops every service, loggers last, and exits 0.
Exit: 0 after SIGTERM/SIGINT; 111 when dir cannot be used.
See svscan(8).
";

upkeep::daemon_main!(main_body);

fn main_body() -> i32 {
    if upkeep::help::answered("svscan", HELP) {
        return 0;
    }
    // Bytes, not UTF-8: a scan dir may have any name.
    let dir = std::env::args_os().nth(1).unwrap_or_else(|| ".".into());
    std::process::exit(run(std::path::Path::new(&dir)));
}
