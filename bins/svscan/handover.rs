//! The operator's last word across a supervise replacement. A supervise
//! that svscan starts in place of one it told to exit (`x`, to take a new
//! log pipe), one that was killed, or one an earlier svscan left running
//! would take `want` from the `down` file
//! only, so `svc -d` given just before would be reversed. svscan queues the
//! predecessor's last published want as a control letter in the FIFO,
//! which the new supervise reads before it starts anything.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use upkeep::status::{self, Want};

/// The letter that gives a new supervise the want its predecessor last
/// published. supervise writes `status` first, then `state`: one killed
/// between the two left its newer want only in `status` (the pair then
/// names different pids or times), so that one decides.
fn letter(dir: &Path) -> Option<u8> {
    let state = status::read_state(dir);
    let status = status::read_status(dir).ok().flatten();
    let (want, running) = match (status, state) {
        (Some(st), Some(sv)) if st.pid == sv.pid && st.since == sv.since => {
            (sv.want, sv.phase.has_process())
        }
        (Some(st), _) => (st.want, st.pid != 0),
        (None, Some(sv)) => (sv.want, sv.phase.has_process()),
        (None, None) => return None,
    };
    Some(letter_for(want, running))
}

fn letter_for(want: Want, running: bool) -> u8 {
    match want {
        Want::Up => b'u',
        Want::Down => b'd',
        // Once and still running: adopted, and `o` starts nothing. Once and
        // over: it must not run again.
        Want::Once if running => b'o',
        Want::Once => b'd',
    }
}

/// Was DIR's last supervise killed in this boot, with no svscan left to
/// replace it (the one that would have was killed too, before it could)?
/// Then the first supervise a new svscan starts there gets its want, as a
/// replacement would. Not when it was told to exit (`x`, TERM: the `down`
/// file decides, as in daemontools), nor for a state from another boot
/// (or from a supervise that did not say which).
pub(super) fn killed_this_boot(dir: &Path) -> bool {
    let Some(state) = status::read_state(dir) else {
        return false;
    };
    killed_in(&state, upkeep::procfs::boot_id())
}

/// DIR's last supervise was told to exit (`x`, or a signal), by its state.
pub(super) fn told_to_exit(dir: &Path) -> bool {
    status::read_state(dir).is_some_and(|s| s.exiting)
}

fn killed_in(state: &status::State, boot: Option<&str>) -> bool {
    !state.exiting && !state.boot.is_empty() && Some(state.boot.as_str()) == boot
}

/// Queue the predecessor's want in DIR/supervise/control.
pub(super) fn queue_want(dir: &Path) -> Option<File> {
    queue(dir, &[letter(dir)?])
}

/// Queue LETTERS in DIR/supervise/control for the next supervise. The
/// returned FIFO must stay open until that supervise has opened it (a FIFO
/// nobody holds open forgets its data): the caller keeps it for that
/// supervise's life.
pub(super) fn queue(dir: &Path, letters: &[u8]) -> Option<File> {
    let fifo = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(dir.join("supervise/control"))
        .ok()?;
    // Never a write into a regular file planted there.
    if !fifo.metadata().ok()?.file_type().is_fifo() {
        return None;
    }
    (&fifo).write_all(letters).ok()?;
    Some(fifo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use upkeep::status::{Phase, State, Status};
    use upkeep::tai64::Tai64N;

    fn publish(dir: &Path, status: &Status, state: &State) {
        std::fs::create_dir_all(dir.join("supervise")).unwrap();
        std::fs::write(dir.join("supervise/status"), status.encode()).unwrap();
        std::fs::write(dir.join("supervise/state"), state.encode()).unwrap();
    }

    #[test]
    fn the_newer_status_decides_when_state_was_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let old =
            Tai64N::from_system(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000));
        let now = Tai64N::now();
        let down = State {
            phase: Phase::Down,
            since: old,
            want: Want::Down,
            ..State::default()
        };
        let status = |since, want| Status {
            since,
            pid: 0,
            paused: false,
            want,
        };
        // A pair written whole: state says it all.
        publish(dir.path(), &status(old, Want::Down), &down);
        assert_eq!(letter(dir.path()), Some(b'd'));
        // Killed between the writes of `u`: status is new, state old.
        publish(dir.path(), &status(now, Want::Up), &down);
        assert_eq!(letter(dir.path()), Some(b'u'));
        // Once, still running (status names a pid), and over.
        let mut once = status(now, Want::Once);
        once.pid = 4242;
        publish(dir.path(), &once, &down);
        assert_eq!(letter(dir.path()), Some(b'o'));
        publish(dir.path(), &status(now, Want::Once), &down);
        assert_eq!(letter(dir.path()), Some(b'd'));
    }

    #[test]
    fn only_a_supervise_killed_in_this_boot_hands_its_want_on() {
        let boot = "0f5e3a52-8d7c-4b0e-9a61-2f4c8e1b7d90";
        let mut st = State {
            boot: boot.into(),
            ..State::default()
        };
        assert!(killed_in(&st, Some(boot)));
        assert!(!killed_in(&st, Some("another boot")));
        assert!(!killed_in(&st, None));
        st.exiting = true;
        assert!(!killed_in(&st, Some(boot)), "told to exit");
        st.exiting = false;
        st.boot.clear();
        assert!(!killed_in(&st, Some("")), "an older supervise's state");
    }
}
