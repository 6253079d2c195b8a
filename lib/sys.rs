//! Every `unsafe` block of upkeep lives here, each with the reason it is sound.
//! The rest of the crate (and every program) is `unsafe`-free.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::unistd::Pid;

mod child;
mod in_child;
pub use child::{fork_exec, spawn_gated, ChildPlan};

/// The NULL-terminated array of pointers execve(2) wants. The pointers
/// borrow `strings`, which must outlive every use of the array: both stay
/// inside `sys`, built before a clone and used before returning.
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

/// execve(2) in the current process, trying each candidate path; returns the
/// most informative error if none could be executed.
pub fn exec_paths(paths: &[CString], argv: &[CString], envp: &[CString]) -> Errno {
    let argv = Pointers::new(argv);
    let envp = Pointers::new(envp);
    Errno::from_raw(exec_paths_pointers(paths, &argv, &envp))
}

/// [`exec_paths`] on prepared pointer arrays, allocating nothing (a child
/// that shares our memory runs it); the errno to report.
fn exec_paths_pointers(paths: &[CString], argv: &Pointers, envp: &Pointers) -> libc::c_int {
    let mut saved = libc::ENOENT;
    for path in paths {
        // SAFETY: argv and envp are NULL-terminated arrays (Pointers) of
        // pointers into CStrings their owner keeps alive for this call;
        // execve only returns on failure.
        unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        let e = Errno::last_raw();
        // Like execvp: a later PATH entry may still work, but a
        // non-ENOENT error is the one worth reporting.
        if e != libc::ENOENT {
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

/// The C `main` of a daemon that starts without Rust's runtime set-up
/// (its crate is `#![no_main]`): `daemon_main!(run)` calls
/// [`daemon_start`], then `run() -> i32`, whose value is the exit code.
///
/// Why: the runtime's start-up reads `/proc/self/maps` for the main
/// thread's stack guard (pthread_getattr_np), which links glibc's scanf,
/// strtod and wide-character machinery into a static binary: ~125 kB of
/// code that every copy of supervise maps, and a heap buffer. What else it
/// does that a daemon needs, `daemon_start` does. `std::process::exit`
/// still flushes stdout.
#[macro_export]
macro_rules! daemon_main {
    ($run:path) => {
        // std reads the arguments from glibc's start-up (its init_array
        // hook), which runs with or without Rust's runtime; with another C
        // library it gets them only from that runtime.
        #[cfg(not(target_env = "gnu"))]
        compile_error!("daemon_main! needs glibc: std::env::args would be empty");
        // SAFETY: the program's one C `main`: its crate is `no_main`, so
        // Rust's runtime defines none, and nothing else in the program
        // does. glibc calls it once, with valid argc/argv (unused: std
        // reads the arguments itself, from glibc's start-up).
        #[cfg(not(test))]
        #[unsafe(no_mangle)]
        extern "C" fn main(
            _argc: ::core::ffi::c_int,
            _argv: *const *const ::core::ffi::c_char,
        ) -> ::core::ffi::c_int {
            $crate::sys::daemon_start();
            $run()
        }
        // Unit tests have the test harness's main (and the crate is not
        // `no_main` then): `run` is kept, unused.
        #[cfg(test)]
        const _: fn() -> i32 = $run;
    };
}

/// What Rust's runtime would have done before `main` that a daemon relies
/// on (see [`daemon_main`]): SIGPIPE ignored, and descriptors 0, 1 and 2
/// open (on /dev/null if they were closed), so no file this process opens
/// becomes its standard input or output by accident.
pub fn daemon_start() {
    ignore_sigpipe();
    for fd in 0..3 {
        // SAFETY: fcntl(F_GETFD) and open take no pointer but the path, a
        // valid C string.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) < 0 && Errno::last() == Errno::EBADF {
                // The lowest free number: this one, as 0..fd are open.
                if libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) < 0 {
                    libc::abort();
                }
            }
        }
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

/// lseek(2) to the start: a directory read again from its first entry.
pub fn rewind(fd: &impl AsRawFd) -> Result<(), Errno> {
    // SAFETY: plain system call on an integer fd; no memory is passed.
    if unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// getdents64(2): directory entries of `dir` from its current offset into
/// `buf`, without the heap buffer of opendir(3). The bytes filled (0 at the
/// end); [`crate::dirlist`] parses the records.
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
