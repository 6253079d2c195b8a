//! What a new child does between its clone and its exec. Part of `sys`:
//! the child shares the parent's memory, so it only makes
//! async-signal-safe system calls on what the parent prepared.

use std::os::fd::RawFd;

use nix::errno::Errno;

use super::child::ChildPlan;
use super::{exec_paths_pointers, Pointers};

/// What the child is given: the plan, and what the parent made for it.
pub(super) struct ChildStart<'a> {
    pub(super) plan: &'a ChildPlan<'a>,
    pub(super) argv: &'a Pointers,
    pub(super) envp: &'a Pointers,
    /// This process's pid when the child must check it (parent death
    /// signal), else 0.
    pub(super) parent: libc::pid_t,
    /// Write end of the exec status pipe: a failed step's errno, then the
    /// child exits 127; close-on-exec, so EOF means exec'd or gone.
    pub(super) error_pipe: RawFd,
    /// The child writes `c` on `error_pipe` once it has done every step
    /// before the gate (and before the failure's errno if one fails).
    pub(super) fence: bool,
    /// (read end, our write end) of the gate of `spawn_gated`.
    pub(super) gate: Option<(RawFd, RawFd)>,
}

pub(super) extern "C" fn child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `start` of vfork_exec or gated_clone, which
    // stays alive and unchanged while this child runs: both return only
    // once it has exec'd or exited.
    let start = unsafe { &*(arg as *const ChildStart) };
    become_child(start)
}

fn errno() -> libc::c_int {
    Errno::last_raw()
}

/// Write all of `bytes` to `fd` with the raw system call: glibc's write(2)
/// wrapper is a cancellation point, which touches the (shared) thread's
/// cancellation state.
fn raw_write(fd: RawFd, bytes: &[u8]) {
    // SAFETY: `bytes` is a valid buffer of the given length; the call
    // writes nothing to our memory but errno, on failure.
    unsafe {
        libc::syscall(
            libc::SYS_write,
            libc::c_long::from(fd),
            bytes.as_ptr(),
            bytes.len(),
        )
    };
}

/// The child's exit after a failed step: its errno on the status pipe (after
/// the fence byte when the parent has not had it yet), then 127.
fn child_fail(start: &ChildStart, before_fence: bool, err: libc::c_int) -> ! {
    let e = err.to_ne_bytes();
    let bytes = [b'c', e[0], e[1], e[2], e[3]];
    let from = if before_fence && start.fence { 0 } else { 1 };
    raw_write(start.error_pipe, &bytes[from..]);
    // SAFETY: _exit(2) is async-signal-safe and never returns.
    unsafe { libc::_exit(127) }
}

/// The child's side: never returns (exec, or _exit after reporting on the
/// status pipe).
fn become_child(start: &ChildStart) -> ! {
    let plan = start.plan;
    let (gate_read, gate_write) = start.gate.map_or((-1, -1), |g| g);
    let ours = |fd: RawFd| fd == start.error_pipe || fd == gate_read || fd == gate_write;
    // SAFETY: all calls are async-signal-safe system calls on valid pointers
    // (sigset, sigaction and flock on the stack; `argv`/`envp` built by the
    // parent from the plan's CStrings, which it borrows until the child has
    // exec'd, and NULL-terminated by Pointers). A bad fd number only makes
    // a call fail; the status pipe and the gate are never closed here.
    unsafe {
        for &fd in plan.close_first {
            if !ours(fd) {
                libc::close(fd);
            }
        }
        if gate_write >= 0 {
            libc::close(gate_write);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        for sig in 1..libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            if plan.keep_ignored && sig != libc::SIGPIPE {
                let mut now: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut now) == 0
                    && now.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
            }
            libc::signal(sig, libc::SIG_DFL);
        }
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        if plan.new_session && libc::setsid() < 0 {
            child_fail(start, true, errno());
        }
        if !plan.new_session && plan.new_process_group && libc::setpgid(0, 0) < 0 {
            child_fail(start, true, errno());
        }
        if let Some(sig) = plan.parent_death_signal {
            libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0);
            // The parent may have died between the clone and prctl.
            if libc::getppid() != start.parent {
                libc::_exit(111);
            }
        }
        if start.fence {
            raw_write(start.error_pipe, b"c");
        }
        if gate_read >= 0 {
            // Raw calls from here until the parent has opened the gate:
            // no errno, no cancellation state. Before the fd moves, which
            // could reuse the gate's number. 1: go on; 0: the parent died.
            let mut byte = 0u8;
            let n = libc::syscall(
                libc::SYS_read,
                libc::c_long::from(gate_read),
                &mut byte as *mut u8,
                1usize,
            );
            if n != 1 {
                libc::_exit(111);
            }
            libc::syscall(libc::SYS_close, libc::c_long::from(gate_read));
        }
        for &(src, dst) in plan.fds {
            if src == dst {
                let flags = libc::fcntl(src, libc::F_GETFD);
                if flags < 0 || libc::fcntl(src, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    child_fail(start, false, errno());
                }
            } else if libc::dup2(src, dst) < 0 {
                child_fail(start, false, errno());
            }
        }
        if let Some(fd) = plan.record_lock {
            let mut lock: libc::flock = std::mem::zeroed();
            lock.l_type = libc::F_WRLCK as libc::c_short;
            lock.l_whence = libc::SEEK_SET as libc::c_short;
            if libc::fcntl(fd, libc::F_SETLK, &lock) < 0 {
                child_fail(start, false, errno());
            }
        }
        if let Some(cwd) = plan.cwd {
            if libc::chdir(cwd.as_ptr()) < 0 {
                child_fail(start, false, errno());
            }
        }
        let saved = exec_paths_pointers(plan.paths, start.argv, start.envp);
        child_fail(start, false, saved)
    }
}
