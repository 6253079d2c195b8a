//! Scanning: every non-dot dir (or symlink to one) with a `run` is a
//! service; a supervise is started for it and for its `log/`, with the
//! pipe between them. The whole dir is read only at start, on SIGHUP and
//! SIGALRM and after an inotify overflow; otherwise only the names inotify
//! reports are looked at, so N new dirs cost O(N), not O(N²).

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

use nix::sys::inotify::AddWatchFlags;

use super::{
    handover, pipes, Key, Name, Scanner, Service, Side, Stamp, Supervise, PROG, RETRY_AFTER_ERROR,
};
use upkeep::errors;
use upkeep::spawn::Spawn;

/// Does `name` in the scan dir (not a dot name) lead to the dir `key`?
fn leads_to(name: &OsStr, key: Key) -> bool {
    name.as_encoded_bytes().first() != Some(&b'.')
        && std::fs::metadata(name).is_ok_and(|m| (m.dev(), m.ino()) == key)
}

impl Scanner {
    /// Everything in the scan dir looked at again: at start, on SIGHUP and
    /// SIGALRM, after an inotify queue overflow and after a failure.
    pub(super) fn scan(&mut self) {
        let entries = match std::fs::read_dir(".") {
            Ok(rd) => rd,
            Err(e) => return self.temporary_failure("unable to read directory", &e),
        };
        // The known services' names too, so that one whose dir went away
        // is stopped, and the links waiting for a target (forgotten if gone).
        let mut names: HashSet<OsString> = self
            .services
            .values()
            .map(|s| s.name.to_os_string())
            .collect();
        names.extend(self.dangling.values().flatten().cloned());
        for entry in entries {
            match entry {
                Ok(e) => names.insert(e.file_name()),
                Err(e) => return self.temporary_failure("unable to read directory", &e),
            };
        }
        self.check(names, true);
    }

    /// Look at these names in the scan dir, and only these (inotify named
    /// them): start the services that appeared under them, stop those that
    /// are no longer there. `full`: every name was given (scan), and the
    /// services still stopping are told again.
    pub(super) fn check(&mut self, names: HashSet<OsString>, full: bool) {
        let mut seen: Vec<(Key, Name)> = Vec::new();
        let mut now_at: HashMap<OsString, Option<Key>> = HashMap::with_capacity(names.len());
        for name in names {
            self.forget_link(&name);
            let key = self.look_at(&name);
            if let Some(key) = key {
                seen.push((key, Name::from(name.as_os_str())));
            }
            now_at.insert(name, key);
        }
        self.forget_stale_targets();
        for (key, name) in seen {
            // Two names for one dir (a link to it beside it): the service
            // keeps the name it has while that still leads to it.
            let name = match self.services.get_mut(&key) {
                Some(s) if *s.name != *name && leads_to(&s.name, key) => {
                    s.aliased = true;
                    s.name.clone()
                }
                _ => name,
            };
            self.ensure(key, name);
        }
        // Gone: its name now names nothing or another dir (a rename within
        // the scan dir was seen above under its new name, so it stays).
        let mut gone: HashSet<Key> = now_at
            .iter()
            .flat_map(|(name, now)| self.services.named(name).filter(move |k| Some(*k) != *now))
            .collect();
        // A service known by two names lost one: only a whole read tells
        // whether the other still leads to it.
        if !full && gone.iter().any(|k| self.services[k].aliased) {
            return self.scan();
        }
        if full {
            gone.extend(
                self.services
                    .iter()
                    .filter(|(_, s)| !s.present)
                    .map(|(k, _)| *k),
            );
        }
        for key in gone {
            self.services.get_mut(&key).expect("listed").present = false;
            self.remove(key);
        }
    }

    /// The service dir at `name`, if there is one: a non-dot dir (or
    /// symlink to one) with a `run`, or one already running whose `run`
    /// went away (it keeps its supervise).
    fn look_at(&mut self, name: &OsString) -> Option<Key> {
        if name.as_encoded_bytes().first() == Some(&b'.') {
            return None;
        }
        let path = Path::new(name);
        let meta = std::fs::symlink_metadata(path).ok()?;
        let key = if meta.is_dir() {
            (meta.dev(), meta.ino())
        } else if meta.file_type().is_symlink() {
            // /service/foo -> /etc/sv/foo: the target is the service.
            let mut target = std::fs::metadata(path);
            if target.is_err() && self.await_target(name) {
                target = std::fs::metadata(path);
            }
            match target {
                Ok(m) if m.is_dir() => (m.dev(), m.ino()),
                _ => return None,
            }
        } else {
            return None;
        };
        // A dir without `run` is not (yet) a service: no supervise failing
        // to start it every second; it is watched instead. The watch comes
        // first and `run` is looked for again after it, so a `run` made in
        // between is never missed.
        let has_run = || std::fs::metadata(path.join("run")).is_ok();
        if !has_run() {
            if let Ok(wd) = self.inotify.add_watch(
                path,
                AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ATTRIB,
            ) {
                self.candidates.entry(wd).or_default().insert(name.clone());
            }
            if !has_run() && !self.services.contains_key(&key) {
                return None;
            }
        }
        Some(key)
    }

    fn temporary_failure(&mut self, what: &str, e: &std::io::Error) {
        errors::warn(
            PROG,
            format_args!("{what}: {}; trying again in 1 second", errors::io_phrase(e)),
        );
        self.retry.arm(RETRY_AFTER_ERROR);
    }

    /// A service dir seen in this scan: start what is not running yet.
    fn ensure(&mut self, key: Key, name: Name) {
        if !self.services.contains_key(&key) {
            let watch = self
                .inotify
                .add_watch(
                    Path::new(&*name),
                    AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
                )
                .ok();
            self.services.insert(
                key,
                Service {
                    name: name.clone(),
                    main: Supervise::default(),
                    log: None,
                    pipe: None,
                    present: true,
                    watch,
                    reattach_log: false,
                    aliased: false,
                },
            );
        }
        let has_log = Path::new(&*name).join("log").is_dir();
        let old = &self.services[&key].name;
        if **old != *name {
            self.services.rename(&key, name);
        }
        let svc = self.services.get_mut(&key).expect("inserted above");
        svc.present = true;
        // No pipe while a log side exists: it was dropped for a logger
        // ending on EOF (stop.rs), and the service came back meanwhile. A
        // new one, so that logger still sees its EOF.
        if has_log && (svc.log.is_none() || svc.pipe.is_none()) {
            // The pipe a killed svscan left to the survivors, else a new one.
            let recovered = svc
                .log
                .is_none()
                .then(|| pipes::recover(Path::new(&*svc.name)));
            let pipe = match recovered.flatten() {
                Some(p) => Ok(p),
                None => nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC),
            };
            match pipe {
                Ok(p) => {
                    // Main already runs without this pipe (ours started
                    // before log/ existed, or a foreign one writing
                    // elsewhere): it takes the pipe at its next stop.
                    svc.reattach_log = svc.main.pid.is_some()
                        || pipes::foreign_writes_into(Path::new(&*svc.name), &p.1) == Some(false);
                    svc.pipe = Some(p);
                    svc.log.get_or_insert_with(Box::default);
                }
                Err(e) => {
                    errors::warn(
                        PROG,
                        format_args!(
                            "unable to create pipe: {}; trying again in 1 second",
                            errors::phrase(e)
                        ),
                    );
                    self.retry.arm(RETRY_AFTER_ERROR);
                }
            }
        }
        let svc = &self.services[&key];
        if svc.log.as_deref().is_some_and(|l| l.idle()) {
            self.start(key, Side::Log);
        }
        let svc = &self.services[&key];
        if svc.main.idle() {
            self.start(key, Side::Main);
        }
        let svc = self.services.get_mut(&key).expect("present");
        if svc.reattach_log {
            svc.reattach_log = false;
            // Take the log pipe from the service's next restart on.
            svc.main.told_to_exit = upkeep::control::send(Path::new(&*svc.name), b"x").is_ok();
        }
    }

    pub(super) fn start(&mut self, key: Key, side: Side) {
        let dir = Self::side_dir(&self.services[&key], side);
        if let Some((wd, pin)) = self.watch_foreign(&dir) {
            errors::warn(
                PROG,
                format_args!(
                    "{}: a supervise is already running; taking over when it exits",
                    dir.display()
                ),
            );
            self.foreign.insert(wd, (key, side));
            let svc = self.services.get_mut(&key).expect("known service");
            let sup = svc.side_mut(side).expect("log side exists");
            sup.foreign = Some(wd);
            sup.foreign_pin = pin;
            sup.restart_pending = false;
            sup.stopping = false;
            sup.drain_until = Stamp::default();
            if self.shutting_down {
                self.stop_side(key, side);
            }
            return;
        }
        let svc = self.services.get_mut(&key).expect("known service");
        let mut cmd = Spawn::new(&self.supervise)
            .arg(&dir)
            .new_process_group()
            .inherit(2);
        cmd = match (&svc.pipe, side) {
            (Some((r, _)), Side::Log) => cmd.fd(r, 0).inherit(1),
            (Some((_, w)), Side::Main) => cmd.fd(&self.dev_null, 0).fd(w, 1),
            (None, _) => cmd.fd(&self.dev_null, 0).inherit(1),
        };
        let sup = svc.side_mut(side).expect("log side exists");
        // This svscan's first start here: a predecessor killed with no
        // svscan alive to replace it is replaced now.
        if sup.last_start.get().is_none() && handover::killed_this_boot(&dir) {
            sup.replacing = true;
        }
        sup.last_start = Stamp::new(Some(Instant::now()));
        sup.restart_pending = false;
        sup.stopping = false;
        sup.drain_until = Stamp::default();
        // While shutting down, the `dx` stop.rs queued stands instead.
        if std::mem::take(&mut sup.replacing) && !self.shutting_down {
            sup.handover = handover::queue_want(&dir);
        }
        match cmd.spawn() {
            Ok(child) => {
                sup.pid = Some(child.pid);
                self.services.index_pid(&key, side, child.pid);
            }
            Err(e) => {
                errors::warn(
                    PROG,
                    format_args!(
                        "unable to start supervise {}: {}; trying again",
                        dir.display(),
                        errors::phrase(e)
                    ),
                );
                sup.restart_pending = true;
                self.arm_restart_timer();
            }
        }
    }
}
