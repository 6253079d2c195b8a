//! Starting a child: the clone, and what the child does before its exec.
//! Part of `sys`: the `unsafe` of starting processes, each block with the
//! reason it is sound.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::SeqCst};

use nix::errno::Errno;
use nix::unistd::Pid;

use super::in_child::{child_entry, ChildStart, Gate, LEFT, NOT_EXECD, OPEN, RUNNING};
use super::Pointers;

/// What a new child must do before it becomes the new program.
/// Everything is prepared (allocated) before the clone: after it the child
/// only makes async-signal-safe system calls.
pub struct ChildPlan<'a> {
    /// Candidate paths to execve, in order (one, or the PATH search).
    pub paths: &'a [CString],
    pub argv: &'a [CString],
    /// `KEY=VALUE` strings.
    pub envp: &'a [CString],
    /// (source fd, fd number in the child). Sources above every target are
    /// expected; `Spawn` in spawn.rs arranges that.
    pub fds: &'a [(RawFd, RawFd)],
    pub cwd: Option<&'a CStr>,
    pub new_session: bool,
    pub new_process_group: bool,
    /// Leave a signal the parent ignores ignored (SIGPIPE excepted: Rust
    /// ignores it for every program), as a chain-loader that forks should.
    pub keep_ignored: bool,
    pub parent_death_signal: Option<libc::c_int>,
    /// Take a POSIX record lock (F_SETLK, write, whole file) on this fd of
    /// the child, after the fds are set up. The child keeps it through exec
    /// while it keeps the fd open; its own children never hold it (record
    /// locks are not inherited by fork).
    pub record_lock: Option<RawFd>,
    /// Closed first thing in the child: descriptors only the parent may
    /// hold (supervise's lock and FIFOs), even before the exec. The parent
    /// goes on (returns, or runs `before_exec`) only once the child has
    /// closed them.
    pub close_first: &'a [RawFd],
}

/// Start a child that resets signal mask and dispositions, sets up
/// session, fds and cwd, and execs. Returns its pid and how its exec went
/// (a failed step's errno; the child then exits 127).
///
/// The child shares this process's memory until its exec (clone with
/// CLONE_VM|CLONE_VFORK, as posix_spawn): no page tables to copy, no
/// copy-on-write faults after. This call returns once it exec'd or exited.
pub fn fork_exec(plan: &ChildPlan) -> Result<(Pid, Result<(), Errno>), Errno> {
    let argv = Pointers::new(plan.argv);
    let envp = Pointers::new(plan.envp);
    let start = ChildStart {
        plan,
        argv: &argv,
        envp: &envp,
        parent: parent_to_check(plan),
        error: AtomicI32::new(NOT_EXECD),
        gate: None,
    };
    let pid = vfork_exec(&start)?;
    Ok((pid, start.outcome()))
}

/// Start a child as [`fork_exec`] does, but held before its exec until
/// `before_exec(pid)` has returned: the caller can record the pid before
/// the program can exist. If this thread dies meanwhile, the child is
/// killed (a parent death signal) without exec'ing. Returns the pid and
/// how the exec went.
///
/// The child shares this process's memory (clone with CLONE_VM, no fork's
/// page-table copy) and runs on this process's child stack, so this call
/// returns only once the kernel says the child has left it (at its exec or
/// exit: CLONE_CHILD_CLEARTID), as a vfork would. While `before_exec`
/// runs, the child waits at the gate, having made every call that could
/// set errno (shared with us): the two never touch it at once. Every
/// signal of this thread stays blocked until the call returns, and
/// `before_exec` must not start a child itself.
///
/// On kernels before 5.16 a core-dumping signal sent to the child before
/// its exec kills this process too (it shares our memory), as with
/// posix_spawn.
pub fn spawn_gated(
    plan: &ChildPlan,
    before_exec: impl FnOnce(Pid),
) -> Result<(Pid, Result<(), Errno>), Errno> {
    let argv = Pointers::new(plan.argv);
    let envp = Pointers::new(plan.envp);
    let gate = Gate {
        child: AtomicU32::new(RUNNING),
        open: AtomicU32::new(0),
    };
    let start = ChildStart {
        plan,
        argv: &argv,
        envp: &envp,
        parent: nix::unistd::getpid().as_raw(),
        error: AtomicI32::new(NOT_EXECD),
        gate: Some(&gate),
    };
    gated_clone(&start, &gate, before_exec)
}

/// Only a child that must die with its parent checks who that is.
fn parent_to_check(plan: &ChildPlan) -> libc::pid_t {
    plan.parent_death_signal
        .map_or(0, |_| nix::unistd::getpid().as_raw())
}

/// Bytes of stack for a child that shares our memory: it calls nothing
/// deep (system calls and a loop over the signals).
const CHILD_STACK: usize = 32 * 1024;

/// The stack a child runs on until it has left our memory: one for the
/// process, taken for the whole of each start (starts are one at a time),
/// in .bss so only the few pages a child touches are ever resident. Not
/// in the caller's frame: a gated start runs `before_exec` below it, and
/// every page of the frame it pushed down would stay ours.
#[repr(align(16))]
struct ChildStack([u8; CHILD_STACK]);

static STACK: std::sync::Mutex<ChildStack> = std::sync::Mutex::new(ChildStack([0; CHILD_STACK]));

fn take_stack() -> std::sync::MutexGuard<'static, ChildStack> {
    // A start that panicked left nothing half-done in the bytes.
    STACK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every signal of this thread blocked; the old mask to give back to
/// [`unblock`]. As posix_spawn does: a handler of ours must never run in a
/// child that shares our memory, on its small stack, before it has put
/// every disposition back to default (it then sets its own, empty, mask).
fn block_all() -> libc::sigset_t {
    let mut old: libc::sigset_t = empty_sigset();
    let mut all: libc::sigset_t = empty_sigset();
    // SAFETY: both sets are valid, owned locals.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    old
}

fn unblock(old: &libc::sigset_t) {
    // SAFETY: `old` is a mask block_all saved.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}

/// clone(2) running `become_child` on `stack` (it grows down from its
/// end). `clear` is the word the kernel zeroes (and wakes) when the child
/// leaves our memory, if the flags ask for it. The caller keeps `stack`,
/// `start` and `clear` alive and unchanged (but by the child and the
/// kernel) until the child has exec'd or exited.
///
/// # Safety
/// As above; `flags` must include CLONE_VM (the child uses our memory).
unsafe fn clone_on(
    stack: &mut ChildStack,
    start: &ChildStart,
    flags: libc::c_int,
    clear: *const AtomicU32,
) -> Result<Pid, Errno> {
    // SAFETY: `top` is one past the end of `stack` (16-byte aligned, as
    // x86_64 and aarch64 want); the caller's contract keeps the stack,
    // `start` and `clear` valid for the child's whole life in our memory.
    let pid = unsafe {
        let top = stack.0.as_mut_ptr().add(CHILD_STACK);
        libc::clone(
            child_entry,
            top.cast(),
            flags | libc::SIGCHLD,
            (start as *const ChildStart).cast_mut().cast(),
            std::ptr::null_mut::<libc::pid_t>(),
            std::ptr::null_mut::<libc::c_void>(),
            clear.cast_mut().cast::<libc::pid_t>(),
        )
    };
    if pid < 0 {
        return Err(Errno::last());
    }
    Ok(Pid::from_raw(pid))
}

/// clone(CLONE_VM|CLONE_VFORK): returns once the child has exec'd or
/// exited.
fn vfork_exec(start: &ChildStart) -> Result<Pid, Errno> {
    let mut stack = take_stack();
    let old = block_all();
    // SAFETY: CLONE_VFORK suspends us until the child has exec'd or
    // exited, so `stack` (held until we return) and `start` (borrowed for
    // this call) outlive its use of them; sharing our memory, it only
    // reads `start`, stores its `error`, and writes its own stack and
    // errno (ours is not read before clone returns); it never returns into
    // our frames.
    let pid = unsafe {
        clone_on(
            &mut stack,
            start,
            libc::CLONE_VM | libc::CLONE_VFORK,
            std::ptr::null(),
        )
    };
    unblock(&old);
    pid
}

/// The parent's side of [`spawn_gated`]: the clone, `before_exec` while
/// the child waits at the gate, the gate opened, and the wait until the
/// child has left our memory.
fn gated_clone(
    start: &ChildStart,
    gate: &Gate,
    before_exec: impl FnOnce(Pid),
) -> Result<(Pid, Result<(), Errno>), Errno> {
    let mut stack = take_stack();
    let old = block_all();
    // SAFETY: this function returns only after the kernel has zeroed
    // `gate.child` (CLONE_CHILD_CLEARTID): it does so when the child's
    // memory is released, at its exec (after it has left our memory) or
    // its exit, and while we are alive to see it. Until then `stack` (held
    // until we return), `start` and `gate` stay alive; the child only reads
    // `start` and stores to `error` and `gate.child`. The child sets errno (shared
    // with us: same thread pointer) only before it stores AT_GATE, which
    // we wait for before making any call that reads errno, and after the
    // gate opens, while we only wait on `gate.child`.
    let pid = match unsafe {
        clone_on(
            &mut stack,
            start,
            libc::CLONE_VM | libc::CLONE_CHILD_CLEARTID,
            &gate.child,
        )
    } {
        Ok(pid) => pid,
        Err(e) => {
            unblock(&old);
            return Err(e);
        }
    };
    // Until the child waits at the gate (AT_GATE) or is gone (LEFT).
    wait_while(&gate.child, RUNNING);
    let recorded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| before_exec(pid)));
    if recorded.is_err() {
        // Never unwind out of the frame the child runs on: it goes first.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    gate.open.store(OPEN, SeqCst);
    futex_wake(&gate.open);
    loop {
        let now = gate.child.load(SeqCst);
        if now == LEFT {
            break;
        }
        wait_while(&gate.child, now);
    }
    unblock(&old);
    if let Err(panic) = recorded {
        std::panic::resume_unwind(panic);
    }
    Ok((pid, start.outcome()))
}

/// Wait until `word` no longer holds `value`.
pub(super) fn wait_while(word: &AtomicU32, value: u32) {
    while word.load(SeqCst) == value {
        // SAFETY: `word` is a valid, aligned u32 for the call. Not the
        // private flag: the kernel's wake for CLONE_CHILD_CLEARTID is a
        // shared one, and only the same kind of wait matches it. EAGAIN
        // (changed already) and a spurious wake-up are checked above.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                value,
                std::ptr::null::<libc::timespec>(),
            )
        };
    }
}

/// Wake whoever waits on `word`.
pub(super) fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a valid, aligned u32; waking writes no memory.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1) };
}

impl ChildStart<'_> {
    /// How the exec went, once the child has left our memory.
    fn outcome(&self) -> Result<(), Errno> {
        match self.error.load(SeqCst) {
            0 => Ok(()),
            e => Err(Errno::from_raw(e)),
        }
    }
}

/// An empty signal set to fill in.
fn empty_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is a plain bit array; all zeroes is a valid (empty)
    // set, which sigemptyset would also give.
    unsafe { std::mem::zeroed() }
}
