//! `svc -w`: wait until a service reaches a state, without a race and
//! without polling. The inotify watch on DIR/supervise is set up and the
//! current status read *before* the command is sent, so the change it causes
//! cannot slip by. Works against daemontools' supervise too: it also
//! renames status.new over status.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::control;
use crate::event;
use crate::status::{self, Phase, Status};

/// What `-w` waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// `u`: run is alive.
    Up,
    /// `U`: up and ready.
    Ready,
    /// `d`: run is gone.
    Down,
    /// `D`: run is gone and finish is done.
    DownFinished,
    /// `r`: a start that happened after the command.
    Restarted,
    /// `R`: restarted, and that new run is ready.
    RestartedReady,
}

impl Goal {
    pub fn parse(text: &str) -> Option<Goal> {
        Some(match text {
            "u" => Goal::Up,
            "U" => Goal::Ready,
            "d" => Goal::Down,
            "D" => Goal::DownFinished,
            "r" => Goal::Restarted,
            "R" => Goal::RestartedReady,
            _ => return None,
        })
    }
}

/// A service being watched.
pub struct Watch {
    dir: PathBuf,
    inotify: Inotify,
    /// Status before the command, for `r`/`R`.
    before: Option<Status>,
    /// The `want` the command sets (u, d, o): a service that already looked
    /// down (or up) has reached the goal only once supervise has taken the
    /// command, or a reader could still see the old wish.
    want: Option<crate::status::Want>,
}

impl Watch {
    /// Start watching DIR/supervise; call before sending the command.
    pub fn new(dir: &Path) -> Result<Watch, Errno> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
        // Not IN_CLOSE_NOWRITE: every read of status by this very waiter
        // would wake it. Both supervises open their lock for writing, so
        // its close on exit is an IN_CLOSE_WRITE.
        inotify.add_watch(
            &dir.join("supervise"),
            AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_DELETE_SELF,
        )?;
        let before = status::read_status(dir).ok().flatten();
        Ok(Watch {
            dir: dir.to_path_buf(),
            inotify,
            before,
            want: None,
        })
    }

    /// Also wait until supervise reports the `want` that the control
    /// `letters` leave behind (the last of u, d, o decides), if any.
    pub fn expect_want_of(&mut self, letters: &[u8]) {
        use crate::status::Want;
        self.want = letters.iter().rev().find_map(|l| match l {
            b'u' => Some(Want::Up),
            b'd' => Some(Want::Down),
            b'o' => Some(Want::Once),
            _ => None,
        });
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Has the service reached `goal`?
    fn reached(&self, goal: Goal) -> bool {
        let Ok(Some(now)) = status::read_status(&self.dir) else {
            return false;
        };
        if self.want.is_some_and(|w| w != now.want) {
            return false;
        }
        // daemontools' supervise writes no state file: there, up is ready
        // and down is finished.
        let state = status::read_state(&self.dir).filter(|st| st.pid == now.pid);
        let ready = || state.as_ref().is_none_or(|st| st.phase == Phase::Ready);
        let finished = || state.as_ref().is_none_or(|st| st.phase != Phase::Finishing);
        let restarted = || {
            now.pid != 0
                && match self.before {
                    None => true,
                    Some(b) => b.pid != now.pid || b.since != now.since,
                }
        };
        match goal {
            Goal::Up => now.pid != 0,
            Goal::Ready => now.pid != 0 && ready(),
            Goal::Down => now.pid == 0,
            Goal::DownFinished => now.pid == 0 && finished(),
            Goal::Restarted => restarted(),
            Goal::RestartedReady => restarted() && ready(),
        }
    }

    /// Drain pending events; true if supervise may have exited (its lock
    /// file was closed or the dir went away).
    fn drain(&self) -> bool {
        let mut lock_closed = false;
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                let closed = e.mask.contains(AddWatchFlags::IN_CLOSE_WRITE);
                if (closed && e.name.as_deref() == Some(OsStr::new("lock")))
                    || e.mask.contains(AddWatchFlags::IN_DELETE_SELF)
                {
                    lock_closed = true;
                }
            }
        }
        lock_closed
    }
}

/// How a wait ended for one service.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Reached,
    TimedOut,
    /// supervise went away before the goal was reached.
    SuperviseGone,
}

/// Wait until every watch reaches `goal`, or `deadline` passes.
pub fn wait_all(watches: &[Watch], goal: Goal, deadline: Option<Instant>) -> Vec<Outcome> {
    let mut outcome: Vec<Option<Outcome>> = watches.iter().map(|_| None).collect();
    loop {
        for (i, w) in watches.iter().enumerate() {
            if outcome[i].is_none() && w.reached(goal) {
                outcome[i] = Some(Outcome::Reached);
            }
        }
        if outcome.iter().all(|o| o.is_some()) {
            break;
        }
        let timeout = match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    break;
                }
                Some(d - now)
            }
            None => None,
        };
        let pending: Vec<usize> = (0..watches.len())
            .filter(|&i| outcome[i].is_none())
            .collect();
        let fds: Vec<_> = pending
            .iter()
            .map(|&i| watches[i].inotify.as_fd())
            .collect();
        let ready = match event::wait_readable(&fds, timeout) {
            Ok(r) => r,
            Err(_) => break,
        };
        for (k, &i) in pending.iter().enumerate() {
            if ready[k] && watches[i].drain() {
                let w = &watches[i];
                if w.reached(goal) {
                    outcome[i] = Some(Outcome::Reached);
                } else if !control::supervise_running(&w.dir).unwrap_or(false) {
                    outcome[i] = Some(Outcome::SuperviseGone);
                }
            }
        }
    }
    outcome
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::TimedOut))
        .collect()
}
