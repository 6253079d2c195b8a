//! svscan (DESIGN §7): one supervise per service dir and one per `log/`,
//! a pipe between them held open here for the services' whole life,
//! rescans driven by inotify and signals only, and an orderly shutdown
//! (main services first, then their loggers, so the last lines are logged).

mod dangling;
mod handover;
mod pipes;
mod stop;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirEntryExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;

use crate::errors::{self, Failure, EXIT_TEMPORARY};
use crate::event::{self, Timer};
use crate::spawn::Spawn;

const PROG: &str = "svscan";
/// A supervise that died is restarted at most this often.
const RESTART_SPACING: Duration = Duration::from_secs(1);
/// After EMFILE/ENOMEM, the next attempt.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);
/// A foreign supervise's lock file was closed but its flock still shows:
/// the kernel reports the close a moment before it drops the lock. Looked
/// at again this much later (only then: no idle wake-ups).
const FOREIGN_RECHECK: Duration = Duration::from_millis(20);

/// Why a foreign supervise is looked at.
#[derive(Clone, Copy, PartialEq)]
enum Release {
    /// Its lock file was closed.
    Closed,
    /// FOREIGN_RECHECK after a close that still showed the lock held.
    Recheck,
    /// Its supervise/ is gone (IN_IGNORED): nothing left to wait for.
    Gone,
}

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
            let ready = {
                let fds = [
                    self.signals.as_fd(),
                    self.inotify.as_fd(),
                    self.retry.as_fd(),
                    self.restart.as_fd(),
                    self.recheck.as_fd(),
                ];
                match event::wait_readable(&fds, None) {
                    Ok(r) => r,
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

    /// Is another supervise already running on `dir`? If so, watch its
    /// supervise/ for the lock being closed. The watch comes before the
    /// test, so a release in between is not missed.
    fn watch_foreign(&mut self, dir: &Path) -> Option<WatchDescriptor> {
        let wd = self
            .inotify
            .add_watch(
                &dir.join("supervise"),
                AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_CLOSE_NOWRITE,
            )
            .ok()?;
        if crate::control::supervise_running(dir).unwrap_or(false) {
            Some(wd)
        } else {
            let _ = self.inotify.rm_watch(wd);
            None
        }
    }

    fn foreign_released(&mut self, wd: WatchDescriptor, key: Key, log_side: bool, how: Release) {
        let Some(svc) = self.services.get(&key) else {
            return;
        };
        // The lock itself, not the ok FIFO: a dying supervise closes its
        // lock first, so at this event its ok FIFO may still be open.
        let lock = Self::side_dir(svc, log_side).join("supervise/lock");
        let held = crate::lock::flock_holder(&lock).map_or(true, |h| h.is_some());
        if held && how != Release::Gone {
            // Just closing, or someone else merely opened and closed it.
            if how == Release::Closed {
                self.recheck.arm(FOREIGN_RECHECK);
            }
            return;
        }
        if self.foreign.remove(&wd).is_none() {
            return;
        }
        if how != Release::Gone {
            let _ = self.inotify.rm_watch(wd);
        }
        let svc = self.services.get_mut(&key).expect("known service");
        let sup = if log_side {
            svc.log.as_mut()
        } else {
            Some(&mut svc.main)
        };
        if let Some(sup) = sup {
            sup.foreign = None;
            sup.replacing = std::mem::take(&mut sup.told_to_exit);
        }
        if svc.present && !self.shutting_down {
            self.start(key, log_side);
        } else {
            self.side_gone(key, log_side);
        }
    }

    // ---- scanning -------------------------------------------------------

    fn scan(&mut self) {
        let entries = match std::fs::read_dir(".") {
            Ok(rd) => rd,
            Err(e) => return self.temporary_failure("unable to read directory", &e),
        };
        for s in self.services.values_mut() {
            s.present = false;
        }
        let mut seen: Vec<(Key, OsString)> = Vec::new();
        let mut awaited = HashSet::new();
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => return self.temporary_failure("unable to read directory", &e),
            };
            let name = entry.file_name();
            if name.as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            let Ok(ft) = entry.file_type() else { continue };
            let key = if ft.is_dir() {
                match entry.metadata() {
                    Ok(m) => (m.dev(), entry.ino()),
                    Err(_) => continue,
                }
            } else if ft.is_symlink() {
                // /service/foo -> /etc/sv/foo: the target is the service.
                let link = Path::new(&name);
                let mut target = std::fs::metadata(link);
                if target.is_err() && self.await_target(link, &mut awaited) {
                    target = std::fs::metadata(link);
                }
                match target {
                    Ok(m) if m.is_dir() => (m.dev(), m.ino()),
                    _ => continue,
                }
            } else {
                continue;
            };
            // A dir without `run` is not (yet) a service: no supervise
            // failing to start it every second; it is watched instead.
            if std::fs::metadata(Path::new(&name).join("run")).is_err() {
                if let Ok(wd) = self.inotify.add_watch(
                    Path::new(&name),
                    AddWatchFlags::IN_CREATE
                        | AddWatchFlags::IN_MOVED_TO
                        | AddWatchFlags::IN_ATTRIB,
                ) {
                    self.candidates.insert(wd, name);
                }
                if !self.services.contains_key(&key) {
                    continue;
                }
                // A running service whose run vanished keeps its supervise.
                let name = self.services[&key].name.clone();
                seen.push((key, name));
                continue;
            }
            seen.push((key, name));
        }
        self.forget_stale_targets(&awaited);
        for (key, name) in seen {
            self.ensure(key, name);
        }
        let gone: Vec<Key> = self
            .services
            .iter()
            .filter(|(_, s)| !s.present)
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            self.remove(key);
        }
    }

    fn temporary_failure(&mut self, what: &str, e: &std::io::Error) {
        errors::warn(
            PROG,
            format_args!("{what}: {}; trying again in 1 second", errors::io_phrase(e)),
        );
        self.retry.arm(RETRY_AFTER_ERROR);
    }

    /// A service dir seen in this scan: start what is not running yet.
    fn ensure(&mut self, key: Key, name: OsString) {
        if !self.services.contains_key(&key) {
            let watch = self
                .inotify
                .add_watch(
                    Path::new(&name),
                    AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
                )
                .ok();
            if let Some(wd) = watch {
                self.watches.insert(wd, key);
            }
            self.services.insert(
                key,
                Service {
                    name: name.clone(),
                    main: Supervisor::default(),
                    log: None,
                    pipe: None,
                    present: true,
                    watch,
                    reattach_log: false,
                },
            );
        }
        let has_log = Path::new(&name).join("log").is_dir();
        let svc = self.services.get_mut(&key).expect("inserted above");
        svc.present = true;
        svc.name = name;
        if has_log && svc.log.is_none() {
            // The pipe a killed svscan left to the survivors, else a new one.
            let pipe = match pipes::recover(Path::new(&svc.name)) {
                Some(p) => Ok(p),
                None => nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC),
            };
            match pipe {
                Ok(p) => {
                    // Main already runs without this pipe (ours started
                    // before log/ existed, or a foreign one writing
                    // elsewhere): it takes the pipe at its next stop.
                    svc.reattach_log = svc.main.pid.is_some()
                        || pipes::foreign_writes_into(Path::new(&svc.name), &p.1) == Some(false);
                    svc.pipe = Some(p);
                    svc.log = Some(Supervisor::default());
                }
                Err(e) => {
                    errors::warn(
                        PROG,
                        format_args!(
                            "unable to create pipe: {}; trying again in 1 second",
                            errors::phrase(e as i32)
                        ),
                    );
                    self.retry.arm(RETRY_AFTER_ERROR);
                }
            }
        }
        let svc = &self.services[&key];
        if svc.log.as_ref().is_some_and(|l| l.idle()) {
            self.start(key, true);
        }
        let svc = &self.services[&key];
        if svc.main.idle() {
            self.start(key, false);
        }
        let svc = self.services.get_mut(&key).expect("present");
        if svc.reattach_log {
            svc.reattach_log = false;
            // Take the log pipe from the service's next restart on.
            svc.main.told_to_exit = crate::control::send(Path::new(&svc.name), b"x").is_ok();
        }
    }

    fn start(&mut self, key: Key, log_side: bool) {
        let dir = Self::side_dir(&self.services[&key], log_side);
        if let Some(wd) = self.watch_foreign(&dir) {
            errors::warn(
                PROG,
                format_args!(
                    "{}: a supervise is already running; taking over when it exits",
                    dir.display()
                ),
            );
            self.foreign.insert(wd, (key, log_side));
            let svc = self.services.get_mut(&key).expect("known service");
            let sup = if log_side {
                svc.log.as_mut().expect("log side exists")
            } else {
                &mut svc.main
            };
            sup.foreign = Some(wd);
            sup.restart_pending = false;
            sup.stopping = false;
            return;
        }
        let svc = self.services.get_mut(&key).expect("known service");
        let mut cmd = Spawn::new(&self.supervise)
            .arg(&dir)
            .new_process_group()
            .inherit(2);
        cmd = match (&svc.pipe, log_side) {
            (Some((r, _)), true) => cmd.fd(r, 0).inherit(1),
            (Some((_, w)), false) => cmd.fd(&self.dev_null, 0).fd(w, 1),
            (None, _) => cmd.fd(&self.dev_null, 0).inherit(1),
        };
        let sup = if log_side {
            svc.log.as_mut().expect("log side exists")
        } else {
            &mut svc.main
        };
        sup.last_start = Some(Instant::now());
        sup.restart_pending = false;
        sup.stopping = false;
        if std::mem::take(&mut sup.replacing) {
            sup.handover = handover::queue_want(&dir);
        }
        match cmd.spawn() {
            Ok(child) => {
                sup.pid = Some(child.pid);
                self.by_pid.insert(child.pid, (key, log_side));
            }
            Err(e) => {
                errors::warn(
                    PROG,
                    format_args!(
                        "unable to start supervise {}: {}; trying again",
                        dir.display(),
                        errors::phrase(e as i32)
                    ),
                );
                sup.restart_pending = true;
                self.arm_restart_timer();
            }
        }
    }

    // ---- deaths ---------------------------------------------------------

    fn reap(&mut self) {
        for (pid, ended) in event::reap_children() {
            // Anything not ours is an orphan reparented to us: reaped, done.
            if let Some((key, log_side)) = self.by_pid.remove(&pid) {
                self.supervisor_died(key, log_side, ended);
            }
        }
    }

    fn supervisor_died(&mut self, key: Key, log_side: bool, ended: event::Ended) {
        let Some(svc) = self.services.get_mut(&key) else {
            return;
        };
        let present = svc.present && !self.shutting_down;
        let sup = if log_side {
            svc.log.as_mut()
        } else {
            Some(&mut svc.main)
        };
        let Some(sup) = sup else { return };
        sup.pid = None;
        // One that failed before reading the want it was handed (lock still
        // held by its dying predecessor) hands it on to the next.
        let handed = sup.handover.take().is_some();
        sup.replacing = matches!(ended, event::Ended::Signaled(_))
            || std::mem::take(&mut sup.told_to_exit)
            || (handed && !matches!(ended, event::Ended::Exited(0)));
        if present {
            let dir = if log_side {
                Path::new(&svc.name).join("log")
            } else {
                PathBuf::from(&svc.name)
            };
            match ended {
                event::Ended::Exited(0) => {}
                event::Ended::Exited(code) => errors::warn(
                    PROG,
                    format_args!("supervise {} exited {code}", dir.display()),
                ),
                event::Ended::Signaled(sig) => errors::warn(
                    PROG,
                    format_args!(
                        "supervise {} killed by {}",
                        dir.display(),
                        crate::signals::name(sig)
                    ),
                ),
            }
            let due = sup
                .last_start
                .map(|t| t + RESTART_SPACING)
                .unwrap_or_else(Instant::now);
            if due <= Instant::now() {
                self.start(key, log_side);
            } else {
                sup.restart_pending = true;
                self.arm_restart_timer();
            }
            return;
        }
        self.side_gone(key, log_side);
    }

    fn arm_restart_timer(&mut self) {
        let earliest = self
            .services
            .values()
            .flat_map(|s| std::iter::once(&s.main).chain(s.log.as_ref()))
            .filter(|s| s.restart_pending)
            .filter_map(|s| s.last_start.map(|t| t + RESTART_SPACING))
            .min();
        match earliest {
            Some(due) => self
                .restart
                .arm(due.saturating_duration_since(Instant::now())),
            None => self.restart.cancel(),
        }
    }

    fn restart_due(&mut self) {
        let now = Instant::now();
        let due: Vec<(Key, bool)> = self
            .services
            .iter()
            .flat_map(|(k, s)| {
                let main = (s.main.restart_pending, *k, false, s.main.last_start);
                let log = s
                    .log
                    .as_ref()
                    .map(|l| (l.restart_pending, *k, true, l.last_start));
                std::iter::once(main).chain(log)
            })
            .filter(|(pending, _, _, last)| {
                *pending && last.is_none_or(|t| t + RESTART_SPACING <= now)
            })
            .map(|(_, k, log, _)| (k, log))
            .collect();
        for (key, log_side) in due {
            self.start(key, log_side);
        }
        self.arm_restart_timer();
    }
}
