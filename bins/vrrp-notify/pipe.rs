//! The notify_fifo itself: created if missing, locked against a second
//! reader, read without consuming (tee), split into lines.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;

use upkeep::errors::Fatal;
use upkeep::event;
use upkeep::lock::{self, Lock};
use upkeep::runtimefile::{self, Dir};

use crate::line;

/// Splits bytes into lines and lines into events.
#[derive(Clone, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Inside an over-long line: discard until its newline.
    skipping: bool,
}

impl LineReader {
    /// Feed bytes; returns the complete lines, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Result<String, String>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                if self.skipping {
                    self.skipping = false;
                } else {
                    let l = std::mem::take(&mut self.buf);
                    out.push(Ok(String::from_utf8_lossy(&l).into_owned()));
                }
            } else if !self.skipping {
                self.buf.push(b);
                if self.buf.len() > line::MAX_LINE {
                    let head = String::from_utf8_lossy(&self.buf[..40]).into_owned();
                    out.push(Err(format!("{head}...")));
                    self.buf.clear();
                    self.skipping = true;
                }
            }
        }
        out
    }

    /// A line without its newline yet.
    pub fn partial(&self) -> Option<String> {
        (!self.buf.is_empty()).then(|| String::from_utf8_lossy(&self.buf).into_owned())
    }
}

/// Create the fifo if missing and open it read-write, non-blocking, the
/// runtime-file way: in a directory of ours, never through a symlink, only a
/// FIFO of ours (a regular file in its place is replaced by one).
pub fn open_fifo(path: &Path) -> Result<File, Fatal> {
    let what = || format!("unable to open {}", path.display());
    let name = path
        .file_name()
        .ok_or_else(|| Fatal::msg(what(), "not a file name"))?;
    let dir = Dir::open(runtimefile::parent_of(path)).map_err(|e| Fatal::io(what(), &e))?;
    dir.open_fifo(name, 0o600)
        .map(|(file, _)| file)
        .map_err(|e| Fatal::io(what(), &e))
}

/// Read the `buf.len()` bytes known to be in the pipe; returns how many came.
pub fn read_exactly(fd: &impl AsFd, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::read(fd.as_fd(), &mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    done
}

/// Lock the fifo against a second reader. A killed predecessor's hook may
/// still hold the lock for an instant (forked, not yet exec'd or killed by
/// its parent-death signal): a refusal is believed after a second.
pub fn lock_fifo(file: File) -> Result<Lock, Errno> {
    let io_errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    for _ in 0..50 {
        // A dup shares the open file description, and so the lock.
        match lock::try_exclusive(file.try_clone().map_err(io_errno)?) {
            Err(Errno::EAGAIN) => {
                let _ = event::wait_readable(&[], Some(Duration::from_millis(20)));
            }
            other => return other,
        }
    }
    lock::try_exclusive(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_reads() {
        let mut lr = LineReader::default();
        assert!(lr.feed(b"INSTANCE \"a\" MAS").is_empty());
        assert_eq!(lr.partial().as_deref(), Some("INSTANCE \"a\" MAS"));
        let v = lr.feed(b"TER 1\nX\n");
        assert_eq!(
            v,
            vec![Ok("INSTANCE \"a\" MASTER 1".into()), Ok("X".into())]
        );
        let long = vec![b'x'; line::MAX_LINE + 10];
        let v = lr.feed(&long);
        assert_eq!(v.len(), 1);
        assert!(v[0].is_err());
        assert_eq!(lr.feed(b"tail\nok\n"), vec![Ok("ok".into())]);
    }
}
