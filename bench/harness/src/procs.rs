//! Processes: starting the systems' programs, reading /proc, tearing trees down.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The PATH every program under test sees: Debian's binaries only, so a
/// peer's scanner never picks up upkeep's `supervise` (upkeep's svscan runs
/// the supervise installed beside it).
pub const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// Starts `argv` in `cwd` with stdin from /dev/null and output appended to
/// `log` (kept for a post-mortem when a figure looks wrong).
pub fn start(argv: &[&str], cwd: &Path, log: &Path) -> Result<Child, String> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("open {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("dup {}: {e}", log.display()))?;
    Command::new(argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("start {}: {e}", argv.join(" ")))
}

/// Runs `argv` to completion (output discarded); true when it exited 0.
pub fn run_quiet(argv: &[&str]) -> bool {
    Command::new(argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs `argv` to completion and returns its stdout.
pub fn run_output(argv: &[&str]) -> Option<String> {
    Command::new(argv[0])
        .args(&argv[1..])
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Direct children of `pid` (over all its threads).
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(text) = fs::read_to_string(path) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// Every descendant of `pid`, parents before children.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(p) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// The command name of `pid` (/proc/PID/comm), empty if it is gone.
pub fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Voluntary plus involuntary context switches of `pid` so far.
pub fn context_switches(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut total = 0;
    let mut seen = 0;
    for line in text.lines() {
        if let Some(rest) = line
            .strip_prefix("voluntary_ctxt_switches:")
            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        {
            total += rest.trim().parse::<u64>().ok()?;
            seen += 1;
        }
    }
    (seen == 2).then_some(total)
}

/// Memory of one process in kB, from /proc/PID/smaps_rollup.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mem {
    pub rss: f64,
    pub pss: f64,
    /// Unique set size: the private pages, what killing it would free.
    pub uss: f64,
}

pub fn memory(pid: i32) -> Option<Mem> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let mut m = Mem::default();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(val)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(kb) = val.parse::<f64>() else { continue };
        match key {
            "Rss:" => m.rss = kb,
            "Pss:" => m.pss = kb,
            "Private_Clean:" | "Private_Dirty:" => m.uss += kb,
            _ => {}
        }
    }
    (m.rss > 0.0).then_some(m)
}

/// Stops `root` and its whole tree first (so no supervisor restarts what we
/// kill), then kills them all and reaps what became ours.
pub fn kill_tree(root: i32) {
    let _ = kill(Pid::from_raw(root), Signal::SIGSTOP);
    let mut all = vec![root];
    // A member may fork between two looks; look until the tree is still.
    for _ in 0..5 {
        let now = descendants(root);
        for &p in &now {
            let _ = kill(Pid::from_raw(p), Signal::SIGSTOP);
        }
        let grew = now.iter().any(|p| !all.contains(p));
        for p in now {
            if !all.contains(&p) {
                all.push(p);
            }
        }
        if !grew {
            break;
        }
    }
    for &p in &all {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    // Orphans of the tree come to us (we are a subreaper): wait until every
    // process we killed is gone so the next figure starts on a quiet machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        reap();
        if all.iter().all(|&p| !alive(p)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Reaps every child that has exited (ours or adopted) without blocking.
pub fn reap() {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// Time `pid` has spent on a CPU so far, in nanoseconds (/proc/PID/schedstat).
pub fn cpu_ns(pid: i32) -> Option<u64> {
    fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
