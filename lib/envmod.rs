//! Environment changes applied the way daemontools' pathexec applies them,
//! so a child sees the same variables in the same order: each change
//! removes the first existing entry of that name (the last entry moves into
//! its slot), then a set appends `NAME=VALUE` at the end.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// A list of pending changes, applied in order.
#[derive(Debug, Default, Clone)]
pub struct EnvChanges {
    // "NAME=VALUE" to set, "NAME" (no '=') to remove. A name containing '='
    // is split at its first '=', as daemontools does.
    plus: Vec<Vec<u8>>,
}

impl EnvChanges {
    pub fn new() -> EnvChanges {
        EnvChanges::default()
    }

    pub fn set(&mut self, name: &[u8], value: &[u8]) {
        let mut e = name.to_vec();
        e.push(b'=');
        e.extend_from_slice(value);
        self.plus.push(e);
    }

    pub fn remove(&mut self, name: &[u8]) {
        self.plus.push(name.to_vec());
    }

    /// The environment `base` (`NAME=VALUE` entries) with the changes applied.
    pub fn apply(&self, base: Vec<OsString>) -> Vec<OsString> {
        let mut env: Vec<Vec<u8>> = base.into_iter().map(OsString::into_vec).collect();
        for p in &self.plus {
            let split = p.iter().position(|&b| b == b'=').unwrap_or(p.len());
            let name = &p[..split];
            if let Some(t) = env
                .iter()
                .position(|e| e.len() > split && &e[..split] == name && e[split] == b'=')
            {
                env.swap_remove(t);
            }
            if split < p.len() {
                env.push(p.clone());
            }
        }
        env.into_iter().map(OsString::from_vec).collect()
    }
}

/// This process's environment as `NAME=VALUE` entries, in environ order.
pub fn current() -> Vec<OsString> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k;
            e.push("=");
            e.push(v);
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    /// The value of `name` in an entry list (first match).
    fn lookup<'a>(env: &'a [OsString], name: &[u8]) -> Option<&'a [u8]> {
        env.iter().find_map(|e| {
            let b = e.as_bytes();
            (b.len() > name.len() && &b[..name.len()] == name && b[name.len()] == b'=')
                .then(|| &b[name.len() + 1..])
        })
    }

    fn env(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn order_matches_pathexec() {
        let mut c = EnvChanges::new();
        c.set(b"A", b"new");
        c.remove(b"C");
        c.set(b"E", b"5");
        c.set(b"X=Y", b"z");
        let out = c.apply(env(&["A=1", "B=2", "C=3", "D=4"]));
        assert_eq!(out, env(&["D=4", "B=2", "A=new", "E=5", "X=Y=z"]));
        assert_eq!(lookup(&out, b"X"), Some(&b"Y=z"[..]));
    }

    #[test]
    fn remove_missing_is_harmless() {
        let mut c = EnvChanges::new();
        c.remove(b"NOPE");
        c.remove(b"AB");
        assert_eq!(c.apply(env(&["ABC=1"])), env(&["ABC=1"]));
    }
}
