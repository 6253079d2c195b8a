//! `svc -w`: wait until a service reaches a state, without a race and
//! without polling. The waiter's way to be woken is set up and the current
//! status read *before* the command is sent, so the change it causes cannot
//! slip by. upkeep's supervise wakes it through a FIFO in supervise/event/
//! (lib/svevent.rs); daemontools' supervise serves no such dir, and there an
//! inotify watch on DIR/supervise sees it rename status.new over status.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::SignalFd;

use crate::control;
use crate::event;
use crate::status::{self, Phase, Status};
use crate::svevent::Subscription;

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
    wake: Wake,
    /// Status before the command, for `r`/`R`.
    before: Option<Status>,
    /// The `want` the command sets (u, d, o): a service that already looked
    /// down (or up) has reached the goal only once supervise has taken the
    /// command, or a reader could still see the old wish.
    want: Option<crate::status::Want>,
}

/// How long a waiter that read status and state between supervise's two
/// writes waits for the wake-up after the second.
const SETTLE: Duration = Duration::from_millis(50);

/// How a waiter is woken.
enum Wake {
    /// A FIFO in supervise/event/, written by upkeep's supervise.
    Fifo(Subscription),
    /// An inotify watch on supervise/ (daemontools' supervise). Its exit
    /// costs an SRCU grace period: only where no FIFO is served.
    Inotify(Inotify),
}

impl Watch {
    /// Start watching DIR/supervise; call before sending the command.
    pub fn new(dir: &Path) -> Result<Watch, Errno> {
        // The FIFO is there (and open) before the status is read.
        if let Some(sub) = Subscription::new(dir) {
            let mut before = status::read_status(dir).ok().flatten();
            let mut state = status::read_state(dir);
            if !Subscription::served(before.as_ref(), state.as_ref()) {
                // supervise writes status, then state, then wakes the
                // FIFOs (ours is there already): a pair read between the
                // two disagrees until that wake. None comes from a
                // supervise that serves no FIFOs (daemontools' over an old
                // event/): then inotify, after this short wait.
                let _ = event::wait_readable(&sub.fds(), Some(SETTLE));
                sub.drain();
                state = status::read_state(dir);
                before = status::read_status(dir).ok().flatten();
            }
            if Subscription::served(before.as_ref(), state.as_ref()) {
                return Ok(Watch {
                    dir: dir.to_path_buf(),
                    wake: Wake::Fifo(sub),
                    before,
                    want: None,
                });
            }
        }
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
        // Renames into supervise/ (status.new over status), and the close
        // of the lock: both supervises open it for writing, so their exit
        // is an IN_CLOSE_WRITE on it. Not IN_CLOSE_NOWRITE (this waiter's
        // own reads), nor closes of the other files (its own write to
        // control, status.new), which would only wake it for nothing.
        let supervise = dir.join("supervise");
        let renames = AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_DELETE_SELF;
        if inotify
            .add_watch(&supervise.join("lock"), AddWatchFlags::IN_CLOSE_WRITE)
            .is_ok()
        {
            inotify.add_watch(&supervise, renames)?;
        } else {
            inotify.add_watch(&supervise, renames | AddWatchFlags::IN_CLOSE_WRITE)?;
        }
        let before = status::read_status(dir).ok().flatten();
        Ok(Watch {
            dir: dir.to_path_buf(),
            wake: Wake::Inotify(inotify),
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
    pub fn reached(&self, goal: Goal) -> bool {
        let Ok(Some(now)) = status::read_status(&self.dir) else {
            return false;
        };
        if self.want.is_some_and(|w| w != now.want) {
            return false;
        }
        // daemontools' supervise writes no state file: there, up is ready
        // and down is finished. Read only for the goals that need it.
        // upkeep's writes status, then state, then wakes the FIFOs: a
        // state of another pid is one not rewritten yet (wait for the
        // wake-up that follows it); without the FIFOs it may be a stale one
        // that no supervise will rewrite, and is passed over.
        let state = || {
            let st = status::read_state(&self.dir);
            match st {
                Some(st) if st.pid == now.pid => Some(Some(st)),
                Some(_) if self.uses_event_fifo() => None,
                _ => Some(None),
            }
        };
        let ready = || state().is_some_and(|st| st.is_none_or(|st| st.phase == Phase::Ready));
        let finished =
            || state().is_some_and(|st| st.is_none_or(|st| st.phase != Phase::Finishing));
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

    /// Whether this waiter uses supervise/event/ (not inotify).
    pub fn uses_event_fifo(&self) -> bool {
        matches!(self.wake, Wake::Fifo(_))
    }

    /// What to poll: at most two descriptors.
    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        match &self.wake {
            Wake::Fifo(sub) => sub.fds().to_vec(),
            Wake::Inotify(inotify) => vec![inotify.as_fd()],
        }
    }

    /// Wait until supervise wakes this watch or `deadline` passes; true
    /// if supervise may have exited meanwhile.
    pub fn wait_change(&self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        let fds = self.fds();
        match event::wait_readable(&fds, Some(left)) {
            Ok(ready) => self.drain(&ready).maybe_gone,
            Err(_) => false,
        }
    }

    /// Drain pending events, given which of [`Watch::fds`] polled ready.
    fn drain(&self, ready: &[bool]) -> Woke {
        let inotify = match &self.wake {
            Wake::Fifo(sub) => {
                sub.drain();
                return Woke {
                    changed: ready.first().copied().unwrap_or(false),
                    maybe_gone: ready.get(1).copied().unwrap_or(false),
                };
            }
            Wake::Inotify(inotify) => inotify,
        };
        let mut woke = Woke {
            changed: false,
            maybe_gone: false,
        };
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                // A status is renamed in; other closes after a write (the
                // temporary status.new, this waiter's own write to control)
                // change nothing to read.
                if e.mask.contains(AddWatchFlags::IN_MOVED_TO) {
                    woke.changed = true;
                }
                // Unnamed: the watch on the lock itself.
                let closed = e.mask.contains(AddWatchFlags::IN_CLOSE_WRITE);
                let lock = e.name.as_deref().is_none_or(|n| n == OsStr::new("lock"));
                if (closed && lock) || e.mask.contains(AddWatchFlags::IN_DELETE_SELF) {
                    woke.maybe_gone = true;
                }
            }
        }
        woke
    }
}

/// What woke a watch.
struct Woke {
    /// The status may have changed: read it again.
    changed: bool,
    /// supervise may have exited: ok lost its reader, or the lock file was
    /// closed, or the dir went away.
    maybe_gone: bool,
}

/// How a wait ended for one service.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Reached,
    TimedOut,
    /// supervise went away before the goal was reached.
    SuperviseGone,
}

/// The signals a waiter would die of (timeout(1)'s TERM, a terminal's INT
/// and HUP), caught first so that its FIFOs in supervise/event/ go with
/// it: supervise removes a dead waiter's only at the service's next change.
pub struct Interrupts {
    fd: SignalFd,
    set: SigSet,
}

impl Interrupts {
    /// Block HUP, INT and TERM and take them on a signalfd; one ignored
    /// (nohup's HUP) or blocked by whoever started svc stays so. None when
    /// none is left or no signalfd.
    pub fn catch() -> Option<Interrupts> {
        let left_alone = signal_mask("SigIgn:") | signal_mask("SigBlk:");
        let signals: Vec<Signal> = [Signal::SIGHUP, Signal::SIGINT, Signal::SIGTERM]
            .into_iter()
            .filter(|&sig| left_alone & (1u64 << (sig as i32 - 1)) == 0)
            .collect();
        if signals.is_empty() {
            return None;
        }
        let fd = event::signal_fd(&signals).ok()?;
        Some(Interrupts {
            fd,
            set: signals.iter().copied().collect(),
        })
    }

    /// Die of the signal caught, as without this catch (a shell sees it).
    pub fn die(self) -> ! {
        let sig = event::pending_signals(&self.fd)
            .first()
            .copied()
            .unwrap_or(libc::SIGTERM);
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&self.set), None);
        if let Ok(s) = Signal::try_from(sig) {
            let _ = nix::sys::signal::raise(s);
        }
        std::process::exit(128 + sig)
    }
}

/// A signal mask of /proc/self/status (`SigIgn:` ignored, `SigBlk:`
/// blocked): bit n-1 set for signal n.
fn signal_mask(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Wait until every watch reaches `goal`, or `deadline` passes.
pub fn wait_all(watches: &[Watch], goal: Goal, deadline: Option<Instant>) -> Vec<Outcome> {
    wait_all_or(watches, goal, deadline, None).unwrap_or_default()
}

/// [`wait_all`], but None as soon as `interrupts` has a signal.
pub fn wait_all_or(
    watches: &[Watch],
    goal: Goal,
    deadline: Option<Instant>,
    interrupts: Option<&Interrupts>,
) -> Option<Vec<Outcome>> {
    let mut outcome: Vec<Option<Outcome>> = watches.iter().map(|_| None).collect();
    // Whose status to read again: all at first, then those woken.
    let mut look: Vec<bool> = watches.iter().map(|_| true).collect();
    loop {
        for (i, w) in watches.iter().enumerate() {
            if outcome[i].is_none() && std::mem::take(&mut look[i]) && w.reached(goal) {
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
        // Each pending watch's descriptors, and where they start in `fds`.
        let mut fds = Vec::new();
        let mut pending = Vec::new();
        for (i, w) in watches.iter().enumerate() {
            if outcome[i].is_none() {
                let own = w.fds();
                pending.push((i, fds.len(), own.len()));
                fds.extend(own);
            }
        }
        if let Some(int) = interrupts {
            fds.push(int.fd.as_fd());
        }
        let mut ready = match event::wait_readable(&fds, timeout) {
            Ok(r) => r,
            Err(_) => break,
        };
        if interrupts.is_some() && ready.pop() == Some(true) {
            return None;
        }
        if !ready.iter().any(|&r| r) {
            // Time is up: one last look at every dir.
            look.iter_mut().for_each(|l| *l = true);
            continue;
        }
        for &(i, start, len) in &pending {
            let own = &ready[start..start + len];
            if !own.iter().any(|&r| r) {
                continue;
            }
            let woke = watches[i].drain(own);
            look[i] = woke.changed;
            if woke.maybe_gone {
                let w = &watches[i];
                look[i] = false;
                if w.reached(goal) {
                    outcome[i] = Some(Outcome::Reached);
                } else if !control::supervise_running(&w.dir).unwrap_or(false) {
                    outcome[i] = Some(Outcome::SuperviseGone);
                }
            }
        }
    }
    Some(
        outcome
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::TimedOut))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{State, Status, Want};
    use crate::tai64::Tai64N;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

    fn publish(dir: &Path, status: Option<&Status>, state: Option<&State>) {
        if let Some(st) = status {
            std::fs::write(dir.join("supervise/status"), st.encode()).unwrap();
        }
        if let Some(st) = state {
            std::fs::write(dir.join("supervise/state"), st.encode()).unwrap();
        }
    }

    /// supervise writes status, then state: a waiter that reads between
    /// the two must not take the old state for the new run's.
    #[test]
    fn a_state_not_yet_rewritten_answers_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(dir.join("supervise/event"))
            .unwrap();
        nix::unistd::mkfifo(
            &dir.join("supervise/ok"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        // The reader supervise holds.
        let _ok = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dir.join("supervise/ok"))
            .unwrap();
        let status = |pid, secs| Status {
            since: Tai64N { secs, nanos: 0 },
            pid,
            paused: false,
            want: Want::Up,
        };
        let state = |pid, secs, phase| State {
            phase,
            pid,
            pgid: pid,
            since: Tai64N { secs, nanos: 0 },
            events: true,
            ..State::default()
        };
        publish(
            dir,
            Some(&status(42, 1 << 62)),
            Some(&state(42, 1 << 62, Phase::Ready)),
        );
        let watch = Watch::new(dir).unwrap();
        assert!(watch.uses_event_fifo());
        assert!(watch.reached(Goal::Ready));
        // A restart: the new status is out, the state still the old run's.
        publish(dir, Some(&status(43, (1 << 62) + 1)), None);
        assert!(watch.reached(Goal::Up));
        assert!(!watch.reached(Goal::Ready));
        publish(dir, None, Some(&state(43, (1 << 62) + 1, Phase::Starting)));
        assert!(!watch.reached(Goal::Ready));
        publish(dir, None, Some(&state(43, (1 << 62) + 1, Phase::Ready)));
        assert!(watch.reached(Goal::Ready));
        // Run exits, finish starts: status first again.
        publish(dir, Some(&status(0, (1 << 62) + 2)), None);
        assert!(watch.reached(Goal::Down));
        assert!(!watch.reached(Goal::DownFinished));
        publish(dir, None, Some(&state(0, (1 << 62) + 2, Phase::Finishing)));
        assert!(!watch.reached(Goal::DownFinished));
        publish(dir, None, Some(&state(0, (1 << 62) + 2, Phase::Down)));
        assert!(watch.reached(Goal::DownFinished));
        drop(watch);

        // A waiter that starts between the two writes: the wake-up after
        // the state settles it on the FIFO...
        publish(dir, Some(&status(44, (1 << 62) + 3)), None);
        let event = dir.join("supervise/event");
        let late_state = std::thread::spawn({
            let (dir, event) = (dir.to_path_buf(), event.clone());
            let st = state(44, (1 << 62) + 3, Phase::Ready);
            move || {
                // Until the waiter's FIFO is there (a waiter that gave up
                // on it removed it: then there is no one to wake).
                let give_up = Instant::now() + Duration::from_secs(2);
                while std::fs::read_dir(&event).unwrap().next().is_none() {
                    if Instant::now() > give_up {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(10));
                publish(&dir, None, Some(&st));
                for fifo in std::fs::read_dir(&event).unwrap().flatten() {
                    let w = std::fs::OpenOptions::new()
                        .write(true)
                        .custom_flags(libc::O_NONBLOCK)
                        .open(fifo.path());
                    if let Ok(mut w) = w {
                        let _ = std::io::Write::write_all(&mut w, b"U");
                    }
                }
            }
        });
        let watch = Watch::new(dir).unwrap();
        late_state.join().unwrap();
        assert!(watch.uses_event_fifo(), "settled by the wake-up");
        assert!(watch.reached(Goal::Ready));
        drop(watch);
        // ...and one that never comes (no supervise serving FIFOs) leaves
        // inotify.
        publish(dir, Some(&status(45, (1 << 62) + 4)), None);
        let watch = Watch::new(dir).unwrap();
        assert!(!watch.uses_event_fifo());
    }
}
