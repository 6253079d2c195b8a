//! What /proc says about processes, the one place that reads it: a
//! process's start time (to tell it from a later one that reused its pid),
//! whether it is alive, its parent, argv and name, and who holds a flock.
//! Every answer is a snapshot: a caller that acts on a pid pins it with a
//! pidfd first and asks again.

use std::io;

use nix::unistd::Pid;

/// This boot's identity: a file written in another boot is told by it.
/// Read once per process (it cannot change): svscan asks for every dir.
pub fn boot_id() -> Option<&'static str> {
    static BOOT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    BOOT.get_or_init(|| {
        let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        let id = id.trim();
        (!id.is_empty()).then(|| id.to_string())
    })
    .as_deref()
}

/// Field INDEX of /proc/PID/stat counted after the command name (which may
/// hold spaces and parentheses, so the split is at the last ')'): 0 is the
/// state (field 3). Read in one read(2) into the stack: supervise asks at
/// every start of run, and allocates nothing there.
fn stat_field<T: std::str::FromStr>(pid: Pid, index: usize) -> Option<T> {
    let mut buf = [0u8; STAT_MAX];
    let line = read_stat_line(pid, &mut buf)?;
    let rest = &line[line.iter().rposition(|&b| b == b')')? + 1..];
    let field = rest
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
        .nth(index)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// More than a stat line can hold: a 15-byte command name and 50 fields of
/// at most 20 digits each.
const STAT_MAX: usize = 2048;

/// The process's start time in clock ticks since boot (field 22), which
/// with the pid identifies one process for the machine's uptime.
pub fn start_time(pid: Pid) -> Option<u64> {
    stat_field(pid, 19)
}

/// Boot time now (CLOCK_BOOTTIME, in the caller's time namespace, as
/// /proc reports start times), in nanoseconds; for [`start_time_between`].
pub fn boot_clock() -> Option<u64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_BOOTTIME).ok()?;
    let secs = u64::try_from(t.tv_sec()).ok()?;
    let nanos = u64::try_from(t.tv_nsec()).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// The start time [`start_time`] would read for a process created between
/// two [`boot_clock`] readings, without reading /proc: the kernel stamps a
/// new process with this clock and reports it in whole clock ticks, so
/// when both readings fall well inside one tick, that tick is it. None
/// when they do not (about one start in ten): read it then.
pub fn start_time_between(before: Option<u64>, after: Option<u64>) -> Option<u64> {
    // A tick is 10 ms at the usual 100 Hz; a reading this close to its
    // edge is not trusted to be on the same side as the kernel's own.
    const EDGE_NS: u64 = 1_000_000;
    let hz = u64::try_from(nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??).ok()?;
    let tick = 1_000_000_000u64.checked_div(hz)?;
    let (before, after) = (before?, after?);
    if tick <= 2 * EDGE_NS || after < before {
        return None;
    }
    let first = before / tick;
    let inside = |t: u64| t % tick >= EDGE_NS && t % tick < tick - EDGE_NS;
    (first == after / tick && inside(before) && inside(after)).then_some(first)
}

/// /proc/PID/stat in one read(2) into `buf`, when it fits: the line,
/// newline included; None when it did not fit or could not be read.
fn read_stat_line(pid: Pid, buf: &mut [u8]) -> Option<&[u8]> {
    use std::io::{Read, Write};
    use std::os::unix::ffi::OsStrExt;
    let mut path = [0u8; 32];
    let mut rest = &mut path[..];
    write!(rest, "/proc/{}/stat", pid.as_raw()).ok()?;
    let len = 32 - rest.len();
    let name = std::ffi::OsStr::from_bytes(&path[..len]);
    let n = std::fs::File::open(name).ok()?.read(buf).ok()?;
    // The kernel hands the whole line to a read big enough for it.
    let line = &buf[..n];
    (n < buf.len() && line.ends_with(b"\n")).then_some(line)
}

/// Alive and not a zombie.
pub fn is_running(pid: Pid) -> bool {
    stat_field::<char>(pid, 0).is_some_and(|state| state != 'Z' && state != 'X')
}

/// The parent's pid (field 4).
pub fn parent(pid: Pid) -> Option<Pid> {
    let ppid: i32 = stat_field(pid, 1)?;
    Some(Pid::from_raw(ppid))
}

/// The command line's words (argv, NUL-separated in /proc/PID/cmdline).
pub fn argv(pid: Pid) -> Option<Vec<Vec<u8>>> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        cmdline
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(<[u8]>::to_vec)
            .collect(),
    )
}

/// The process's name (/proc/PID/comm, at most 15 bytes).
pub fn comm(pid: Pid) -> Option<String> {
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(name.trim_end_matches('\n').to_string())
}

/// Every process's pid.
pub fn pids() -> io::Result<Vec<Pid>> {
    Ok(std::fs::read_dir("/proc")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .map(Pid::from_raw)
        .collect())
}

/// The children of `parent`.
pub fn children(parent: Pid) -> Vec<Pid> {
    pids()
        .unwrap_or_default()
        .into_iter()
        .filter(|&p| self::parent(p) == Some(parent))
        .collect()
}

/// /proc/locks, and whether it came in one read (the kernel listed it in
/// one pass: nothing in it was skipped).
fn read_locks() -> io::Result<(String, bool)> {
    use std::io::Read;
    let mut file = std::fs::File::open("/proc/locks")?;
    let mut text = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut reads = 0;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        text.extend_from_slice(&chunk[..n]);
        reads += 1;
    }
    Ok((String::from_utf8_lossy(&text).into_owned(), reads <= 1))
}

/// The pid that took a flock on the file (dev, ino), from /proc/locks,
/// which anyone may read (without taking any lock, so a reader never makes
/// a starting owner fail). That process may have died since: a child it
/// forked can hold the lock on.
pub fn flock_taker(dev: u64, ino: u64) -> io::Result<Option<Pid>> {
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let id = format!("{major:02x}:{minor:02x}:{ino}");
    // The kernel lists /proc/locks a read at a time, finding its place
    // again by count: locks listed earlier that go away between two of our
    // reads make the next one skip as many entries. A listing that came in
    // one read was made in one pass and is whole; otherwise a lock is said
    // to be free only when five readings do not show it (rare, not
    // impossible: a caller that acts on "free" still meets the lock).
    for _ in 0..5 {
        let (locks, whole) = read_locks()?;
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:123456 0 EOF"; a waiter's line
        // has "->" after the number and holds nothing.
        for line in locks.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(1) == Some(&"FLOCK") && fields.get(5) == Some(&id.as_str()) {
                return Ok(fields[4].parse().ok().map(Pid::from_raw));
            }
        }
        if whole {
            break;
        }
    }
    Ok(None)
}

/// Does process `pid` hold an exclusive flock on the file (dev, ino) now,
/// through any descriptor (its own or one inherited across a fork)? Its
/// /proc/PID/fdinfo lists the locks owned through each descriptor; only
/// root or the same user may read them.
pub fn holds_flock(pid: Pid, dev: u64, ino: u64) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    for entry in entries.flatten() {
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if meta.dev() != dev || meta.ino() != ino {
            continue;
        }
        let info = format!("/proc/{pid}/fdinfo/{}", entry.file_name().to_string_lossy());
        if let Ok(text) = std::fs::read_to_string(info) {
            if text.lines().any(|l| {
                l.starts_with("lock:")
                    && l.contains("FLOCK")
                    && l.contains("WRITE")
                    && !l.contains("->")
            }) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_between_two_readings_is_the_one_proc_reports() {
        let mut known = 0;
        for _ in 0..300 {
            let before = boot_clock();
            let mut child = std::process::Command::new("/bin/sleep")
                .arg("5")
                .spawn()
                .unwrap();
            let after = boot_clock();
            let pid = Pid::from_raw(child.id() as i32);
            if let Some(t) = start_time_between(before, after) {
                assert_eq!(Some(t), start_time(pid));
                known += 1;
            }
            child.kill().unwrap();
            child.wait().unwrap();
        }
        assert!(known > 100, "{known} of 300 known without /proc");
        // Readings in two ticks, or backwards, or missing: not known.
        let tick = 1_000_000_000 / 100;
        let mid = 1000 * tick + tick / 2;
        assert_eq!(start_time_between(Some(mid), Some(mid + 1000)), Some(1000));
        assert_eq!(start_time_between(Some(mid), Some(mid + tick)), None);
        assert_eq!(start_time_between(Some(mid + 1), Some(mid)), None);
        assert_eq!(start_time_between(Some(1000 * tick + 10), Some(mid)), None);
        assert_eq!(start_time_between(None, Some(mid)), None);
    }

    #[test]
    fn own_process() {
        let me = nix::unistd::getpid();
        assert!(is_running(me));
        assert!(start_time(me).is_some_and(|t| t > 0));
        // Field 22 of the whole line, split at the last ')'.
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let by_hand = text.rsplit_once(')').unwrap().1.split_whitespace().nth(19);
        assert_eq!(start_time(me), by_hand.and_then(|f| f.parse().ok()));
        assert!(read_stat_line(me, &mut [0u8; 1024]).is_some());
        assert!(read_stat_line(me, &mut [0u8; 16]).is_none());
        assert_eq!(parent(me), Some(nix::unistd::getppid()));
        assert!(children(nix::unistd::getppid()).contains(&me));
        assert!(pids().unwrap().contains(&me));
        assert!(argv(me).is_some_and(|a| !a.is_empty()));
        assert!(comm(me).is_some_and(|c| !c.is_empty() && !c.ends_with('\n')));
    }

    #[test]
    fn flock_holder_seen_both_ways() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let f = std::fs::File::create(&p).unwrap();
        let m = f.metadata().unwrap();
        let me = nix::unistd::getpid();
        assert_eq!(flock_taker(m.dev(), m.ino()).unwrap(), None);
        assert!(!holds_flock(me, m.dev(), m.ino()));
        let held = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).unwrap();
        assert_eq!(flock_taker(m.dev(), m.ino()).unwrap(), Some(me));
        assert!(holds_flock(me, m.dev(), m.ino()));
        drop(held);
        assert!(!holds_flock(me, m.dev(), m.ino()));
    }
}
