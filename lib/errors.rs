//! daemontools' way of reporting errors: `prog: fatal: what failed: why`,
//! where `why` is daemontools' own phrase for the errno, and exit codes
//! 100 (usage, permanent), 111 (temporary) and 99 (a time limit passed).
//! Every stderr line goes out in one write(2).

use std::fmt;
use std::io;

use nix::errno::Errno;

/// Exit code for usage errors and permanent failures.
pub const EXIT_PERMANENT: i32 = 100;
/// Exit code for temporary failures.
pub const EXIT_TEMPORARY: i32 = 111;
/// Exit code when a time limit passed (svc -w).
pub const EXIT_TIMEOUT: i32 = 99;

/// daemontools' phrase for an errno (its error_str), so scripts that match
/// these words keep working.
pub fn phrase(e: Errno) -> String {
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
        Some(code) => phrase(Errno::from_raw(code)),
        None => err.to_string(),
    }
}

/// A fatal error as a program reports it: the code it exits with
/// (EXIT_PERMANENT, EXIT_TEMPORARY or EXIT_TIMEOUT) and the message, `what
/// failed: why`. Library code returns it up to `main`; only programs exit.
#[derive(Debug)]
pub struct Fatal {
    pub code: i32,
    pub message: String,
}

impl Fatal {
    /// A temporary failure (111) with this message.
    pub fn temporary(message: impl fmt::Display) -> Fatal {
        Fatal {
            code: EXIT_TEMPORARY,
            message: message.to_string(),
        }
    }

    /// A usage error or permanent failure (100) with this message.
    pub fn permanent(message: impl fmt::Display) -> Fatal {
        Fatal::temporary(message).permanently()
    }

    /// `what: why` for a failed system call: temporary, as in daemontools.
    pub fn sys(what: impl fmt::Display, errno: Errno) -> Fatal {
        Fatal::temporary(format_args!("{what}: {}", phrase(errno)))
    }

    /// `what: why` for a failed io call: temporary.
    pub fn io(what: impl fmt::Display, err: &io::Error) -> Fatal {
        Fatal::temporary(format_args!("{what}: {}", io_phrase(err)))
    }

    /// `what: why` in words of our own: temporary.
    pub fn msg(what: impl fmt::Display, why: impl fmt::Display) -> Fatal {
        Fatal::temporary(format_args!("{what}: {why}"))
    }

    /// The same failure, permanent (100): trying again will not help.
    pub fn permanently(self) -> Fatal {
        Fatal {
            code: EXIT_PERMANENT,
            ..self
        }
    }

    /// The same failure, a time limit passed (99).
    pub fn timed_out(self) -> Fatal {
        Fatal {
            code: EXIT_TIMEOUT,
            ..self
        }
    }

    pub fn code(&self) -> i32 {
        self.code
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
pub fn say(line: impl fmt::Display) {
    use std::io::Write;
    let text = format!("{line}\n");
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Report `fatal` and exit with its code (programs only).
pub fn exit(prog: &str, fatal: &Fatal) -> ! {
    std::process::exit(report(prog, fatal))
}

/// `prog: fatal: MESSAGE` on stderr, then exit with `code` (programs only).
pub fn die(prog: &str, code: i32, message: impl fmt::Display) -> ! {
    exit(
        prog,
        &Fatal {
            code,
            message: message.to_string(),
        },
    )
}

/// `prog: warning: MESSAGE` on stderr in one write.
pub fn warn(prog: &str, message: impl fmt::Display) {
    say(format_args!("{prog}: warning: {message}"));
}

/// `prog: usage: USAGE` on stderr, exit 100 (daemontools' usage convention;
/// programs only).
pub fn usage(prog: &str, usage: &str) -> ! {
    say(format_args!("{prog}: usage: {usage}"));
    std::process::exit(EXIT_PERMANENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemontools_phrases() {
        assert_eq!(phrase(Errno::ENOENT), "file does not exist");
        assert_eq!(phrase(Errno::EAGAIN), "temporary failure");
        assert_eq!(phrase(Errno::ENXIO), "device not configured");
        assert_eq!(phrase(Errno::ELOOP), "symbolic link loop");
    }

    #[test]
    fn fatal_formats_like_daemontools_and_carries_its_code() {
        let f = Fatal::sys("unable to chdir to /x", Errno::ENOENT);
        assert_eq!(f.to_string(), "unable to chdir to /x: file does not exist");
        assert_eq!(f.code(), EXIT_TEMPORARY);
        assert_eq!(f.permanently().code(), EXIT_PERMANENT);
        let e = io::Error::from_raw_os_error(libc::EACCES);
        let f = Fatal::io("unable to open x", &e).timed_out();
        assert_eq!(f.to_string(), "unable to open x: access denied");
        assert_eq!(f.code(), EXIT_TIMEOUT);
        assert_eq!(Fatal::permanent("bad").code(), EXIT_PERMANENT);
        assert_eq!(Fatal::msg("a", "b").to_string(), "a: b");
    }
}
