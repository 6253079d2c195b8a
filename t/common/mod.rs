//! Helpers shared by every test crate, the `harness = false` ones included
//! (`mod common;`): real binaries, temp service dirs, waiting on a
//! condition with a deadline (never a bare sleep), and skipping a test
//! only outside CI.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;

pub mod marked;
pub mod started;

pub const SUPERVISE: &str = env!("CARGO_BIN_EXE_supervise");
pub const SVC: &str = env!("CARGO_BIN_EXE_svc");
pub const SVSTAT: &str = env!("CARGO_BIN_EXE_svstat");
pub const SVOK: &str = env!("CARGO_BIN_EXE_svok");

/// Poll `cond` every 2 ms until it holds (true) or `limit` passes (false),
/// for a test that says itself what a timeout means.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Poll `cond` until it holds; panic with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, cond: impl FnMut() -> bool) {
    assert!(
        eventually(limit, cond),
        "timed out after {limit:?} waiting for {what}"
    );
}

/// An executable file at `path`, always a new one: never written through
/// a link (to a file of the repository, say) nor into a script running.
pub fn write_exec(path: &Path, text: &str) {
    let _ = fs::remove_file(path);
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// `program args dirs...`, stdin from /dev/null, run to its end.
pub fn run_on(program: &str, args: &[&str], dirs: &[&Path]) -> Output {
    Command::new(program)
        .args(args)
        .args(dirs)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The status of `child` once it exited; None if it still runs after
/// `limit`.
pub fn exited(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let mut status = None;
    eventually(limit, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// End a process the test started: SIGTERM, `limit` to exit, then SIGKILL;
/// reaped either way.
pub fn terminate(child: &mut Child, limit: Duration) {
    signal(child.id() as i32, Signal::SIGTERM);
    exited(child, limit);
    let _ = child.kill();
    let _ = child.wait();
}

/// A process ended, when dropped, as a daemon is at shutdown: `terminate`d
/// (20 s between SIGTERM and SIGKILL).
pub struct TermOnDrop(pub Child);

impl Drop for TermOnDrop {
    fn drop(&mut self) {
        terminate(&mut self.0, Duration::from_secs(20));
    }
}

/// A service dir in a temp dir, with `run` holding `script`.
pub struct Service {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl Service {
    pub fn new(run: &str) -> Service {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("svc");
        fs::create_dir(&dir).unwrap();
        write_exec(&dir.join("run"), run);
        Service { tmp, dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    /// Status record: (pid, paused, want byte).
    pub fn status(&self) -> Option<(u32, u8, u8)> {
        let b = fs::read(self.path("supervise/status")).ok()?;
        (b.len() == 18).then(|| {
            (
                u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
                b[16],
                b[17],
            )
        })
    }

    pub fn pid(&self) -> u32 {
        self.status().map(|s| s.0).unwrap_or(0)
    }

    pub fn state_field(&self, key: &str) -> String {
        let text = self.read("supervise/state");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
            .unwrap_or_default()
    }

    pub fn send(&self, letters: &str) {
        fs::write(self.path("supervise/control"), letters).unwrap();
    }

    pub fn svc(&self, args: &[&str]) -> Output {
        Command::new(SVC)
            .args(args)
            .arg(&self.dir)
            .output()
            .unwrap()
    }

    /// Start upkeep's supervise on this dir.
    pub fn supervise(&self) -> Supervise {
        self.supervise_with(SUPERVISE)
    }

    pub fn supervise_with(&self, program: &str) -> Supervise {
        let child = Command::new(program)
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let s = Supervise {
            child: Some(child),
            dir: self.dir.clone(),
        };
        wait_for(
            "supervise/ok to have a reader",
            Duration::from_secs(5),
            || {
                Command::new(SVOK)
                    .arg(&self.dir)
                    .status()
                    .map(|st| st.success())
                    .unwrap_or(false)
            },
        );
        s
    }
}

/// A running supervise, stopped (service included) when dropped.
pub struct Supervise {
    pub child: Option<Child>,
    dir: PathBuf,
}

impl Supervise {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Wait for supervise to exit; returns its exit code and stderr.
    pub fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("supervise already reaped");
        let Some(st) = exited(&mut child, limit) else {
            let _ = child.kill();
            panic!("supervise did not exit within {limit:?}");
        };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            // Read what is there, without waiting for EOF: a run
            // that outlived supervise may hold the pipe open.
            use std::io::Read;
            use std::os::fd::AsFd;
            let flags = nix::fcntl::fcntl(e.as_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
            let flags =
                nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
            nix::fcntl::fcntl(e.as_fd(), nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
            let mut buf = Vec::new();
            let _ = e.read_to_end(&mut buf);
            err = String::from_utf8_lossy(&buf).into_owned();
        }
        (st.code(), err)
    }
}

impl Drop for Supervise {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = read_pid(&self.dir);
            let _ = fs::write(self.dir.join("supervise/control"), "dx");
            exited(&mut child, Duration::from_secs(5));
            let _ = child.kill();
            let _ = child.wait();
            if pid > 0 {
                // The service's process group (upkeep's run is a group leader).
                signal(-(pid as i32), Signal::SIGKILL);
            }
        }
    }
}

/// A service up under a running supervise: a pid in its status, and svok
/// says so.
pub fn up(dir: &Path) -> bool {
    read_pid(dir) != 0
        && Command::new(SVOK)
            .arg(dir)
            .status()
            .map(|st| st.success())
            .unwrap_or(false)
}

/// kill(2) directly: the `kill` program's parsing of `-SIG -PGID` is not
/// portable (procps-ng once turned it into kill(-1): every process).
pub fn signal(pid: i32, sig: Signal) {
    assert!(pid != 0 && pid != -1, "refusing to signal pid {pid}");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

pub fn read_pid(dir: &Path) -> u32 {
    fs::read(dir.join("supervise/status"))
        .ok()
        .filter(|b| b.len() == 18)
        .map(|b| u32::from_le_bytes([b[12], b[13], b[14], b[15]]))
        .unwrap_or(0)
}

/// Does process `pid` ("self" for this one) ignore `sig`? From the SigIgn
/// mask of /proc/PID/status.
pub fn ignores(pid: &str, sig: libc::c_int) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("a SigIgn line")
        & (1 << (sig - 1))
        != 0
}

pub fn alive(pid: u32) -> bool {
    // A zombie is not alive for our purposes.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// The parent of `pid` from /proc (0: gone).
pub fn ppid(pid: u32) -> u32 {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The one-letter process state from /proc (R, S, T, Z ...).
pub fn proc_state(pid: u32) -> char {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.trim_start().chars().next())
        })
        .unwrap_or('?')
}

/// How many rounds a repeated test makes: `var` from the environment, or
/// `default`.
pub fn rounds(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CI=true: every test must run there; nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A test cannot run here (`why`): say so and skip, but never under CI,
/// where this fails the test instead. Returns false, for `if !x { return }`.
pub fn skip(why: &str) -> bool {
    assert!(!in_ci(), "CI=true, yet {why}");
    eprintln!("skipping: {why}");
    false
}

/// Running as root, or skipped (outside CI only) saying what needs it.
pub fn need_root(what: &str) -> bool {
    nix::unistd::geteuid().is_root() || skip(&format!("{what} needs root"))
}

/// Is a Debian package's program present? In CI it must be.
pub fn have(program: &str) -> bool {
    Path::new(program).exists() || skip(&format!("{program} not installed (.ci/run installs it)"))
}

/// A run script that records every catchable signal it gets in ./sigs.
pub const SIGNAL_RECORDER: &str = r#"#!/bin/sh
for s in HUP INT QUIT USR1 USR2 ALRM WINCH CONT; do
  trap "echo $s >> sigs" $s
done
trap 'echo TERM >> sigs; exit 0' TERM
echo $$ >> starts
while :; do sleep 1 & wait $!; done
"#;
