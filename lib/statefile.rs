//! Files other programs read (status, state, pid files) are replaced
//! atomically: written to a temporary name beside them, then renamed, so a
//! reader sees the old content or the new, never a mix. No fsync: this is
//! runtime state rewritten at every change, and an fsync would cost
//! milliseconds per restart.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The temporary name used for `path` (`path.new`, as daemontools does for
/// status).
pub fn temp_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// Replace `path` with `data` atomically, mode 0644.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, data, 0o644)
}

pub fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let tmp = temp_name(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)?;
    f.write_all(data)?;
    drop(f);
    fs::rename(&tmp, path)
}

/// Read a small text file; `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove a file, treating "already gone" as success.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Parse `key=value` lines into pairs; lines without `=` are skipped so new
/// writers can add things old readers ignore.
pub fn parse_key_values(text: &str) -> Vec<(&str, &str)> {
    text.lines().filter_map(|l| l.split_once('=')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(!temp_name(&p).exists());
    }
}
