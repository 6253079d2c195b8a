//! daemontools' own getopt (sgetopt/subgetopt), so option parsing, the
//! `PROG: illegal option -- c` lines and what counts as the first non-option
//! argument are exactly daemontools': `--` (or any `--word`) ends options,
//! a lone `-` is an argument, an option argument may be glued (`-o5`).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;

/// One step of option parsing.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// An option letter, with its argument if the spec says it takes one.
    Opt(u8, Option<Vec<u8>>),
    /// No more options; `GetOpt::index` is the first remaining argument.
    Done,
    /// A letter not in the spec.
    Illegal(u8),
    /// A letter that needs an argument, at the end of argv.
    MissingArgument(u8),
}

/// Parser over a full argv (argv[0] included). `spec` is daemontools'
/// string: letters, each followed by `:` if it takes an argument.
pub struct GetOpt<'a> {
    args: &'a [OsString],
    spec: &'static [u8],
    index: usize,
    pos: usize,
}

impl<'a> GetOpt<'a> {
    pub fn new(args: &'a [OsString], spec: &'static str) -> GetOpt<'a> {
        GetOpt {
            args,
            spec: spec.as_bytes(),
            index: 1,
            pos: 0,
        }
    }

    /// Index of the first argument after the options (valid after `Done`).
    pub fn index(&self) -> usize {
        self.index
    }

    fn arg(&self, i: usize) -> Option<&'a [u8]> {
        self.args.get(i).map(|a| a.as_bytes())
    }

    pub fn next_opt(&mut self) -> Next {
        let Some(mut cur) = self.arg(self.index) else {
            return Next::Done;
        };
        if self.pos > 0 && self.pos >= cur.len() {
            self.index += 1;
            self.pos = 0;
            match self.arg(self.index) {
                Some(a) => cur = a,
                None => return Next::Done,
            }
        }
        if self.pos == 0 {
            if cur.first() != Some(&b'-') {
                return Next::Done;
            }
            match cur.get(1) {
                None => return Next::Done,
                Some(b'-') => {
                    self.index += 1;
                    return Next::Done;
                }
                Some(_) => self.pos = 1,
            }
        }
        let c = cur[self.pos];
        self.pos += 1;
        let mut s = 0;
        while s < self.spec.len() {
            let takes_arg = self.spec.get(s + 1) == Some(&b':');
            if c == self.spec[s] {
                if !takes_arg {
                    return Next::Opt(c, None);
                }
                let glued = &cur[self.pos..];
                self.index += 1;
                self.pos = 0;
                if !glued.is_empty() {
                    return Next::Opt(c, Some(glued.to_vec()));
                }
                return match self.arg(self.index) {
                    Some(a) => {
                        self.index += 1;
                        Next::Opt(c, Some(a.to_vec()))
                    }
                    None => Next::MissingArgument(c),
                };
            }
            s += if takes_arg { 2 } else { 1 };
        }
        Next::Illegal(c)
    }
}

/// Print daemontools' complaint about a bad option (`Illegal` or
/// `MissingArgument`); other values print nothing.
pub fn complain(prog: &str, next: &Next) {
    let (what, c) = match *next {
        Next::Illegal(c) => ("illegal option -- ", c),
        Next::MissingArgument(c) => ("option requires an argument -- ", c),
        _ => return,
    };
    let mut line = format!("{prog}: {what}").into_bytes();
    line.push(c);
    line.push(b'\n');
    let _ = std::io::stderr().write_all(&line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn all(a: &[&str], spec: &'static str) -> (Vec<Next>, usize) {
        let args = argv(a);
        let mut g = GetOpt::new(&args, spec);
        let mut out = Vec::new();
        loop {
            let n = g.next_opt();
            let stop = !matches!(n, Next::Opt(..));
            out.push(n);
            if stop {
                return (out, g.index());
            }
        }
    }

    #[test]
    fn glued_separate_and_combined() {
        let (o, i) = all(&["p", "-nx", "-o5", "-o", "7", "child"], "nxo:");
        assert_eq!(
            o,
            vec![
                Next::Opt(b'n', None),
                Next::Opt(b'x', None),
                Next::Opt(b'o', Some(b"5".to_vec())),
                Next::Opt(b'o', Some(b"7".to_vec())),
                Next::Done
            ]
        );
        assert_eq!(i, 5);
    }

    #[test]
    fn dashes_and_problems() {
        assert_eq!(all(&["p", "--x", "a"], "n").1, 2);
        assert_eq!(all(&["p", "-", "a"], "n").1, 1);
        assert_eq!(all(&["p", "-z"], "n").0.last(), Some(&Next::Illegal(b'z')));
        assert_eq!(
            all(&["p", "-o"], "o:").0.last(),
            Some(&Next::MissingArgument(b'o'))
        );
        assert_eq!(
            all(&["p", "-o", ""], "o:").0[0],
            Next::Opt(b'o', Some(Vec::new()))
        );
    }
}
