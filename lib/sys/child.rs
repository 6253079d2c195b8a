//! Starting a child: the clone, and what the child does before its exec.
//! Part of `sys`: the `unsafe` of starting processes, each block with the
//! reason it is sound.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::unistd::{pipe2, Pid};

use super::in_child::{child_entry, ChildStart};
use super::{dup_above, Pointers};

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
    /// returns only once the child has closed them.
    pub close_first: &'a [RawFd],
}

/// The exec status pipe, its write end above every fd the child is given:
/// the child reports a failed exec on it after its fd moves.
fn error_pipe(plan: &ChildPlan) -> Result<(OwnedFd, OwnedFd), Errno> {
    let highest = plan.fds.iter().map(|&(_, d)| d).max().unwrap_or(2);
    let (read, mut write) = pipe2(OFlag::O_CLOEXEC)?;
    if write.as_raw_fd() <= highest {
        write = dup_above(write.as_raw_fd(), highest + 1)?;
    }
    Ok((read, write))
}

/// Start a child that resets signal mask and dispositions, sets up
/// session, fds and cwd, and execs. Returns its pid and the read end of
/// its exec status pipe: EOF once it exec'd, or 4 bytes of errno.
///
/// The child shares this process's memory until its exec (clone with
/// CLONE_VM|CLONE_VFORK, as posix_spawn): no page tables to copy, no
/// copy-on-write faults after. This call returns once it exec'd or exited.
pub fn fork_exec(plan: &ChildPlan) -> Result<(Pid, OwnedFd), Errno> {
    let (status_read, status_write) = error_pipe(plan)?;
    let argv = Pointers::new(plan.argv);
    let envp = Pointers::new(plan.envp);
    let start = ChildStart {
        plan,
        argv: &argv,
        envp: &envp,
        parent: parent_to_check(plan),
        error_pipe: status_write.as_raw_fd(),
        fence: !plan.close_first.is_empty(),
        gate: None,
    };
    let pid = vfork_exec(&start)?;
    drop(status_write);
    if start.fence {
        // The child has exec'd or exited: its `c` (or EOF) is there.
        let mut byte = [0u8; 1];
        while let Err(Errno::EINTR) = nix::unistd::read(&status_read, &mut byte) {}
    }
    Ok((pid, status_read))
}

/// Start a child as [`fork_exec`] does, but held before its exec until
/// `before_exec(pid)` has returned: the caller can record the pid before
/// the program can exist. If this process dies meanwhile, the child exits
/// 111 without exec'ing. Returns the pid and whether the exec happened.
///
/// The child shares this process's memory (clone with CLONE_VM, no fork's
/// page-table copy) and runs on a stack in this call's frame, so this call
/// returns only once the child has exec'd or exited, as a vfork would.
/// While `before_exec` runs, the child is blocked on the gate, having made
/// every call that could set errno: the two never touch it at once. Every
/// signal of this thread stays blocked until the call returns.
pub fn spawn_gated(
    plan: &ChildPlan,
    before_exec: impl FnOnce(Pid),
) -> Result<(Pid, Result<(), Errno>), Errno> {
    let (status_read, status_write) = error_pipe(plan)?;
    let (gate_read, gate_write) = pipe2(OFlag::O_CLOEXEC)?;
    let argv = Pointers::new(plan.argv);
    let envp = Pointers::new(plan.envp);
    let start = ChildStart {
        plan,
        argv: &argv,
        envp: &envp,
        parent: parent_to_check(plan),
        error_pipe: status_write.as_raw_fd(),
        fence: true,
        gate: Some((gate_read.as_raw_fd(), gate_write.as_raw_fd())),
    };
    gated_clone(
        &start,
        status_read,
        (status_write, gate_read, gate_write),
        before_exec,
    )
}

/// Only a child that must die with its parent checks who that is.
fn parent_to_check(plan: &ChildPlan) -> libc::pid_t {
    plan.parent_death_signal
        .map_or(0, |_| nix::unistd::getpid().as_raw())
}

/// Bytes of stack for a child that shares our memory: it calls nothing
/// deep (system calls and a loop over the signals).
const CHILD_STACK: usize = 32 * 1024;

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

/// clone(2) running [`become_child`] on `stack` (it grows down from its
/// end). The caller keeps `stack` and `start` alive and unchanged until
/// the child has exec'd or exited.
///
/// # Safety
/// As above; `flags` must include CLONE_VM (the child uses our memory).
unsafe fn clone_on(
    stack: &mut std::mem::MaybeUninit<[u128; CHILD_STACK / 16]>,
    start: &ChildStart,
    flags: libc::c_int,
) -> Result<Pid, Errno> {
    // SAFETY: `top` is one past the end of `stack` (16-byte aligned, as
    // x86_64 and aarch64 want); the caller's contract keeps the stack and
    // `start` valid for the child's whole life in our memory.
    let pid = unsafe {
        let top = stack.as_mut_ptr().cast::<u8>().add(CHILD_STACK);
        libc::clone(
            child_entry,
            top.cast(),
            flags | libc::SIGCHLD,
            (start as *const ChildStart).cast_mut().cast(),
        )
    };
    if pid < 0 {
        return Err(Errno::last());
    }
    Ok(Pid::from_raw(pid))
}

/// clone(CLONE_VM|CLONE_VFORK): returns once the child has exec'd or
/// exited. Never inlined: its stack array would make its caller's frame
/// 32 kB, touched by stack probes on every call.
#[inline(never)]
fn vfork_exec(start: &ChildStart) -> Result<Pid, Errno> {
    let mut stack = std::mem::MaybeUninit::<[u128; CHILD_STACK / 16]>::uninit();
    let old = block_all();
    // SAFETY: CLONE_VFORK suspends us until the child has exec'd or
    // exited, so `stack` (this frame's) and `start` (borrowed for this
    // call) outlive its use of them; sharing our memory, it only reads
    // `start` and writes its own stack and errno (ours is not read before
    // clone returns); it never returns into our frames.
    let pid = unsafe { clone_on(&mut stack, start, libc::CLONE_VM | libc::CLONE_VFORK) };
    unblock(&old);
    pid
}

/// The parent's side of [`spawn_gated`]: the clone, `before_exec` while
/// the child waits at its fence, the gate, and the wait until the child
/// has left our memory. Never inlined, as [`vfork_exec`].
#[inline(never)]
fn gated_clone(
    start: &ChildStart,
    status_read: OwnedFd,
    child_ends: (OwnedFd, OwnedFd, OwnedFd),
    before_exec: impl FnOnce(Pid),
) -> Result<(Pid, Result<(), Errno>), Errno> {
    let (status_write, gate_read, gate_write) = child_ends;
    let mut stack = std::mem::MaybeUninit::<[u128; CHILD_STACK / 16]>::uninit();
    let old = block_all();
    // SAFETY: this function returns only after the loop below has seen EOF
    // on the exec status pipe, whose last write end is the child's own
    // copy (ours is closed first; close-on-exec, so no program it starts
    // holds one): the kernel closes it at exec after the child has left
    // our memory, or at exit after its memory was released. Until then
    // `stack` (this frame's) and `start` stay alive and unchanged. The
    // child sets errno (shared with us: same thread pointer) only before
    // writing its fence byte, which we wait for before making any call,
    // and after the gate, while we only block in read(2).
    let pid = match unsafe { clone_on(&mut stack, start, libc::CLONE_VM) } {
        Ok(pid) => pid,
        Err(e) => {
            unblock(&old);
            return Err(e);
        }
    };
    drop(status_write);
    drop(gate_read);
    // The fence: `c` once the child waits at the gate (EOF: it is gone).
    let mut byte = [0u8; 1];
    while let Err(Errno::EINTR) = nix::unistd::read(&status_read, &mut byte) {}
    before_exec(pid);
    let _ = nix::unistd::write(&gate_write, b"g");
    drop(gate_write);
    let mut errno = [0u8; 4];
    let mut got = 0;
    loop {
        let mut chunk = [0u8; 4];
        match nix::unistd::read(&status_read, &mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                for &b in &chunk[..n] {
                    if got < errno.len() {
                        errno[got] = b;
                        got += 1;
                    }
                }
            }
            Err(Errno::EINTR) => continue,
            // Our own pipe, read while blocking every signal: this cannot
            // fail; if it did, the child might still run on this frame.
            Err(_) => std::process::abort(),
        }
    }
    unblock(&old);
    let exec = if got == errno.len() {
        Err(Errno::from_raw(i32::from_ne_bytes(errno)))
    } else {
        Ok(())
    };
    Ok((pid, exec))
}

/// An empty signal set to fill in.
fn empty_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is a plain bit array; all zeroes is a valid (empty)
    // set, which sigemptyset would also give.
    unsafe { std::mem::zeroed() }
}
