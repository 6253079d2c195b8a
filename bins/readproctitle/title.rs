//! Rewriting this process's own command line, so `ps` shows what
//! readproctitle was told. The kernel shows /proc/PID/cmdline from the
//! memory between arg_start and arg_end (from /proc/self/stat); writing
//! there through /proc/self/mem needs no unsafe code and never moves the
//! area (the length of the title cannot change).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;

/// The last argument's bytes inside this process's argv area.
pub struct Title {
    mem: File,
    addr: u64,
    len: usize,
}

/// arg_start and arg_end: fields 48 and 49 of /proc/self/stat.
fn arg_area() -> io::Result<(u64, u64)> {
    let stat = std::fs::read("/proc/self/stat")?;
    // The command name (field 2) may hold spaces and ')': count fields
    // after its last ')'.
    let close = stat
        .iter()
        .rposition(|&b| b == b')')
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let rest = String::from_utf8_lossy(&stat[close + 1..]).into_owned();
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state).
    let field = |n: usize| -> io::Result<u64> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
    };
    Ok((field(48)?, field(49)?))
}

impl Title {
    /// Find the last argument (`last`, as this process got it) at the end
    /// of the argv area. Fails if the area does not end with it (someone
    /// already rewrote it) or /proc is unavailable.
    pub fn last_argument(last: &[u8]) -> io::Result<Title> {
        let (start, end) = arg_area()?;
        let mem = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/self/mem")?;
        let area_len = usize::try_from(end.saturating_sub(start))
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let mut area = vec![0u8; area_len];
        mem.read_exact_at(&mut area, start)?;
        // The area ends "...\0LAST\0".
        let want_len = last.len() + 1;
        if area.len() < want_len
            || &area[area.len() - want_len..area.len() - 1] != last
            || area.last() != Some(&0)
        {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        Ok(Title {
            mem,
            addr: end - want_len as u64,
            len: last.len(),
        })
    }

    /// Overwrite the title; `bytes` must be exactly as long as it.
    pub fn set(&self, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() != self.len {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.mem.write_all_at(bytes, self.addr)
    }
}

/// readproctitle's rolling display: the first `KEEP` bytes of the title
/// stay, the rest shows the last bytes read, scrolling left.
pub struct Scroller {
    title: Vec<u8>,
}

/// Bytes at the front of the title that never scroll.
pub const KEEP: usize = 3;

impl Scroller {
    /// A title of `len` bytes, all dots to begin with (as daemontools).
    pub fn new(len: usize) -> Scroller {
        Scroller {
            title: vec![b'.'; len],
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        let keep = KEEP.min(self.title.len());
        let window = &mut self.title[keep..];
        let w = window.len();
        if data.len() >= w {
            window.copy_from_slice(&data[data.len() - w..]);
        } else {
            window.copy_within(data.len().., 0);
            window[w - data.len()..].copy_from_slice(data);
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.title
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrolls_like_readproctitle() {
        let mut s = Scroller::new(8);
        assert_eq!(s.bytes(), b"........");
        s.push(b"ab");
        assert_eq!(s.bytes(), b"......ab");
        s.push(b"cdef");
        assert_eq!(s.bytes(), b"...bcdef");
        s.push(b"0123456789");
        assert_eq!(s.bytes(), b"...56789");
    }

    #[test]
    fn finds_own_last_argument() {
        let last = std::env::args_os().last().unwrap();
        let t = Title::last_argument(std::os::unix::ffi::OsStrExt::as_bytes(last.as_os_str()));
        assert_eq!(t.map(|t| t.len).ok(), Some(last.len()));
    }
}
