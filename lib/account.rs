//! Accounts for setuidgid and envuidgid: look a user up by name, and become
//! it the way daemontools does (supplementary groups = just its gid, then
//! gid, then uid, so nothing of root's groups survives).
//!
//! Lookups go through NSS (getpwnam ...), except in a statically linked
//! build (the dist build of the daemons, see INSTALL), which reads
//! /etc/passwd and /etc/group itself: see files.rs.

#[cfg(any(test, target_feature = "crt-static"))]
mod files;

use nix::unistd::{setgid, setgroups, setuid, Gid, Uid};

use crate::errors::Fatal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub uid: Uid,
    pub gid: Gid,
}

/// getpwnam. A lookup error counts as "no such account", as in daemontools
/// (getpwnam returns NULL either way).
#[cfg(not(target_feature = "crt-static"))]
pub fn lookup(name: &str) -> Option<Account> {
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Some(Account {
            uid: u.uid,
            gid: u.gid,
        }),
        _ => None,
    }
}

/// /etc/passwd's first entry named `name`.
#[cfg(target_feature = "crt-static")]
pub fn lookup(name: &str) -> Option<Account> {
    let passwd = files::read(std::path::Path::new("/etc/passwd"));
    let user = files::user(&passwd, Some(name.as_bytes()), None)?;
    Some(Account {
        uid: Uid::from_raw(user.id),
        gid: Gid::from_raw(user.gid()?),
    })
}

/// Is `gid` the private group of user `uid`: that user's primary group,
/// named after it, with no other member? Debian gives every user one and
/// a umask of 002 then makes their files group-writable: such a write bit
/// lets no other user in (the rule Debian's OpenSSH applies too).
#[cfg(not(target_feature = "crt-static"))]
pub fn is_private_group(uid: u32, gid: u32) -> bool {
    use nix::unistd::{Group, User};
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

/// The same, from /etc/passwd and /etc/group.
#[cfg(target_feature = "crt-static")]
pub fn is_private_group(uid: u32, gid: u32) -> bool {
    let passwd = files::read(std::path::Path::new("/etc/passwd"));
    let Some(user) = files::user(&passwd, None, Some(uid)) else {
        return false;
    };
    if user.gid() != Some(gid) {
        return false;
    }
    let groups = files::read(std::path::Path::new("/etc/group"));
    let Some(group) = files::group(&groups, gid) else {
        return false;
    };
    group.name == user.name && group.members().all(|m| m == user.name)
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
