//! daemontools' way of reporting errors: `prog: fatal: what failed: why`,
//! where `why` is daemontools' own phrase for the errno, and exit codes
//! 100 (usage, permanent) and 111 (temporary).

use std::io;

use nix::errno::Errno;

/// Exit code for usage errors and permanent failures.
pub const EXIT_PERMANENT: i32 = 100;
/// Exit code for temporary failures.
pub const EXIT_TEMPORARY: i32 = 111;

/// What `phrase` accepts: an Errno, or a raw errno number (as an
/// io::Error carries it).
pub trait ErrnoValue {
    fn errno(self) -> Errno;
}

impl ErrnoValue for Errno {
    fn errno(self) -> Errno {
        self
    }
}

impl ErrnoValue for i32 {
    fn errno(self) -> Errno {
        Errno::from_raw(self)
    }
}

/// daemontools' phrase for an errno (its error_str), so scripts that match
/// these words keep working.
pub fn phrase(errno: impl ErrnoValue) -> String {
    let e = errno.errno();
    let p = match e {
        Errno::ENOENT => "file does not exist",
        Errno::EACCES => "access denied",
        Errno::EPERM => "permission denied",
        Errno::EAGAIN => "temporary failure",
        Errno::EEXIST => "file already exists",
        Errno::ENOTDIR => "not a directory",
        Errno::EISDIR => "is a directory",
        Errno::ELOOP => "symbolic link loop",
        Errno::ENOMEM => "out of memory",
        Errno::EINTR => "interrupted system call",
        Errno::EIO => "input/output error",
        Errno::ETXTBSY => "text busy",
        Errno::ETIMEDOUT => "timed out",
        Errno::EPIPE => "broken pipe",
        Errno::ENXIO => "device not configured",
        Errno::ESRCH => "no such process",
        Errno::ENOEXEC => "exec format error",
        Errno::EBADF => "file descriptor not open",
        Errno::ECHILD => "no child processes",
        Errno::EBUSY => "device busy",
        Errno::EXDEV => "cross-device link",
        Errno::EINVAL => "invalid argument",
        Errno::ENFILE => "system cannot open more files",
        Errno::EMFILE => "process cannot open more files",
        Errno::ENOTTY => "not a tty",
        Errno::EFBIG => "file too big",
        Errno::ENOSPC => "out of disk space",
        Errno::EROFS => "read-only file system",
        Errno::ECONNREFUSED => "connection refused",
        Errno::ENAMETOOLONG => "file name too long",
        Errno::ENOTEMPTY => "directory not empty",
        Errno::E2BIG => "argument list too long",
        Errno::ENODEV => "device not configured",
        Errno::EDEADLK => "operation would cause deadlock",
        Errno::EMLINK => "too many links",
        Errno::ESPIPE => "unseekable descriptor",
        Errno::ENOLCK => "no locks available",
        Errno::ENOSYS => "operation not supported",
        Errno::EHOSTUNREACH => "host unreachable",
        Errno::ECONNRESET => "connection reset",
        Errno::EADDRINUSE => "address already used",
        Errno::EINPROGRESS => "operation in progress",
        _ => return e.desc().to_lowercase(),
    };
    p.to_string()
}

/// The daemontools phrase for an io::Error.
pub fn io_phrase(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => phrase(code),
        None => err.to_string(),
    }
}

/// An error that carries the "what failed" context, ready to print as
/// daemontools does.
#[derive(Debug)]
pub struct Failure {
    pub what: String,
    pub why: String,
    pub errno: Option<i32>,
}

impl Failure {
    pub fn sys(what: impl Into<String>, errno: Errno) -> Failure {
        Failure {
            what: what.into(),
            why: phrase(errno),
            errno: Some(errno as i32),
        }
    }
    pub fn io(what: impl Into<String>, err: &io::Error) -> Failure {
        Failure {
            what: what.into(),
            why: io_phrase(err),
            errno: err.raw_os_error(),
        }
    }
    pub fn msg(what: impl Into<String>, why: impl Into<String>) -> Failure {
        Failure {
            what: what.into(),
            why: why.into(),
            errno: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.why.is_empty() {
            write!(f, "{}", self.what)
        } else {
            write!(f, "{}: {}", self.what, self.why)
        }
    }
}

/// A fatal error as a program reports it: the message (`what failed:
/// why`) and the code it exits with (EXIT_PERMANENT, EXIT_TEMPORARY, or
/// 99 for a time limit). Library code returns it; only programs exit.
#[derive(Debug)]
pub struct Fatal {
    pub code: i32,
    pub message: String,
}

impl Fatal {
    pub fn temporary(message: impl std::fmt::Display) -> Fatal {
        Fatal {
            code: EXIT_TEMPORARY,
            message: message.to_string(),
        }
    }

    pub fn permanent(message: impl std::fmt::Display) -> Fatal {
        Fatal {
            code: EXIT_PERMANENT,
            message: message.to_string(),
        }
    }
}

/// A failed system call is temporary, as in daemontools.
impl From<Failure> for Fatal {
    fn from(failure: Failure) -> Fatal {
        Fatal::temporary(failure)
    }
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// `prog: fatal: MESSAGE` on stderr in one write; the code to exit with.
pub fn report(prog: &str, fatal: &Fatal) -> i32 {
    say(format_args!("{prog}: fatal: {fatal}"));
    fatal.code
}

/// One line on stderr in a single write(2), so lines from several writers
/// sharing a log pipe never interleave mid-line.
pub fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let text = format!("{line}\n");
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `prog: fatal: MESSAGE` on stderr, then exit with `code`.
pub fn die(prog: &str, code: i32, message: impl std::fmt::Display) -> ! {
    say(format_args!("{prog}: fatal: {message}"));
    std::process::exit(code)
}

/// `prog: warning: MESSAGE` on stderr.
pub fn warn(prog: &str, message: impl std::fmt::Display) {
    say(format_args!("{prog}: warning: {message}"));
}

/// `prog: usage: USAGE` on stderr, exit 100 (daemontools' usage convention).
pub fn usage(prog: &str, usage: &str) -> ! {
    say(format_args!("{prog}: usage: {usage}"));
    std::process::exit(EXIT_PERMANENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemontools_phrases() {
        assert_eq!(phrase(libc::ENOENT), "file does not exist");
        assert_eq!(phrase(libc::EAGAIN), "temporary failure");
        assert_eq!(phrase(libc::ENXIO), "device not configured");
        assert_eq!(phrase(libc::ELOOP), "symbolic link loop");
    }

    #[test]
    fn failure_formats_like_daemontools() {
        let f = Failure::sys("unable to chdir to /x", Errno::ENOENT);
        assert_eq!(f.to_string(), "unable to chdir to /x: file does not exist");
    }
}
