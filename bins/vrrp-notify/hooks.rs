//! Running one event's hooks, HOOKDIR/STATE then HOOKDIR/any, one at a time,
//! as `HOOK TYPE NAME STATE PRIORITY` (argv, no shell), each under a time
//! limit (TERM to its process group, then KILL), output prefixed on stderr.
//! Driven by the caller's poll loop: `fds()` to wait on, `progress()` when
//! anything is ready, until `is_done()`.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, Pid};

use upkeep::errors::{self, Fatal};
use upkeep::event::Timer;
use upkeep::spawn::Spawn;
use upkeep::sys;

use crate::line::Event;

/// The hook that runs after the state's own hook, for every state.
pub const ANY_HOOK: &str = "any";
/// Longest KILL grace after the TERM of a timed-out hook.
const MAX_KILL_GRACE: Duration = Duration::from_secs(5);
/// Longest output line copied in one piece.
const MAX_OUTPUT_LINE: usize = 4096;

#[derive(Clone)]
pub struct HookConfig {
    pub dir: PathBuf,
    pub timeout: Duration,
    /// Program name for the stderr prefix and warnings.
    pub prog: &'static str,
}

struct Running {
    hook: String,
    pid: Pid,
    pidfd: OwnedFd,
    output: Option<OwnedFd>,
    buf: Vec<u8>,
    exec: Result<(), Errno>,
    timer: Timer,
    /// TERM sent after the time limit; the next expiry means KILL.
    termed: bool,
}

/// The hooks of one event.
pub struct EventHooks {
    config: HookConfig,
    event: Event,
    todo: VecDeque<String>,
    current: Option<Running>,
    failures: Vec<String>,
}

impl EventHooks {
    /// Start the first hook that exists (none may).
    pub fn start(config: &HookConfig, event: &Event) -> EventHooks {
        let mut run = EventHooks {
            config: config.clone(),
            event: event.clone(),
            todo: VecDeque::from([event.state.name().to_string(), ANY_HOOK.to_string()]),
            current: None,
            failures: Vec::new(),
        };
        run.start_next();
        run
    }

    /// Start no more hooks of this event (a newer one superseded it); the
    /// one running finishes.
    pub fn skip_rest(&mut self) {
        self.todo.clear();
    }

    pub fn is_done(&self) -> bool {
        self.current.is_none() && self.todo.is_empty()
    }

    /// What went wrong, one entry per failed hook (empty: all succeeded).
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Descriptors whose readiness means progress can be made.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = Vec::new();
        if let Some(r) = &self.current {
            v.push(r.pidfd.as_fd());
            v.push(r.timer.as_fd());
            if let Some(o) = &r.output {
                v.push(o.as_fd());
            }
        }
        v
    }

    /// Copy output, act on the time limit, reap an exited hook and start the
    /// next. Everything is non-blocking; spurious calls are harmless.
    pub fn progress(&mut self) {
        let Some(r) = self.current.as_mut() else {
            return;
        };
        copy_output(r, self.config.prog, false);
        if r.timer.take_expiry() {
            if r.termed {
                errors::warn(
                    self.config.prog,
                    format_args!("hook {} still running: sending KILL", r.hook),
                );
                let _ = killpg(r.pid, Signal::SIGKILL);
            } else {
                errors::warn(
                    self.config.prog,
                    format_args!(
                        "hook {} timed out after {}: sending TERM",
                        r.hook,
                        humantime::format_duration(self.config.timeout)
                    ),
                );
                r.termed = true;
                let _ = killpg(r.pid, Signal::SIGTERM);
                let _ = killpg(r.pid, Signal::SIGCONT);
                r.timer.arm(self.config.timeout.min(MAX_KILL_GRACE));
            }
        }
        let status = match waitpid(r.pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => return,
            Ok(s) => Some(s),
            Err(_) => None,
        };
        let Some(mut r) = self.current.take() else {
            return;
        };
        // Whatever the hook wrote before it exited is in the pipe now; a
        // background child it left may keep the pipe open, so do not wait
        // for EOF.
        copy_output(&mut r, self.config.prog, true);
        if r.termed {
            // Members of its group must not outlive the time limit.
            let _ = killpg(r.pid, Signal::SIGKILL);
        }
        if let Some(why) = judge(&r, status) {
            self.failures.push(format!("hook {}: {why}", r.hook));
            errors::warn(self.config.prog, format_args!("hook {}: {why}", r.hook));
        }
        self.start_next();
    }

    fn start_next(&mut self) {
        while self.current.is_none() {
            let Some(hook) = self.todo.pop_front() else {
                return;
            };
            let path = self.config.dir.join(&hook);
            if !exists(&path) {
                continue;
            }
            match spawn_hook(&self.config, &path, &hook, &self.event) {
                Ok(r) => self.current = Some(r),
                Err(f) => {
                    errors::warn(self.config.prog, &f);
                    self.failures.push(f.to_string());
                }
            }
        }
    }
}

fn exists(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

fn judge(r: &Running, status: Option<WaitStatus>) -> Option<String> {
    if let Err(e) = r.exec {
        return Some(format!("unable to run: {}", errors::phrase(e)));
    }
    match status {
        Some(WaitStatus::Exited(_, 0)) if !r.termed => None,
        Some(WaitStatus::Exited(_, code)) if r.termed => {
            Some(format!("timed out (exited {code} after TERM)"))
        }
        Some(WaitStatus::Exited(_, code)) => Some(format!("exited {code}")),
        Some(WaitStatus::Signaled(_, sig, _)) if r.termed => Some(format!(
            "timed out (killed by {})",
            upkeep::signals::name(sig as i32)
        )),
        Some(WaitStatus::Signaled(_, sig, _)) => Some(format!(
            "killed by signal {}",
            upkeep::signals::name(sig as i32)
        )),
        _ => Some("lost track of it".into()),
    }
}

fn spawn_hook(
    config: &HookConfig,
    path: &Path,
    hook: &str,
    event: &Event,
) -> Result<Running, Fatal> {
    let what = || format!("unable to run hook {}", path.display());
    let devnull: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/null")
        .map_err(|e| Fatal::io(what(), &e))?;
    let (out_r, out_w) =
        pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(|e| Fatal::sys(what(), e))?;
    // The child's end must block like any ordinary stdout.
    nix::fcntl::fcntl(&out_w, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))
        .map_err(|e| Fatal::sys(what(), e))?;
    let mut timer = Timer::new().map_err(|e| Fatal::sys(what(), e))?;
    let child = Spawn::new(path.as_os_str())
        .arg(event.kind.name())
        .arg(&event.name)
        .arg(event.state.name())
        .arg(event.priority.to_string())
        .cwd(config.dir.as_os_str())
        .fd(&devnull, 0)
        .fd(&out_w, 1)
        .fd(&out_w, 2)
        // Own process group: the time limit reaches whatever the hook started.
        .new_session()
        // A killed vrrp-notify must not leave a superseded hook running
        // while its successor runs the newest event's hooks.
        .parent_death_signal(libc::SIGKILL)
        .spawn()
        .map_err(|e| Fatal::sys(what(), e))?;
    drop(out_w);
    timer.arm(config.timeout);
    let pidfd = match sys::pidfd_open(child.pid) {
        Ok(fd) => fd,
        Err(e) => {
            // Without a pidfd the exit cannot be waited for in the loop: do
            // not leave the hook running unobserved.
            let _ = killpg(child.pid, Signal::SIGKILL);
            let _ = waitpid(child.pid, None);
            return Err(Fatal::sys(what(), e));
        }
    };
    Ok(Running {
        hook: hook.to_string(),
        pid: child.pid,
        pidfd,
        output: Some(out_r),
        buf: Vec::new(),
        exec: child.exec,
        timer,
        termed: false,
    })
}

/// Copy complete lines of the hook's output to stderr with a prefix; at the
/// end (`last`), also a final partial line, and stop reading.
fn copy_output(r: &mut Running, prog: &str, last: bool) {
    if let Some(fd) = &r.output {
        let mut chunk = [0u8; 4096];
        loop {
            match nix::unistd::read(fd, &mut chunk) {
                Ok(0) => {
                    r.output = None;
                    break;
                }
                Ok(n) => r.buf.extend_from_slice(&chunk[..n]),
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
            if r.buf.len() > MAX_OUTPUT_LINE && !r.buf.contains(&b'\n') {
                break;
            }
        }
    }
    while let Some(nl) = r.buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = r.buf.drain(..=nl).collect();
        emit(prog, &r.hook, r.pid, &line[..line.len() - 1]);
    }
    if r.buf.len() > MAX_OUTPUT_LINE || (last && !r.buf.is_empty()) {
        let line = std::mem::take(&mut r.buf);
        emit(prog, &r.hook, r.pid, &line);
    }
    if last {
        r.output = None;
    }
}

/// One output line of a hook, in one write (see errors::say).
fn emit(prog: &str, hook: &str, pid: Pid, line: &[u8]) {
    errors::say(format_args!(
        "{prog}: {hook}[{pid}]: {}",
        String::from_utf8_lossy(line)
    ));
}

/// Run an event's hooks to the end, blocking (hook mode); returns what
/// went wrong, one entry per failed hook.
pub fn run_blocking(config: &HookConfig, event: &Event) -> Result<Vec<String>, Fatal> {
    let mut run = EventHooks::start(config, event);
    while !run.is_done() {
        let fds = run.fds();
        let r = upkeep::event::wait_readable(&fds, None);
        drop(fds);
        r.map_err(|e| Fatal::sys("unable to poll", e))?;
        run.progress();
    }
    Ok(run.failures().to_vec())
}
