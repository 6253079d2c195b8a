//! Accounts for setuidgid and envuidgid: look a user up by name, and become
//! it the way daemontools does (supplementary groups = just its gid, then
//! gid, then uid, so nothing of root's groups survives).

use nix::unistd::{setgid, setgroups, setuid, Gid, Group, Uid, User};

use crate::errors::Fatal;

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

/// Is `gid` the private group of user `uid`: that user's primary group,
/// named after it, with no other member? Debian gives every user one and
/// a umask of 002 then makes their files group-writable: such a write bit
/// lets no other user in (the rule Debian's OpenSSH applies too).
pub fn is_private_group(uid: u32, gid: u32) -> bool {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return false;
    };
    if user.gid.as_raw() != gid {
        return false;
    }
    let Ok(Some(group)) = Group::from_gid(Gid::from_raw(gid)) else {
        return false;
    };
    group.name == user.name && group.mem.iter().all(|m| *m == user.name)
}

/// Can a user other than the owner write a file with this owner, group and
/// mode (sticky directories aside)?
pub fn others_can_write(uid: u32, gid: u32, mode: u32) -> bool {
    mode & 0o002 != 0 || (mode & 0o020 != 0 && !is_private_group(uid, gid))
}

/// Drop to `account`: groups, gid, uid. Errors read `unable to setgid: ...`
/// or `unable to setuid: ...`.
pub fn become_account(account: Account) -> Result<(), Fatal> {
    setgroups(&[account.gid])
        .and_then(|()| setgid(account.gid))
        .map_err(|e| Fatal::sys("unable to setgid", e))?;
    setuid(account.uid).map_err(|e| Fatal::sys("unable to setuid", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_group_is_roots_private_group_only_if_named_so() {
        // Debian's root: uid 0, primary group 0 named root, no members.
        assert!(is_private_group(0, 0));
        assert!(!is_private_group(0, 4242));
        assert!(others_can_write(0, 4242, 0o775));
        assert!(!others_can_write(0, 0, 0o775));
        assert!(others_can_write(0, 0, 0o777));
        assert!(!others_can_write(4242, 4242, 0o755));
    }

    #[test]
    fn root_exists_and_garbage_does_not() {
        assert_eq!(lookup("root").map(|a| a.uid.as_raw()), Some(0));
        assert_eq!(lookup("no such user, surely"), None);
    }
}
