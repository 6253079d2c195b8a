//! softlimit's resource limits: which rlimits each letter sets, daemontools'
//! number syntax, and setting a soft limit (never above the hard one).

use nix::sys::resource::{getrlimit, setrlimit, Resource};

use upkeep::errors::Fatal;

/// The option string of softlimit (daemontools getopt syntax).
pub const SOFTLIMIT_OPTIONS: &str = "a:c:d:f:l:m:o:p:r:s:t:";

/// The rlimits a softlimit letter sets, in daemontools' order.
pub fn resources(letter: u8) -> &'static [Resource] {
    use Resource::*;
    match letter {
        b'a' => &[RLIMIT_AS],
        b'c' => &[RLIMIT_CORE],
        b'd' => &[RLIMIT_DATA],
        b'f' => &[RLIMIT_FSIZE],
        b'l' => &[RLIMIT_MEMLOCK],
        // "memory": everything that bounds a process's memory.
        b'm' => &[RLIMIT_DATA, RLIMIT_STACK, RLIMIT_MEMLOCK, RLIMIT_AS],
        b'o' => &[RLIMIT_NOFILE],
        b'p' => &[RLIMIT_NPROC],
        b'r' => &[RLIMIT_RSS],
        b's' => &[RLIMIT_STACK],
        b't' => &[RLIMIT_CPU],
        _ => &[],
    }
}

/// What to set the soft limit to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Soft {
    /// `=`: as high as the hard limit.
    Hard,
    Value(u64),
}

/// daemontools' syntax: `=`, or decimal digits only (empty means 0, and
/// overflow wraps, as its scan_ulong does). `None` is a usage error.
pub fn parse(arg: &[u8]) -> Option<Soft> {
    if arg == b"=" {
        return Some(Soft::Hard);
    }
    let mut v: u64 = 0;
    for &b in arg {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
    }
    Some(Soft::Value(v))
}

/// Set the soft limit of `resource`, capped at the hard limit.
pub fn set_soft(resource: Resource, soft: Soft) -> Result<(), Fatal> {
    let (_, hard) = getrlimit(resource).map_err(|e| Fatal::sys("getrlimit failed", e))?;
    let want = match soft {
        Soft::Hard => hard,
        Soft::Value(v) => v.min(hard),
    };
    setrlimit(resource, want, hard).map_err(|e| Fatal::sys("setrlimit failed", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_like_scan_ulong() {
        assert_eq!(parse(b"="), Some(Soft::Hard));
        assert_eq!(parse(b""), Some(Soft::Value(0)));
        assert_eq!(parse(b"42"), Some(Soft::Value(42)));
        assert_eq!(parse(b"18446744073709551617"), Some(Soft::Value(1)));
        assert_eq!(parse(b"3x"), None);
        assert_eq!(parse(b"-1"), None);
    }

    #[test]
    fn every_letter_maps() {
        for l in b"acdflmoprst" {
            assert!(!resources(*l).is_empty());
        }
        assert!(resources(b'z').is_empty());
    }
}
