//! Accounts for setuidgid and envuidgid: look a user up by name, and become
//! it the way daemontools does (supplementary groups = just its gid, then
//! gid, then uid, so nothing of root's groups survives).

use nix::unistd::{setgid, setgroups, setuid, Gid, Uid, User};

use crate::errors::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub uid: Uid,
    pub gid: Gid,
}

/// getpwnam. A lookup error counts as "no such account", as in daemontools
/// (getpwnam returns NULL either way).
pub fn lookup(name: &str) -> Option<Account> {
    match User::from_name(name) {
        Ok(Some(u)) => Some(Account {
            uid: u.uid,
            gid: u.gid,
        }),
        _ => None,
    }
}

/// Drop to `account`: groups, gid, uid. Errors read `unable to setgid: ...`
/// or `unable to setuid: ...`.
pub fn become_account(account: Account) -> Result<(), Failure> {
    setgroups(&[account.gid])
        .and_then(|()| setgid(account.gid))
        .map_err(|e| Failure::sys("unable to setgid", e))?;
    setuid(account.uid).map_err(|e| Failure::sys("unable to setuid", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_garbage_does_not() {
        assert_eq!(lookup("root").map(|a| a.uid.as_raw()), Some(0));
        assert_eq!(lookup("no such user, surely"), None);
    }
}
