//! `=file`: a status file holding the last selected line, in daemontools'
//! format: the first 1000 bytes of the line padded with newlines to 1001
//! bytes, written over the start of the file.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use upkeep::errors::{io_phrase, Fatal};

pub const LEN: usize = 1001;

pub struct StatusFile {
    pub name: String,
    file: File,
    image: Box<[u8; LEN]>,
    pending: bool,
    warned: bool,
}

impl StatusFile {
    /// Create (0600, as daemontools' open_append) and open for writing.
    /// Errors are fatal, before any input is read.
    pub fn open(path: &std::ffi::OsStr) -> Result<StatusFile, Fatal> {
        let name = path.to_string_lossy().into_owned();
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Fatal::io(format!("unable to create {name}"), &e))?;
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| Fatal::io(format!("unable to write {name}"), &e))?;
        Ok(StatusFile {
            name,
            file,
            image: Box::new([b'\n'; LEN]),
            pending: false,
            warned: false,
        })
    }

    /// Remember `line` (at most 1000 bytes) as the next content. Only the
    /// newest matters: each write replaces the whole image.
    pub fn set(&mut self, line: &[u8]) {
        let n = line.len().min(LEN - 1);
        self.image[..n].copy_from_slice(&line[..n]);
        self.image[n..].fill(b'\n');
        self.pending = true;
    }

    /// Write the pending image. False when it failed (warned once per
    /// streak; try again later).
    pub fn drain(&mut self) -> bool {
        if !self.pending {
            return true;
        }
        let why = match self.file.write_at(&self.image[..], 0) {
            Ok(LEN) => {
                self.pending = false;
                self.warned = false;
                return true;
            }
            Ok(_) => "short write".to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return self.drain(),
            Err(e) => io_phrase(&e),
        };
        if !self.warned {
            super::warn(&format!("unable to write {}, pausing: {why}", self.name));
            self.warned = true;
        }
        false
    }
}
