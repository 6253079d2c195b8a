//! Processes a test started, found by a marker no other program uses, and
//! ended when the test ends, pass or fail.

use std::fs;
use std::path::Path;
use std::process::Child;

use super::{alive, signal, Signal};

/// A marker unique to this test process: `sleep` takes a fractional
/// duration, so `sleep {marker(1001)}` names no other program's process.
pub fn marker(base: u32) -> String {
    format!("{base}.{}", std::process::id())
}

/// Live processes whose command line contains `marker`, read straight from
/// /proc (pgrep reads several files per process: too slow to call often).
pub fn marked(marker: &str) -> Vec<u32> {
    live_where(|_, cmdline| cmdline.contains(marker))
}

/// Live processes whose command line ends with `args` (space-separated)
/// and whose working directory is `cwd`: a supervise of ours, told apart
/// from any other test's by its directory.
pub fn running_in(cwd: &Path, args: &str) -> Vec<u32> {
    live_where(|pid, cmdline| {
        cmdline.trim_end().ends_with(args)
            && fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|d| d == cwd)
    })
}

/// Live processes for which `keep(pid, command line)` holds, the command
/// line's NULs read as spaces.
fn live_where(keep: impl Fn(u32, &str) -> bool) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            keep(pid, &String::from_utf8_lossy(&cmdline).replace('\0', " ")) && alive(pid)
        })
        .collect()
}

/// KILLs every process carrying its marker when dropped.
pub struct KillMarked(pub String);

impl Drop for KillMarked {
    fn drop(&mut self) {
        for pid in marked(&self.0) {
            signal(pid as i32, Signal::SIGKILL);
        }
    }
}

/// A child KILLed (and reaped) when dropped, unless already reaped.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// KILLs, when dropped, every process working in `dir` or below it: an
/// svscan on a temp scan dir, its supervisors and their services.
pub struct KillIn(pub std::path::PathBuf);

impl Drop for KillIn {
    fn drop(&mut self) {
        let Ok(entries) = fs::read_dir("/proc") else {
            return;
        };
        let pids: Vec<u32> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|&pid| {
                fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|d| d.starts_with(&self.0))
            })
            .collect();
        for pid in pids {
            if pid != std::process::id() {
                signal(pid as i32, Signal::SIGKILL);
            }
        }
    }
}
