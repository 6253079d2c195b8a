//! envdir's directory reading: each file not starting with '.' is a
//! variable named after it. Its value is the first line, trailing spaces
//! and tabs removed, NUL bytes turned into newlines; an empty file removes
//! the variable. Errors name the file, in daemontools' words.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;

use upkeep::envmod::EnvChanges;
use upkeep::errors::Fatal;

/// Read `dir` into environment changes. Like daemontools, it changes into
/// `dir` to read it (so permissions work the same: search to enter, read to
/// list) and returns to the starting directory afterwards.
pub fn read(dir: &OsStr) -> Result<EnvChanges, Fatal> {
    let shown = dir.to_string_lossy();
    let start = open_read(OsStr::new("."))
        .map_err(|e| Fatal::io("unable to switch to current directory", &e))?;
    std::env::set_current_dir(dir)
        .map_err(|e| Fatal::io(format!("unable to switch to directory {shown}"), &e))?;
    let changes = read_here(&shown);
    // Return even when reading failed: the caller may report and exit, but
    // a library should not leave the process elsewhere.
    let back = nix::unistd::fchdir(&start)
        .map_err(|e| Fatal::sys("unable to switch to starting directory", e));
    let changes = changes?;
    back?;
    Ok(changes)
}

fn read_here(shown: &str) -> Result<EnvChanges, Fatal> {
    let unreadable = |e: io::Error| Fatal::io(format!("unable to read directory {shown}"), &e);
    let mut changes = EnvChanges::new();
    for entry in std::fs::read_dir(".").map_err(unreadable)? {
        let name = entry.map_err(unreadable)?.file_name();
        if name.as_bytes().first() == Some(&b'.') {
            continue;
        }
        let line = first_line(&name).map_err(|e| {
            Fatal::io(
                format!("unable to read {shown}/{}", name.to_string_lossy()),
                &e,
            )
        })?;
        match line {
            None => changes.remove(name.as_bytes()),
            Some(value) => changes.set(name.as_bytes(), &value),
        }
    }
    Ok(changes)
}

/// O_RDONLY|O_NONBLOCK (a FIFO must not hang us), close-on-exec.
fn open_read(path: &OsStr) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

/// The value a file gives: `None` for an empty (or vanished) file, else
/// its first line cleaned up.
fn first_line(name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let mut file = match open_read(name) {
        Ok(f) => f,
        // A dangling symlink or a file removed since the listing holds
        // nothing, like an empty file.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut content = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        content.extend_from_slice(&buf[..n]);
        // Only the first line matters; stop reading once it is complete.
        if buf[..n].contains(&b'\n') {
            break;
        }
    }
    if content.is_empty() {
        return Ok(None);
    }
    Ok(Some(clean(&content)))
}

/// First line, trailing spaces/tabs removed, NUL → newline.
fn clean(content: &[u8]) -> Vec<u8> {
    let end = content
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(content.len());
    let mut line = &content[..end];
    while let Some((&last, rest)) = line.split_last() {
        if last == b' ' || last == b'\t' {
            line = rest;
        } else {
            break;
        }
    }
    line.iter()
        .map(|&b| if b == 0 { b'\n' } else { b })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean(b"abc \t \nsecond"), b"abc");
        assert_eq!(clean(b"a\0b\t"), b"a\nb");
        assert_eq!(clean(b"\n"), b"");
        assert_eq!(clean(b"  x"), b"  x");
    }
}
