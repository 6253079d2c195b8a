//! One automatically rotated log directory: opening and locking it, taking
//! over what a previous multilog left (daemontools' restart), and writing
//! queued bytes into `current` with daemontools' size rules. The rotation
//! itself is a list of steps (steps.rs) so that any failed step can be
//! retried later without blocking the event loop.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag, AT_FDCWD};
use nix::sys::stat::{fchmod, mkdirat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::files::{mode, open_append, stat_exec, CURRENT_MODE_OPEN};
use super::plan::Step;
use super::queue::{Op, OutQueue};
use super::script::DirConfig;
use upkeep::errors::{phrase, Fatal};
use upkeep::lock::{self, Lock};

/// What a directory needs before it can take more input.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Everything queued is on disk.
    Idle,
    /// Something failed; try again when the retry timer fires.
    Stalled,
    /// A processor is running.
    Waiting,
}

pub struct LogDir {
    /// The directory as the script names it, for messages only: after
    /// start-up every file is reached through `dir`, so a directory renamed
    /// while multilog runs goes on working.
    pub name: String,
    pub size: u64,
    pub num: u64,
    pub processor: Option<OsString>,
    pub dir: OwnedFd,
    _lock: Lock,
    pub current: Option<OwnedFd>,
    /// Bytes in `current`.
    pub bytes: u64,
    pub queue: OutQueue,
    /// Steps still to take before writing more (rotation, recovery).
    pub plan: VecDeque<Step>,
    /// A warning was printed for the failure streak in progress.
    warned: bool,
    /// Selected by the actions for the line in progress.
    pub selected: bool,
}

impl LogDir {
    /// daemontools' restart: create, open and lock the directory; reopen a
    /// cleanly closed `current`, or plan the recovery of what an interrupted
    /// multilog left. Errors are fatal (`what: phrase`), before any input.
    pub fn open(cfg: &DirConfig) -> Result<LogDir, Fatal> {
        let name = cfg.path.to_string_lossy().into_owned();
        let _ = mkdirat(AT_FDCWD, cfg.path.as_os_str(), mode(0o700));
        let dir = openat(
            AT_FDCWD,
            cfg.path.as_os_str(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Fatal::sys(format!("unable to open directory {name}"), e))?;
        let lock_failed = |e: Errno| Fatal::sys(format!("unable to lock directory {name}"), e);
        let lockfd = open_append(&dir, "lock").map_err(lock_failed)?;
        let held = lock::try_exclusive(std::fs::File::from(lockfd)).map_err(lock_failed)?;
        let mut d = LogDir {
            name,
            size: cfg.size,
            num: cfg.num,
            processor: cfg.processor.clone(),
            dir,
            _lock: held,
            current: None,
            bytes: 0,
            queue: OutQueue::default(),
            plan: VecDeque::new(),
            warned: false,
            selected: false,
        };
        let n = &d.name;
        match stat_exec(&d.dir, "current") {
            Err(e) => return Err(Fatal::sys(format!("unable to stat {n}/current"), e)),
            Ok(Some((true, size))) => {
                let fd = open_append(&d.dir, "current")
                    .map_err(|e| Fatal::sys(format!("unable to append to {n}/current"), e))?;
                fchmod(&fd, mode(CURRENT_MODE_OPEN))
                    .map_err(|e| Fatal::sys(format!("unable to set mode of {n}/current"), e))?;
                d.current = Some(fd);
                d.bytes = size;
                return Ok(d);
            }
            Ok(_) => {}
        }
        let _ = unlinkat(&d.dir, "state", UnlinkatFlags::NoRemoveDir);
        let _ = unlinkat(&d.dir, "newstate", UnlinkatFlags::NoRemoveDir);
        let processed = match stat_exec(&d.dir, "processed") {
            Err(e) => return Err(Fatal::sys(format!("unable to stat {n}/processed"), e)),
            Ok(p) => p.is_some_and(|(exec, _)| exec),
        };
        if processed {
            // The processor finished: its output is the rotated file.
            let _ = unlinkat(&d.dir, "previous", UnlinkatFlags::NoRemoveDir);
            d.plan.push_back(Step::Finish("processed", 's'));
        } else {
            let _ = unlinkat(&d.dir, "processed", UnlinkatFlags::NoRemoveDir);
            d.plan.push_back(Step::Finish("previous", 'u'));
        }
        d.plan.push_back(Step::Finish("current", 'u'));
        d.plan.push_back(Step::CreateState);
        d.plan.push_back(Step::CreateCurrent);
        Ok(d)
    }

    /// The processor's pidfd while one runs (to wait for it in poll).
    pub fn waiting_on(&self) -> Option<BorrowedFd<'_>> {
        match self.plan.front() {
            Some(Step::WaitProcessor(run)) => run.pidfd.as_ref().map(|fd| fd.as_fd()),
            _ => None,
        }
    }

    pub fn fail(&mut self, message: &str) {
        if !self.warned {
            super::warn(message);
            self.warned = true;
        }
    }

    pub fn succeeded(&mut self) {
        self.warned = false;
    }

    /// Write what is queued, rotating as daemontools does, until all is on
    /// disk or something has to wait. `Err` is fatal.
    pub fn drain(&mut self) -> Result<Progress, Fatal> {
        loop {
            if !self.plan.is_empty() {
                match self.run_plan()? {
                    Progress::Idle => {}
                    other => return Ok(other),
                }
            }
            match self.queue.front() {
                None => return Ok(Progress::Idle),
                Some(Op::Write(_)) => {
                    if !self.write_front() {
                        return Ok(Progress::Stalled);
                    }
                }
                Some(Op::Rotate) => {
                    self.queue.pop_marker();
                    if self.bytes > 0 {
                        self.plan_rotation();
                    }
                }
                Some(Op::Close) => {
                    self.queue.pop_marker();
                    self.plan.push_back(Step::CloseSync);
                    self.plan.push_back(Step::CloseChmod);
                }
            }
        }
    }

    /// daemontools' c_write for what is queued: rotate first when full,
    /// never write past `size`, and near the end stop at a newline so files
    /// end at line boundaries. daemontools makes one write call per buffer
    /// flush; the same calls are worked out here, and those that end up in
    /// the same file go to the kernel as one write, so the files are the
    /// same byte for byte. False when the write failed.
    fn write_front(&mut self) -> bool {
        if self.bytes >= self.size {
            self.plan_rotation();
            return true;
        }
        let Some(fd) = self.current.as_ref() else {
            // Not reached: every plan that closes `current` reopens it.
            self.plan.push_back(Step::OpenCurrent);
            return true;
        };
        let (len, rotate) = plan_writes(self.queue.front_writes(), self.bytes, self.size);
        if len == 0 {
            return true;
        }
        // The queued bytes are contiguous.
        let bytes = self.queue.front_run(len);
        match nix::unistd::write(fd, bytes) {
            Ok(w) if w > 0 => {
                let all = w == len;
                self.bytes += w as u64;
                self.queue.consume(w);
                self.succeeded();
                if all && rotate {
                    self.plan_rotation();
                }
                true
            }
            Ok(_) | Err(Errno::EINTR) => true,
            Err(e) => {
                let msg = format!(
                    "unable to write to {}/current, pausing: {}",
                    self.name,
                    phrase(e)
                );
                self.fail(&msg);
                false
            }
        }
    }

    /// daemontools' fullcurrent, as steps.
    pub fn plan_rotation(&mut self) {
        self.plan.push_back(Step::Fsync);
        self.plan.push_back(Step::RenameCurrent);
        self.plan_rotation_tail();
    }

    fn plan_rotation_tail(&mut self) {
        self.plan.push_back(Step::OpenCurrent);
        self.plan.push_back(Step::ChmodPrevious);
        if self.processor.is_some() {
            self.plan.push_back(Step::RunProcessor);
            self.plan.push_back(Step::SyncProcessed);
            self.plan.push_back(Step::SyncNewstate);
            self.plan.push_back(Step::UnlinkPrevious);
            self.plan.push_back(Step::RenameNewstate);
            self.plan.push_back(Step::Finish("processed", 's'));
        } else {
            self.plan.push_back(Step::Finish("previous", 's'));
        }
    }
}

/// Work out daemontools' write calls for `writes` (each a flushed buffer)
/// into a `current` of `bytes` bytes with limit `size` (> `bytes`): how
/// many bytes go into this file, and whether it is full after them.
pub fn plan_writes<'a>(
    writes: impl Iterator<Item = &'a [u8]>,
    mut bytes: u64,
    size: u64,
) -> (usize, bool) {
    let near = size.saturating_sub(2000);
    let mut total = 0usize;
    for mut chunk in writes {
        // A chunk is written in as many calls as it takes (buffer_flush).
        while !chunk.is_empty() {
            if bytes >= size {
                return (total, true);
            }
            let mut len = chunk.len().min((size - bytes) as usize);
            if bytes + len as u64 >= near {
                if let Some(i) = chunk[..len].iter().rposition(|&c| c == b'\n') {
                    len = i + 1;
                }
            }
            bytes += len as u64;
            total += len;
            if bytes >= near && chunk[len - 1] == b'\n' {
                return (total, true);
            }
            chunk = &chunk[len..];
        }
    }
    (total, false)
}

#[cfg(test)]
mod plan_tests {
    use super::plan_writes;

    #[test]
    fn whole_queue_when_far_from_the_limit() {
        let w: [&[u8]; 3] = [b"ab\n", b"cd\n", b"e"];
        assert_eq!(plan_writes(w.into_iter(), 0, 99999), (7, false));
    }

    #[test]
    fn stops_at_the_line_that_fills_the_file() {
        // size 4100: near = 2100. 2000 bytes, then a chunk crossing 2100
        // with a newline: written up to that newline, then full.
        let a = vec![b'x'; 2000];
        let mut b = [b'y'; 150];
        b[120] = b'\n';
        let c = b"more\n".to_vec();
        let w = [&a[..], &b[..], &c[..]];
        assert_eq!(plan_writes(w.into_iter(), 0, 4100), (2121, true));
    }

    #[test]
    fn never_past_size() {
        let a = vec![b'x'; 5000];
        assert_eq!(plan_writes([&a[..]].into_iter(), 0, 4096), (4096, true));
    }
}
