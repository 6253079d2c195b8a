//! Scanning: every non-dot dir (or symlink to one) with a `run` is a
//! service; a supervise is started for it and for its `log/`, with the
//! pipe between them.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::Path;
use std::time::Instant;

use nix::sys::inotify::AddWatchFlags;

use super::{handover, pipes, Key, Scanner, Service, Side, Supervise, PROG, RETRY_AFTER_ERROR};
use upkeep::errors;
use upkeep::spawn::Spawn;

impl Scanner {
    pub(super) fn scan(&mut self) {
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
            // failing to start it every second; it is watched instead. The
            // watch comes first and `run` is looked for again after it, so
            // a `run` made in between is never missed.
            let has_run = |name: &OsString| std::fs::metadata(Path::new(name).join("run")).is_ok();
            if !has_run(&name) {
                if let Ok(wd) = self.inotify.add_watch(
                    Path::new(&name),
                    AddWatchFlags::IN_CREATE
                        | AddWatchFlags::IN_MOVED_TO
                        | AddWatchFlags::IN_ATTRIB,
                ) {
                    self.candidates.insert(wd, name.clone());
                }
            }
            if !has_run(&name) {
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
                    main: Supervise::default(),
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
                    svc.log = Some(Supervise::default());
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
        if svc.log.as_ref().is_some_and(|l| l.idle()) {
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
            svc.main.told_to_exit = upkeep::control::send(Path::new(&svc.name), b"x").is_ok();
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
        sup.last_start = Some(Instant::now());
        sup.restart_pending = false;
        sup.stopping = false;
        // While shutting down, the `dx` stop.rs queued stands instead.
        if std::mem::take(&mut sup.replacing) && !self.shutting_down {
            sup.handover = handover::queue_want(&dir);
        }
        match cmd.spawn() {
            Ok(child) => {
                sup.pid = Some(child.pid);
                self.by_pid.insert(child.pid, (key, side));
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
