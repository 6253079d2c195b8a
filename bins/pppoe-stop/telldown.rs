//! Telling the loop's supervise `d`, and keeping it told. A supervise
//! killed -9 is started again by svscan, and the new one adopts the loop
//! still running with the wish the old one left (up): the `d` the old one
//! had, or never read, is lost. So whichever supervise holds the service
//! dir is told `d` once, each new one again.

use std::path::Path;
use std::time::Instant;

use upkeep::control::{self, SendError};
use upkeep::errors::Fatal;
use upkeep::svwait::{Goal, Outcome, Watch};

pub struct Told {
    watch: Watch,
    /// The supervise last told (the pid that took supervise/lock).
    told: Option<u32>,
}

impl Told {
    /// Watch `dir`, then send `d`: the watch first, so supervise's answer
    /// cannot slip by. The watch is kept when no supervise runs (one may
    /// start during the stop); None when `dir` cannot be watched.
    pub fn tell(dir: &Path) -> (Option<Told>, Result<(), SendError>) {
        let watch = Watch::new(dir).ok();
        let taker = taker(dir);
        let sent = control::send(dir, b"d");
        let told = watch.map(|mut watch| {
            watch.expect_want_of(b"d");
            Told {
                watch,
                told: taker.filter(|_| sent.is_ok()),
            }
        });
        (told, sent)
    }

    pub fn dir(&self) -> &Path {
        self.watch.dir()
    }

    /// Send `d` to the supervise now on the dir unless it had it from us.
    /// Once per supervise, whatever the send gave: our own write to the
    /// FIFO is an event in supervise/, and must not make us write again.
    /// True if it was told now.
    pub fn retell(&mut self) -> bool {
        let Some(now) = taker(self.dir()) else {
            return false;
        };
        if self.told == Some(now) {
            return false;
        }
        let _ = control::send(self.dir(), b"d");
        self.told = Some(now);
        true
    }

    /// Keep the service told `d` until supervise reports it down (having
    /// taken the `d`), no supervise runs on it (SuperviseGone), or `until`.
    pub fn wait_down(&mut self, until: Instant) -> Outcome {
        // Whether supervise runs is asked at first, then only when the
        // watch says it may have exited (the question opens supervise/ok,
        // itself an event in supervise/).
        let mut first = true;
        let mut maybe_gone = false;
        loop {
            if maybe_gone {
                self.rewatch();
            }
            self.retell();
            if self.watch.reached(Goal::Down) {
                return Outcome::Reached;
            }
            if (first || maybe_gone) && !control::supervise_running(self.dir()).unwrap_or(false) {
                return Outcome::SuperviseGone;
            }
            first = false;
            if Instant::now() >= until {
                return Outcome::TimedOut;
            }
            maybe_gone = self.watch.wait_change(until);
        }
    }

    /// The supervise watched may be gone, and another hold the dir: watch
    /// anew (the old watch's wake-ups went with its supervise: its end of
    /// supervise/ok would poll ready for good).
    fn rewatch(&mut self) {
        if let Ok(mut watch) = Watch::new(self.dir()) {
            watch.expect_want_of(b"d");
            self.watch = watch;
        }
    }

    /// As `wait_down`; past `deadline` the stop failed.
    pub fn supervise_down(&mut self, deadline: Instant) -> Result<(), Fatal> {
        match self.wait_down(deadline) {
            Outcome::TimedOut => Err(Fatal::temporary(format!(
                "supervise on {} still reports a process",
                self.dir().display()
            ))),
            _ => Ok(()),
        }
    }
}

/// The pid that took supervise/lock on `dir`: which supervise this is.
fn taker(dir: &Path) -> Option<u32> {
    upkeep::lock::flock_holder(&dir.join("supervise/lock"))
        .ok()
        .flatten()
}
