//! Hook mode: the order keepalived started its notify processes in.
//!
//! keepalived forks one process per event, in the order of the events, and
//! does not wait for them. A process's start time (/proc/PID/stat field 22,
//! clock ticks since boot) orders processes started in different ticks; two
//! started in the same tick (10 ms) are ordered by pid, compared modulo
//! pid_max (pids are handed out cyclically and cannot wrap around within one
//! tick). The boot id keeps an order from another boot (a state dir outside
//! /run) from looking newer than every order of this one.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub boot: String,
    pub start: u64,
    pub pid: u32,
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.boot, self.start, self.pid)
    }
}

/// Fields of /proc/PID/stat: (comm, fields after the command name).
fn stat(pid: &str) -> Option<(String, Vec<String>)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = text.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    Some((comm, rest.split_whitespace().map(str::to_string).collect()))
}

fn pid_max() -> u64 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&m| m > 1)
        .unwrap_or(1 << 22)
}

impl Order {
    pub fn parse(text: &str) -> Option<Order> {
        let mut w = text.split(' ');
        let o = Order {
            boot: w.next()?.to_string(),
            start: w.next()?.parse().ok()?,
            pid: w.next()?.parse().ok()?,
        };
        w.next().is_none().then_some(o)
    }

    fn of(pid: u32, boot: &str) -> Option<Order> {
        let (_, f) = stat(&pid.to_string())?;
        Some(Order {
            boot: boot.to_string(),
            start: f.get(19)?.parse().ok()?,
            pid,
        })
    }

    /// This process's order.
    pub fn of_self() -> Option<Order> {
        Order::of(
            std::process::id(),
            upkeep::procfs::boot_id().unwrap_or_default(),
        )
    }

    /// Was `self` started after `other`? An order of another boot is older.
    pub fn is_after(&self, other: &Order) -> bool {
        if self.boot != other.boot {
            return true;
        }
        if self.start != other.start {
            return self.start > other.start;
        }
        let max = pid_max();
        let diff = (u64::from(self.pid) + max - u64::from(other.pid) % max) % max;
        diff != 0 && diff < max / 2
    }
}

/// A hook-mode vrrp-notify for the same state directory, started before
/// `me`, still alive: it must have its turn first. None when there is none.
/// Processes in `passed` (waited for long enough) do not count.
pub fn older_sibling(me: &Order, state_dir: &Path, passed: &[Pid]) -> Option<Pid> {
    let self_exe = std::fs::read_link("/proc/self/exe").ok()?;
    let (my_comm, _) = stat("self")?;
    let mine = absolute(state_dir, std::env::current_dir().ok());
    let mut best: Option<Order> = None;
    for e in std::fs::read_dir("/proc").ok()?.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some(pid) = std::str::from_utf8(name.as_bytes())
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me.pid || passed.contains(&Pid::from_raw(pid as i32)) {
            continue;
        }
        let Some((comm, f)) = stat(&pid.to_string()) else {
            continue;
        };
        if comm != my_comm || f.first().is_some_and(|s| s == "Z" || s == "X") {
            continue;
        }
        let Some(start) = f.get(19).and_then(|s| s.parse().ok()) else {
            continue;
        };
        let theirs = Order {
            boot: me.boot.clone(),
            start,
            pid,
        };
        if !me.is_after(&theirs) || best.as_ref().is_some_and(|b| !b.is_after(&theirs)) {
            continue;
        }
        if std::fs::read_link(format!("/proc/{pid}/exe")).ok().as_ref() != Some(&self_exe) {
            continue;
        }
        if hook_mode_state_dir(pid).as_ref() != Some(&mine) {
            continue;
        }
        best = Some(theirs);
    }
    best.map(|o| Pid::from_raw(o.pid as i32))
}

fn absolute(p: &Path, cwd: Option<PathBuf>) -> PathBuf {
    match cwd {
        Some(c) if p.is_relative() => c.join(p),
        _ => p.to_path_buf(),
    }
}

/// The state directory of a vrrp-notify in hook mode, from its argv; None
/// for a fifo-mode one.
fn hook_mode_state_dir(pid: u32) -> Option<PathBuf> {
    let argv = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = argv.split(|&b| b == 0).collect();
    let mut dir: PathBuf = "/run/upkeep".into();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if *a == b"--fifo" || a.starts_with(b"--fifo=") {
            return None;
        }
        if *a == b"--state-dir" {
            dir = std::ffi::OsStr::from_bytes(it.next()?).into();
        } else if let Some(v) = a.strip_prefix(b"--state-dir=") {
            dir = std::ffi::OsStr::from_bytes(v).into();
        }
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    Some(absolute(&dir, cwd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_compare_by_boot_tick_and_pid() {
        let o = |b: &str, s, p| Order {
            boot: b.into(),
            start: s,
            pid: p,
        };
        assert!(o("a", 2, 5).is_after(&o("a", 1, 9)));
        assert!(!o("a", 1, 9).is_after(&o("a", 2, 5)));
        assert!(o("a", 1, 9).is_after(&o("a", 1, 5)));
        assert!(!o("a", 1, 5).is_after(&o("a", 1, 5)));
        // Wrapped around within the tick.
        let max = pid_max() as u32;
        assert!(o("a", 1, 3).is_after(&o("a", 1, max - 2)));
        assert!(o("b", 1, 1).is_after(&o("a", 9, 9)));
        let me = Order::of_self().unwrap();
        assert_eq!(Order::parse(&me.to_string()), Some(me));
    }
}
