//! multilog's script: its arguments, one action each, read the way
//! daemontools reads them (lenient: unknown actions are ignored, sizes and
//! counts are clamped, never refused).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// daemontools' limits and defaults for `s` and `n`.
pub const MIN_SIZE: u64 = 4096;
pub const MAX_SIZE: u64 = 16_777_215;
pub const DEFAULT_SIZE: u64 = 99_999;
pub const DEFAULT_NUM: u64 = 10;
pub const MIN_NUM: u64 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `+pattern`
    Select(Vec<u8>),
    /// `-pattern`
    Deselect(Vec<u8>),
    /// `e`
    Alert,
    /// `=file`: index into `Script::status_files`.
    Status(usize),
    /// a directory: index into `Script::dirs`.
    Dir(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirConfig {
    pub path: OsString,
    pub size: u64,
    pub num: u64,
    pub processor: Option<OsString>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    /// `t` as the first action.
    pub timestamp: bool,
    pub actions: Vec<Action>,
    pub dirs: Vec<DirConfig>,
    pub status_files: Vec<OsString>,
}

/// daemontools' scan_ulong: the leading decimal digits (none means 0),
/// wrapping like the C unsigned long it fills.
fn leading_number(s: &[u8]) -> u64 {
    s.iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0u64, |n, &c| {
            n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'))
        })
}

pub fn parse(args: &[OsString]) -> Script {
    let mut script = Script {
        timestamp: args
            .first()
            .is_some_and(|a| a.as_bytes().first() == Some(&b't')),
        ..Script::default()
    };
    let mut size = DEFAULT_SIZE;
    let mut num = DEFAULT_NUM;
    let mut processor: Option<OsString> = None;
    for arg in args {
        let bytes = arg.as_bytes();
        let Some((&first, rest)) = bytes.split_first() else {
            continue;
        };
        match first {
            b's' => size = leading_number(rest).clamp(MIN_SIZE, MAX_SIZE),
            b'n' => num = leading_number(rest).max(MIN_NUM),
            b'!' => processor = Some(OsStr::from_bytes(rest).to_owned()),
            b'+' => script.actions.push(Action::Select(rest.to_vec())),
            b'-' => script.actions.push(Action::Deselect(rest.to_vec())),
            b'e' => script.actions.push(Action::Alert),
            b'=' => {
                script
                    .actions
                    .push(Action::Status(script.status_files.len()));
                script.status_files.push(OsStr::from_bytes(rest).to_owned());
            }
            b'.' | b'/' => {
                script.actions.push(Action::Dir(script.dirs.len()));
                script.dirs.push(DirConfig {
                    path: arg.clone(),
                    size,
                    num,
                    processor: processor.clone(),
                });
            }
            _ => {}
        }
    }
    script
}

/// daemontools' pattern match: a non-star matches itself; a star before
/// the end matches any run of bytes without the pattern's next byte; a star
/// at the end matches everything. The whole line must be consumed.
pub fn matches(pattern: &[u8], line: &[u8]) -> bool {
    let mut p = pattern;
    let mut l = line;
    loop {
        let Some((&c, rest)) = p.split_first() else {
            return l.is_empty();
        };
        p = rest;
        if c == b'*' {
            let Some(&next) = p.first() else {
                return true;
            };
            match l.iter().position(|&b| b == next) {
                Some(i) => l = &l[i..],
                None => return false,
            }
            continue;
        }
        match l.split_first() {
            Some((&b, rest)) if b == c => l = rest,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn documented_pattern_examples() {
        assert!(matches(b"hello", b"hello"));
        assert!(!matches(b"hello", b"hello world"));
        assert!(matches(
            b"named[*]: Cleaned cache *",
            b"named[135]: Cleaned cache of 3121 RRs"
        ));
        assert!(matches(b"*", b""));
        assert!(matches(b"*", b"anything"));
        assert!(matches(
            b"* fatal: *",
            b"@400000003b4a39c23294b13c fatal: out of memory"
        ));
        // A star stops at the first occurrence of the next byte.
        assert!(!matches(b"*b", b"abab"));
        assert!(matches(b"*b*", b"abab"));
        assert!(!matches(b"", b"x"));
    }

    #[test]
    fn sizes_and_counts_are_clamped_per_directory() {
        let s = parse(&args(&[
            "t",
            "s10",
            "n1",
            "./a",
            "s99999999",
            "n5",
            "!gzip",
            "/b",
            "s",
            "./c",
        ]));
        assert!(s.timestamp);
        assert_eq!((s.dirs[0].size, s.dirs[0].num), (MIN_SIZE, MIN_NUM));
        assert_eq!((s.dirs[1].size, s.dirs[1].num), (MAX_SIZE, 5));
        assert_eq!(s.dirs[1].processor.as_deref(), Some(OsStr::new("gzip")));
        assert_eq!(s.dirs[2].size, MIN_SIZE);
        assert!(!parse(&args(&["e", "t"])).timestamp);
        assert!(parse(&args(&["tx"])).timestamp);
    }
}
