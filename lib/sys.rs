//! Every `unsafe` block of upkeep lives here, each with the reason it is sound.
//! The rest of the crate (and every program) is `unsafe`-free.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// What a freshly forked child must do before it becomes the new program.
/// Everything is prepared (allocated) before the fork: after it the child
/// only makes async-signal-safe system calls.
pub struct ChildPlan<'a> {
    /// Candidate paths to execve, in order (one, or the PATH search).
    pub paths: &'a [CString],
    pub argv: &'a [CString],
    /// `KEY=VALUE` strings.
    pub envp: &'a [CString],
    /// (source fd, fd number in the child). Sources above every target are
    /// expected; `plan_fds` in spawn.rs arranges that.
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
    /// Written with the errno of a failed step, then the child exits 127.
    pub error_pipe: RawFd,
    /// Closed first thing in the child: descriptors only the parent may
    /// hold (supervise's lock and FIFOs), even before the exec.
    pub close_first: &'a [RawFd],
    /// The child writes one byte (`c`) to `error_pipe` once `close_first`
    /// is closed, so the parent can wait until no copy of them is left.
    pub signal_closed: bool,
    /// (read end, write end) of a pipe: the child closes the write end and
    /// execs only after reading a byte from the read end; EOF (the parent
    /// died first) makes it exit 111 unexec'd.
    pub gate: Option<(RawFd, RawFd)>,
}

fn child_fail(error_pipe: RawFd, err: libc::c_int) -> ! {
    let bytes = err.to_ne_bytes();
    // SAFETY: write(2) and _exit(2) are async-signal-safe; `bytes` is a
    // valid local buffer of the given length.
    unsafe {
        libc::write(error_pipe, bytes.as_ptr().cast(), bytes.len());
        libc::_exit(127);
    }
}

fn errno() -> libc::c_int {
    Errno::last_raw()
}

/// The NULL-terminated array of pointers execve(2) wants. The pointers
/// borrow `strings`, which must outlive every use of the array: both stay
/// inside this module, built before a fork and used before returning.
fn pointer_array(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Pointers that fit here are kept on the stack (see [`Pointers`]).
const STACK_POINTERS: usize = 64;

/// [`pointer_array`] without the heap when `strings` are few: supervise
/// starts run again and again with the same short argv and environment.
struct Pointers {
    stack: [*const libc::c_char; STACK_POINTERS],
    heap: Option<Vec<*const libc::c_char>>,
}

impl Pointers {
    fn new(strings: &[CString]) -> Pointers {
        let mut stack = [std::ptr::null(); STACK_POINTERS];
        if strings.len() >= STACK_POINTERS {
            return Pointers {
                stack,
                heap: Some(pointer_array(strings)),
            };
        }
        // The slot after the last string stays NULL.
        for (slot, s) in stack.iter_mut().zip(strings) {
            *slot = s.as_ptr();
        }
        Pointers { stack, heap: None }
    }

    fn as_ptr(&self) -> *const *const libc::c_char {
        match &self.heap {
            Some(v) => v.as_ptr(),
            None => self.stack.as_ptr(),
        }
    }
}

/// Start a child that resets signal mask and dispositions, sets up
/// session, fds and cwd, and execs. Returns the child's pid.
///
/// A child without a gate shares this process's memory until its exec
/// (clone with CLONE_VM|CLONE_VFORK, as posix_spawn): no page tables to
/// copy, no copy-on-write faults after. A gated child waits for this
/// process before its exec, which a vfork'd parent could never do: it gets
/// a real fork(2).
pub fn fork_exec(plan: &ChildPlan) -> Result<Pid, Errno> {
    // Only a child that must die with its parent checks who that is.
    let parent = plan
        .parent_death_signal
        .map_or(0, |_| nix::unistd::getpid().as_raw());
    // Made before the fork: the child must not allocate.
    let argv = Pointers::new(plan.argv);
    let envp = Pointers::new(plan.envp);
    let start = ChildStart {
        plan,
        argv: &argv,
        envp: &envp,
        parent,
    };
    if plan.gate.is_none() {
        return vfork_exec(&start);
    }
    // SAFETY: the child below only makes async-signal-safe system calls on
    // memory fully prepared before the fork (no allocation, no locks), which
    // POSIX allows after fork even in a multi-threaded parent.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Errno::last());
    }
    if pid > 0 {
        return Ok(Pid::from_raw(pid));
    }
    become_child(&start)
}

/// What a child needs, prepared by the parent.
struct ChildStart<'a> {
    plan: &'a ChildPlan<'a>,
    argv: &'a Pointers,
    envp: &'a Pointers,
    /// This process's pid when the child must check it (parent death
    /// signal), else 0.
    parent: libc::pid_t,
}

/// Bytes of stack for a vfork'd child: it calls nothing deep (system
/// calls and a loop over the signals).
const CHILD_STACK: usize = 32 * 1024;

/// clone(CLONE_VM|CLONE_VFORK) running [`become_child`] on a stack of its
/// own; returns once the child has exec'd or exited. Never inlined: its
/// stack array would make fork_exec's frame 32 kB, whose pages (touched
/// by stack probes) would fault copy-on-write after every fork.
#[inline(never)]
fn vfork_exec(start: &ChildStart) -> Result<Pid, Errno> {
    extern "C" fn child_entry(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` is the `start` of vfork_exec below, which stays
        // alive and unchanged while this child runs: its parent is
        // suspended (CLONE_VFORK) until the child has exec'd or exited.
        let start = unsafe { &*(arg as *const ChildStart) };
        become_child(start)
    }
    // 16-byte aligned, as both x86_64 and aarch64 want a stack.
    let mut stack = std::mem::MaybeUninit::<[u128; CHILD_STACK / 16]>::uninit();
    // Every signal blocked across the clone, as posix_spawn does: a handler
    // of ours must never run in the child, on its small stack and in our
    // memory, before the child has put every disposition back to default
    // (it then sets its own, empty, mask).
    let mut old: libc::sigset_t = empty_sigset();
    let mut all: libc::sigset_t = empty_sigset();
    // SAFETY: both sets are valid, owned locals.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: the child runs on `stack` (it grows down from its end), which
    // is this frame's and outlives the child's use of it: clone returns
    // only when the child has exec'd or exited. Sharing our memory, the
    // child only reads `start` and writes its own stack and errno (ours is
    // not read before clone returns); it never returns into our frames.
    let pid = unsafe {
        let top = stack.as_mut_ptr().cast::<u8>().add(CHILD_STACK);
        libc::clone(
            child_entry,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (start as *const ChildStart).cast_mut().cast(),
        )
    };
    let clone_error = Errno::last();
    // SAFETY: `old` is the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid < 0 {
        return Err(clone_error);
    }
    Ok(Pid::from_raw(pid))
}

/// An empty signal set to fill in.
fn empty_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is a plain bit array; all zeroes is a valid (empty)
    // set, which sigemptyset would also give.
    unsafe { std::mem::zeroed() }
}

/// The child's side: never returns (exec, or _exit after reporting on the
/// error pipe).
fn become_child(start: &ChildStart) -> ! {
    let ChildStart {
        plan,
        argv,
        envp,
        parent,
    } = *start;
    // SAFETY: all calls are async-signal-safe system calls on valid pointers
    // (sigset, sigaction and flock on the stack; `argv`/`envp` built by the
    // parent from the plan's CStrings, which it borrows until the child has
    // exec'd, and NULL-terminated by Pointers). A bad fd number only makes
    // a call fail.
    unsafe {
        for &fd in plan.close_first {
            libc::close(fd);
        }
        if plan.signal_closed {
            libc::write(plan.error_pipe, b"c".as_ptr().cast(), 1);
        }
        if let Some((_, write_end)) = plan.gate {
            libc::close(write_end);
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
            child_fail(plan.error_pipe, errno());
        }
        if !plan.new_session && plan.new_process_group && libc::setpgid(0, 0) < 0 {
            child_fail(plan.error_pipe, errno());
        }
        if let Some(sig) = plan.parent_death_signal {
            libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0);
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(111);
            }
        }
        if let Some((read_end, _)) = plan.gate {
            // Before the fd moves, which could reuse the gate's number.
            let mut byte = 0u8;
            loop {
                let n = libc::read(read_end, (&mut byte as *mut u8).cast(), 1);
                if n == 1 {
                    break;
                }
                if n < 0 && errno() == libc::EINTR {
                    continue;
                }
                libc::_exit(111);
            }
            libc::close(read_end);
        }
        for &(src, dst) in plan.fds {
            if src == dst {
                let flags = libc::fcntl(src, libc::F_GETFD);
                if flags < 0 || libc::fcntl(src, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    child_fail(plan.error_pipe, errno());
                }
            } else if libc::dup2(src, dst) < 0 {
                child_fail(plan.error_pipe, errno());
            }
        }
        if let Some(fd) = plan.record_lock {
            let mut lock: libc::flock = std::mem::zeroed();
            lock.l_type = libc::F_WRLCK as libc::c_short;
            lock.l_whence = libc::SEEK_SET as libc::c_short;
            if libc::fcntl(fd, libc::F_SETLK, &lock) < 0 {
                child_fail(plan.error_pipe, errno());
            }
        }
        if let Some(cwd) = plan.cwd {
            if libc::chdir(cwd.as_ptr()) < 0 {
                child_fail(plan.error_pipe, errno());
            }
        }
        let mut saved = libc::ENOENT;
        for path in plan.paths {
            libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            let e = errno();
            // Like execvp: a later PATH entry may still work, but a
            // non-ENOENT error is the one worth reporting.
            if e != libc::ENOENT {
                saved = e;
            }
        }
        child_fail(plan.error_pipe, saved)
    }
}

/// execve(2) in the current process, trying each candidate path; returns the
/// most informative error if none could be executed.
pub fn exec_paths(paths: &[CString], argv: &[CString], envp: &[CString]) -> Errno {
    let argv = pointer_array(argv);
    let envp = pointer_array(envp);
    let mut saved = Errno::ENOENT;
    for path in paths {
        // SAFETY: argv and envp are NULL-terminated arrays (pointer_array)
        // of pointers into CStrings borrowed for this whole call; execve
        // only returns on failure.
        unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        let e = Errno::last();
        if e != Errno::ENOENT {
            saved = e;
        }
    }
    saved
}

/// pidfd_open(2): a descriptor that refers to exactly this process, immune
/// to pid reuse.
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0 as libc::c_uint) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just returned this new descriptor and nothing else
    // owns it; pidfds are close-on-exec by default.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2): signal the process behind `pidfd`, never a pid reuser.
pub fn pidfd_send_signal(pidfd: &impl AsRawFd, signal: libc::c_int) -> Result<(), Errno> {
    // SAFETY: plain system call; a NULL siginfo is allowed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_uint,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Ignore SIGPIPE so a write to a closed pipe is an EPIPE error, not death.
/// Children get the default back (see `fork_exec`).
pub fn ignore_sigpipe() {
    // SAFETY: installing SIG_IGN involves no handler code at all.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Set a signal's disposition back to the default.
pub fn default_signal(sig: libc::c_int) {
    // SAFETY: installing SIG_DFL involves no handler code at all.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

/// Ignore a signal (SIG_IGN), e.g. for a program that must not be killed
/// by a TERM while it drains its input.
pub fn ignore_signal(sig: libc::c_int) {
    // SAFETY: installing SIG_IGN involves no handler code at all.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// fcntl(F_DUPFD_CLOEXEC): a close-on-exec copy of a raw fd numbered at
/// least `min`.
pub fn dup_above(fd: RawFd, min: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: fcntl on an integer fd has no memory effects; an invalid fd
    // is reported as EBADF.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if new < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just created this descriptor; we are its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A broken-down local time, the fields tai64nlocal prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// localtime_r(3): unix seconds in the local time zone (TZ), or None when
/// the C library cannot represent it (year out of range).
pub fn localtime(secs: i64) -> Option<LocalTime> {
    let t: libc::time_t = secs;
    // SAFETY: `tm` is plain old data that localtime_r fully initialises on
    // success; both pointers are to valid locals; localtime_r is the
    // re-entrant variant and upkeep's programs are single-threaded, so no
    // one changes TZ underneath it.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return None;
        }
        tm
    };
    Some(LocalTime {
        year: 1900 + i64::from(tm.tm_year),
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
    })
}

/// tee(2) without blocking: copy up to `len` bytes from the pipe `from` into
/// the pipe `to` without consuming them from `from` (a peek at a FIFO).
pub fn tee_nonblock(from: &impl AsRawFd, to: &impl AsRawFd, len: usize) -> Result<usize, Errno> {
    // SAFETY: plain system call on integer fds; no memory is passed.
    let n = unsafe {
        libc::tee(
            from.as_raw_fd(),
            to.as_raw_fd(),
            len,
            libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// getdents64(2): directory entries of `dir` from its current offset into
/// `buf`, without the heap buffer of opendir(3). The bytes filled (0 at the
/// end); [`crate::svevent`] parses the records.
pub fn getdents(dir: &impl AsRawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into `buf`, which
    // is valid and exclusively borrowed for the call.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            dir.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        Err(Errno::last())
    } else {
        Ok(n as usize)
    }
}

/// Give the free pages inside malloc's heap back to the kernel
/// (malloc_trim(0)): a daemon that settles after a burst of work then
/// keeps the memory it still uses, not its high-water mark. glibc only.
pub fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointer and works on malloc's own
    // state under malloc's lock.
    unsafe {
        libc::malloc_trim(0);
    }
}
