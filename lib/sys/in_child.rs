//! What a new child does between its clone and its exec. Part of `sys`:
//! the child shares the parent's memory, so it only makes
//! async-signal-safe system calls on what the parent prepared.

use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};

use nix::errno::Errno;

use super::child::{futex_wake, wait_while, ChildPlan};
use super::{exec_paths_pointers, Pointers};

/// What the child is given: the plan, and what the parent made for it.
pub(super) struct ChildStart<'a> {
    pub(super) plan: &'a ChildPlan<'a>,
    pub(super) argv: &'a Pointers,
    pub(super) envp: &'a Pointers,
    /// This process's pid when the child must check it (parent death
    /// signal, or a gate), else 0.
    pub(super) parent: libc::pid_t,
    /// The errno of the step that failed (the child then exits 127); 0
    /// once it reaches its exec. Starts as [`NOT_EXECD`].
    pub(super) error: AtomicI32,
    /// Where a gated child waits for its parent (`sys::spawn_gated`).
    pub(super) gate: Option<&'a Gate>,
}

/// A gated child's words, in the parent's memory that both share.
pub(super) struct Gate {
    /// RUNNING, then AT_GATE once the child waits at the gate; LEFT
    /// (written by the kernel, CLONE_CHILD_CLEARTID) once it has exec'd or
    /// exited.
    pub(super) child: AtomicU32,
    /// OPEN once the parent lets the child go on.
    pub(super) open: AtomicU32,
}

/// What a child that left before its exec without saying why reports:
/// killed by a signal, or its parent gone (the exec was interrupted).
pub(super) const NOT_EXECD: libc::c_int = libc::EINTR;

pub(super) const LEFT: u32 = 0;
pub(super) const RUNNING: u32 = 1;
pub(super) const AT_GATE: u32 = 2;
pub(super) const OPEN: u32 = 1;

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

/// The child's exit after a failed step: its errno where the parent reads
/// it, then 127.
fn child_fail(start: &ChildStart, err: libc::c_int) -> ! {
    start
        .error
        .store(if err == 0 { libc::EIO } else { err }, SeqCst);
    // SAFETY: _exit(2) is async-signal-safe and never returns.
    unsafe { libc::_exit(127) }
}

/// Set the parent death signal (0: none); false if the parent is already
/// gone, as it may be between the clone and this call.
///
/// # Safety
/// Only in the child, as [`become_child`]'s calls.
unsafe fn die_with_parent(start: &ChildStart, sig: libc::c_int) -> bool {
    // SAFETY: prctl and getppid are system calls that take no pointer.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0);
        sig == 0 || libc::getppid() == start.parent
    }
}

/// The child's side: never returns (exec, or _exit after storing the
/// failed step's errno).
fn become_child(start: &ChildStart) -> ! {
    let plan = start.plan;
    // SAFETY: all calls are async-signal-safe system calls on valid pointers
    // (sigset, sigaction and flock on the stack; `argv`/`envp` built by the
    // parent from the plan's CStrings, which it borrows until the child has
    // exec'd, and NULL-terminated by Pointers; the gate's words in the
    // parent's frame, alive until the child has left). A bad fd number
    // only makes a call fail.
    unsafe {
        for &fd in plan.close_first {
            libc::close(fd);
        }
        // Out of the parent's process group before any signal is let in:
        // a terminal's stop signal to it must not stop us before the gate,
        // with the parent waiting for us.
        if plan.new_session && libc::setsid() < 0 {
            child_fail(start, errno());
        }
        if !plan.new_session && plan.new_process_group && libc::setpgid(0, 0) < 0 {
            child_fail(start, errno());
        }
        let death_signal = plan.parent_death_signal.unwrap_or(0);
        if let Some(gate) = start.gate {
            // Killed, unexec'd, if the parent dies before opening the gate.
            if !die_with_parent(start, libc::SIGKILL) {
                libc::_exit(111);
            }
            gate.child.store(AT_GATE, SeqCst);
            futex_wake(&gate.child);
            // The parent runs `before_exec` now, using errno: this wait
            // sets it (EAGAIN) only once the gate is open. No handler is
            // left to interrupt it (a stop and continue restarts it).
            wait_while(&gate.open, 0);
            if !die_with_parent(start, death_signal) {
                libc::_exit(111);
            }
        } else if death_signal != 0 && !die_with_parent(start, death_signal) {
            libc::_exit(111);
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        for sig in 1..=libc::SIGRTMAX() {
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
        for &(src, dst) in plan.fds {
            if src == dst {
                let flags = libc::fcntl(src, libc::F_GETFD);
                if flags < 0 || libc::fcntl(src, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    child_fail(start, errno());
                }
            } else if libc::dup2(src, dst) < 0 {
                child_fail(start, errno());
            }
        }
        if let Some(fd) = plan.record_lock {
            let mut lock: libc::flock = std::mem::zeroed();
            lock.l_type = libc::F_WRLCK as libc::c_short;
            lock.l_whence = libc::SEEK_SET as libc::c_short;
            if libc::fcntl(fd, libc::F_SETLK, &lock) < 0 {
                child_fail(start, errno());
            }
        }
        if let Some(cwd) = plan.cwd {
            if libc::chdir(cwd.as_ptr()) < 0 {
                child_fail(start, errno());
            }
        }
        // Every step done: from here on only the exec, or its errno.
        start.error.store(0, SeqCst);
        let saved = exec_paths_pointers(plan.paths, start.argv, start.envp);
        child_fail(start, saved)
    }
}
