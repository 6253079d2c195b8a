//! Rotation and recovery as a list of small steps, each safe to retry:
//! daemontools' fullcurrent, finish, filesfit, restart and c_quit, with
//! "pause and try again" turned into "leave the step at the front and come
//! back when the retry timer fires".

use std::os::fd::OwnedFd;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, renameat, AtFlags, OFlag, AT_FDCWD};
use nix::sys::stat::{fchmod, fchmodat, fstatat, FchmodatFlags, Mode};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fchdir, fsync, linkat, unlinkat, UnlinkatFlags};

use super::files::{open_append, open_read, open_trunc, CURRENT_MODE_CLOSED, CURRENT_MODE_OPEN};
use super::logdir::{LogDir, Progress};
use super::plan::{Running, Step};
use upkeep::errors::{self, phrase};
use upkeep::spawn::Spawn;
use upkeep::tai64::Tai64N;

/// How a step ended.
enum Outcome {
    /// Done; these steps come next.
    Next(Vec<Step>),
    /// Failed: warn (once per streak), retry this step later.
    Retry(String, Step),
    /// Not finished yet (processor running).
    Wait(Step),
    Fatal(errors::Fatal),
}

use Outcome::*;

fn why(e: Errno) -> String {
    phrase(e)
}

/// Count the old log files (names `@` + at least 24 more bytes) and remove
/// the oldest until fewer than `num` remain. The directory is read through
/// the descriptor multilog holds, as daemontools reads it after fchdir: a
/// log directory renamed while multilog runs is still the one pruned.
fn prune(d: &LogDir) -> Result<(), String> {
    let unreadable = |e: Errno| format!("unable to read {}, pausing: {}", d.name, why(e));
    let mut listing = Dir::openat(
        &d.dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(unreadable)?;
    let mut old: Vec<Vec<u8>> = Vec::new();
    for entry in listing.iter() {
        let entry = entry.map_err(unreadable)?;
        let bytes = entry.file_name().to_bytes();
        if bytes.first() == Some(&b'@') && bytes.len() >= 25 {
            old.push(bytes.to_vec());
        }
    }
    let excess = (old.len() as u64 + 1).saturating_sub(d.num) as usize;
    if excess == 0 {
        return Ok(());
    }
    // Oldest first: the timestamp is the first 25 bytes.
    old.sort_by(|a, b| a[..25].cmp(&b[..25]).then(a.cmp(b)));
    for name in old.iter().take(excess) {
        let name: &std::ffi::OsStr = std::os::unix::ffi::OsStrExt::from_bytes(name);
        match unlinkat(&d.dir, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(format!(
                    "unable to remove {}/{}, pausing: {}",
                    d.name,
                    name.to_string_lossy(),
                    why(e)
                ))
            }
        }
    }
    Ok(())
}

impl LogDir {
    /// Take planned steps until the plan is empty or one must wait.
    pub fn run_plan(&mut self) -> Result<Progress, errors::Fatal> {
        while let Some(step) = self.plan.pop_front() {
            match self.run_step(step) {
                Next(steps) => {
                    self.succeeded();
                    for s in steps.into_iter().rev() {
                        self.plan.push_front(s);
                    }
                }
                Retry(msg, step) => {
                    self.fail(&msg);
                    self.plan.push_front(step);
                    return Ok(Progress::Stalled);
                }
                Wait(step) => {
                    self.plan.push_front(step);
                    return Ok(Progress::Waiting);
                }
                Fatal(fatal) => return Err(fatal),
            }
        }
        Ok(Progress::Idle)
    }

    fn run_step(&mut self, step: Step) -> Outcome {
        let n = self.name.clone();
        match step {
            Step::Fsync | Step::CloseSync => self.sync_current(&n, step),
            Step::RenameCurrent => self.rename_current(&n, step),
            Step::OpenCurrent => self.open_current(&n, step),
            Step::ChmodPrevious => self.chmod_previous(&n, step),
            Step::RunProcessor => self.run_processor(step),
            Step::WaitProcessor(run) => self.wait_processor(&n, run),
            Step::SyncProcessed => self.sync_processed(&n, step),
            Step::SyncNewstate => self.sync_newstate(&n, step),
            Step::UnlinkPrevious => self.unlink_previous(&n, step),
            Step::RenameNewstate => self.rename_newstate(&n, step),
            Step::Finish(file, code) => self.finish(&n, step, file, code),
            Step::Link(file, code) => self.link(&n, step, file, code),
            Step::Unlink(file) => self.unlink(&n, step, file),
            Step::Prune => self.prune(step),
            Step::CreateState => self.create_state(&n),
            Step::CreateCurrent => self.create_current(&n),
            Step::CloseChmod => self.close_chmod(&n, step),
        }
    }

    fn sync_current(&mut self, n: &str, step: Step) -> Outcome {
        match self.current.as_ref().map(fsync) {
            Some(Err(e)) => Retry(
                format!("unable to write {n}/current to disk, pausing: {}", why(e)),
                step,
            ),
            _ => Next(vec![]),
        }
    }

    fn rename_current(&mut self, n: &str, step: Step) -> Outcome {
        self.current = None;
        match renameat(&self.dir, "current", &self.dir, "previous") {
            Ok(()) => Next(vec![]),
            Err(e) => Retry(
                format!(
                    "unable to rename current to previous in directory {n}, pausing: {}",
                    why(e)
                ),
                step,
            ),
        }
    }

    fn open_current(&mut self, n: &str, step: Step) -> Outcome {
        let opened = open_append(&self.dir, "current")
            .map_err(|e| format!("unable to create {n}/current, pausing: {}", why(e)));
        let fd = match opened {
            Ok(fd) => fd,
            Err(msg) => return Retry(msg, step),
        };
        if let Err(e) = fchmod(&fd, Mode::from_bits_truncate(CURRENT_MODE_OPEN)) {
            return Retry(
                format!("unable to set mode of {n}/current, pausing: {}", why(e)),
                step,
            );
        }
        self.current = Some(fd);
        self.bytes = 0;
        Next(vec![])
    }

    fn chmod_previous(&mut self, n: &str, step: Step) -> Outcome {
        match fchmodat(
            &self.dir,
            "previous",
            Mode::from_bits_truncate(CURRENT_MODE_CLOSED),
            FchmodatFlags::FollowSymlink,
        ) {
            Ok(()) => Next(vec![]),
            Err(e) => Retry(
                format!("unable to set mode of {n}/previous, pausing: {}", why(e)),
                step,
            ),
        }
    }

    fn run_processor(&mut self, step: Step) -> Outcome {
        match self.start_processor() {
            Ok(run) => Next(vec![Step::WaitProcessor(run)]),
            Err(msg) => Retry(msg, step),
        }
    }

    fn wait_processor(&mut self, n: &str, run: Running) -> Outcome {
        match waitpid(run.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => Wait(Step::WaitProcessor(run)),
            Ok(WaitStatus::Exited(_, 0)) => Next(vec![]),
            Ok(WaitStatus::Exited(..)) | Err(_) => Retry(
                format!("processor failed in {n}, pausing"),
                Step::RunProcessor,
            ),
            Ok(WaitStatus::Signaled(..)) => Retry(
                format!("processor crashed in {n}, pausing"),
                Step::RunProcessor,
            ),
            Ok(_) => Wait(Step::WaitProcessor(run)),
        }
    }

    fn sync_processed(&mut self, n: &str, step: Step) -> Outcome {
        let r = open_append(&self.dir, "processed")
            .map_err(|e| format!("unable to create {n}/processed, pausing: {}", why(e)))
            .and_then(|fd| {
                fsync(&fd).map_err(|e| {
                    format!("unable to write {n}/processed to disk, pausing: {}", why(e))
                })?;
                fchmod(&fd, Mode::from_bits_truncate(CURRENT_MODE_CLOSED)).map_err(|e| {
                    format!("unable to set mode of {n}/processed, pausing: {}", why(e))
                })
            });
        match r {
            Ok(()) => Next(vec![]),
            Err(msg) => Retry(msg, step),
        }
    }

    fn sync_newstate(&mut self, n: &str, step: Step) -> Outcome {
        let r = open_append(&self.dir, "newstate")
            .map_err(|e| format!("unable to create {n}/newstate, pausing: {}", why(e)))
            .and_then(|fd| {
                fsync(&fd).map_err(|e| {
                    format!("unable to write {n}/newstate to disk, pausing: {}", why(e))
                })
            });
        match r {
            Ok(()) => Next(vec![]),
            Err(msg) => Retry(msg, step),
        }
    }

    fn unlink_previous(&mut self, n: &str, step: Step) -> Outcome {
        match unlinkat(&self.dir, "previous", UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Next(vec![]),
            Err(e) => Retry(
                format!("unable to remove {n}/previous, pausing: {}", why(e)),
                step,
            ),
        }
    }

    fn rename_newstate(&mut self, n: &str, step: Step) -> Outcome {
        match renameat(&self.dir, "newstate", &self.dir, "state") {
            Ok(()) => Next(vec![]),
            Err(e) => Retry(
                format!(
                    "unable to rename newstate to state in directory {n}, pausing: {}",
                    why(e)
                ),
                step,
            ),
        }
    }

    fn finish(&mut self, n: &str, step: Step, file: &'static str, code: char) -> Outcome {
        match fstatat(&self.dir, file, AtFlags::empty()) {
            Err(Errno::ENOENT) => Next(vec![]),
            Err(e) => Retry(
                format!("unable to stat {n}/{file}, pausing: {}", why(e)),
                step,
            ),
            // A second link means an earlier attempt already made the
            // old log file.
            Ok(st) if st.st_nlink == 1 => Next(vec![
                Step::Link(file, code),
                Step::Unlink(file),
                Step::Prune,
            ]),
            Ok(_) => Next(vec![Step::Unlink(file), Step::Prune]),
        }
    }

    fn link(&mut self, n: &str, step: Step, file: &'static str, code: char) -> Outcome {
        let name = format!("@{}.{code}", Tai64N::now().to_hex());
        match linkat(&self.dir, file, &self.dir, name.as_str(), AtFlags::empty()) {
            Ok(()) => Next(vec![]),
            Err(e) => Retry(
                format!("unable to link to {n}/{name}, pausing: {}", why(e)),
                step,
            ),
        }
    }

    fn unlink(&mut self, n: &str, step: Step, file: &'static str) -> Outcome {
        match unlinkat(&self.dir, file, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Next(vec![]),
            Err(e) => Retry(
                format!("unable to remove {n}/{file}, pausing: {}", why(e)),
                step,
            ),
        }
    }

    fn prune(&mut self, step: Step) -> Outcome {
        match prune(self) {
            Ok(()) => Next(vec![]),
            Err(msg) => Retry(msg, step),
        }
    }

    fn create_state(&mut self, n: &str) -> Outcome {
        match open_trunc(&self.dir, "state") {
            Ok(_) => Next(vec![]),
            Err(e) => Fatal(errors::Fatal::sys(
                format!("unable to write to {n}/state"),
                e,
            )),
        }
    }

    fn create_current(&mut self, n: &str) -> Outcome {
        let fd = match open_append(&self.dir, "current") {
            Ok(fd) => fd,
            Err(e) => {
                return Fatal(errors::Fatal::sys(
                    format!("unable to write to {n}/current"),
                    e,
                ))
            }
        };
        if let Err(e) = fchmod(&fd, Mode::from_bits_truncate(CURRENT_MODE_OPEN)) {
            return Fatal(errors::Fatal::sys(
                format!("unable to set mode of {n}/current"),
                e,
            ));
        }
        self.current = Some(fd);
        self.bytes = 0;
        Next(vec![])
    }

    fn close_chmod(&mut self, n: &str, step: Step) -> Outcome {
        match self
            .current
            .as_ref()
            .map(|fd| fchmod(fd, Mode::from_bits_truncate(CURRENT_MODE_CLOSED)))
        {
            Some(Err(e)) => Retry(
                format!("unable to set mode of {n}/current, pausing: {}", why(e)),
                step,
            ),
            _ => Next(vec![]),
        }
    }

    fn start_processor(&mut self) -> Result<Running, String> {
        let n = &self.name;
        let proc = self.processor.clone().unwrap_or_default();
        let open = |r: Result<OwnedFd, Errno>, file: &str| {
            r.map_err(|e| {
                format!(
                    "unable to run {}: unable to open {n}/{file}: {}, pausing",
                    proc.to_string_lossy(),
                    why(e)
                )
            })
        };
        let previous = open(open_read(&self.dir, "previous"), "previous")?;
        let processed = open(open_trunc(&self.dir, "processed"), "processed")?;
        let state = open(open_read(&self.dir, "state"), "state")?;
        let newstate = open(open_trunc(&self.dir, "newstate"), "newstate")?;
        // The processor runs in the log directory, entered through the
        // descriptor (as daemontools' fchdir): a directory renamed since
        // start-up is still the one it runs in. multilog goes back at once.
        let start = openat(
            AT_FDCWD,
            ".",
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("unable to open current directory, pausing: {}", why(e)))?;
        fchdir(&self.dir).map_err(|e| format!("unable to switch to {n}, pausing: {}", why(e)))?;
        let child = Spawn::new("/bin/sh")
            .arg("-c")
            .arg(&proc)
            .fd(&previous, 0)
            .fd(&processed, 1)
            .inherit(2)
            .fd(&state, 4)
            .fd(&newstate, 5)
            .spawn();
        // Nothing after start-up depends on the working directory (every
        // file is opened through a directory's descriptor), so a failure to
        // go back changes nothing.
        let _ = fchdir(&start);
        let child = child
            .map_err(|e| format!("unable to fork for processor in {n}, pausing: {}", why(e)))?;
        let pidfd = upkeep::sys::pidfd_open(child.pid).ok();
        Ok(Running {
            pid: child.pid,
            pidfd,
        })
    }
}
