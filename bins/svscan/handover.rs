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
/// published (read from supervise/state, written before it exits).
fn letter(dir: &Path) -> Option<u8> {
    let state = status::read_state(dir)?;
    Some(match state.want {
        Want::Up => b'u',
        Want::Down => b'd',
        // Once and still running: adopted, and `o` starts nothing. Once and
        // over: it must not run again.
        Want::Once if state.phase.has_process() => b'o',
        Want::Once => b'd',
    })
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
