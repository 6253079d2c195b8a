//! The floor of the restart figure: the least a supervisor can do, run as
//! `upkeep-bench --floor-supervise DIR`. It waits for its child in
//! waitpid(2) (the kernel wakes it directly: no signal, no poll), starts
//! the next one at once in the cheapest way (clone with CLONE_VM and
//! CLONE_VFORK: no page tables copied), and that child records its own pid
//! in daemontools' 18-byte status record (a new file renamed into place)
//! before its exec. No control FIFO, no lock, no configuration, no signal
//! reset, no crash-loop check: what every supervisor must do at least, so
//! the time the kernel takes for kill, exit, wake, process creation and
//! rename, measured on this machine in the same run.

use std::ffi::{c_void, CString};
use std::path::Path;

use nix::libc;

struct Plan {
    run: CString,
    argv: [*const libc::c_char; 2],
    envp: [*const libc::c_char; 2],
    tmp: CString,
    status: CString,
}

pub fn supervise(dir: &Path) -> ! {
    if let Err(e) = std::env::set_current_dir(dir) {
        eprintln!("upkeep-bench: fatal: chdir {}: {e}", dir.display());
        std::process::exit(111);
    }
    let _ = std::fs::create_dir("supervise");
    let cstr = |s: &str| CString::new(s).unwrap_or_default();
    let run = cstr("./run");
    let path = cstr(&format!("PATH={}", crate::procs::PATH));
    let plan = Plan {
        argv: [run.as_ptr(), std::ptr::null()],
        envp: [path.as_ptr(), std::ptr::null()],
        run,
        tmp: cstr("supervise/status.new"),
        status: cstr("supervise/status"),
    };
    let mut stack = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: CLONE_VFORK suspends us until the child has exec'd or
        // exited, so `stack` and `plan` outlive its use of them; the child
        // only makes system calls on them and its own stack.
        let pid = unsafe {
            let top = stack.as_mut_ptr().add(stack.len() - 64);
            libc::clone(
                child,
                top.cast(),
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&plan as *const Plan).cast_mut().cast(),
            )
        };
        if pid < 0 {
            std::thread::sleep(std::time::Duration::from_secs(1));
            continue;
        }
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer for the call.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 {}
    }
}

/// The child: its pid in the status record, then the exec.
extern "C" fn child(arg: *mut c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `plan`, alive while we run (vfork);
    // every call is a system call on it or on our stack.
    unsafe {
        let plan = &*(arg as *const Plan);
        let mut now: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut now);
        let mut b = [0u8; 18];
        b[..8].copy_from_slice(&(0x4000_0000_0000_000au64 + now.tv_sec as u64).to_be_bytes());
        b[8..12].copy_from_slice(&(now.tv_nsec as u32).to_be_bytes());
        b[12..16].copy_from_slice(&(libc::getpid() as u32).to_le_bytes());
        b[17] = b'u';
        let fd = libc::open(
            plan.tmp.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o644,
        );
        if fd >= 0 {
            libc::write(fd, b.as_ptr().cast(), b.len());
            libc::close(fd);
            libc::rename(plan.tmp.as_ptr(), plan.status.as_ptr());
        }
        libc::execve(plan.run.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
        libc::_exit(127)
    }
}
