//! /etc/passwd and /etc/group read directly, for a statically linked
//! build: glibc's getpwuid in a static binary loads the NSS modules
//! nsswitch.conf names (libnss_systemd ...) with dlopen, and a lookup that
//! reaches one of them crashes the process (SIGSEGV, seen with glibc 2.36).
//! Entries only another NSS source knows are not found: for the trust
//! checks that means a group write bit is refused, never accepted.

use std::path::Path;

/// A user's uid and gid from passwd `text`, by name or by uid; the first
/// matching line wins, as in glibc's files source. NIS `+`/`-` lines and
/// malformed lines are skipped.
pub fn user<'a>(text: &'a [u8], name: Option<&[u8]>, uid: Option<u32>) -> Option<Entry<'a>> {
    entries(text).find(|e| name.is_none_or(|n| e.name == n) && uid.is_none_or(|u| e.id == u))
}

/// A group's entry from group `text`, by gid.
pub fn group(text: &[u8], gid: u32) -> Option<Entry<'_>> {
    entries(text).find(|e| e.id == gid)
}

/// One line: name, id (uid or gid), and the fourth field (a user's gid,
/// or a group's comma-separated members).
#[derive(Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a [u8],
    pub id: u32,
    pub fourth: &'a [u8],
}

impl Entry<'_> {
    /// A passwd entry's primary gid.
    pub fn gid(&self) -> Option<u32> {
        number(self.fourth)
    }

    /// A group entry's members.
    pub fn members(&self) -> impl Iterator<Item = &[u8]> {
        self.fourth.split(|&b| b == b',').filter(|m| !m.is_empty())
    }
}

fn number(field: &[u8]) -> Option<u32> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn entries(text: &[u8]) -> impl Iterator<Item = Entry<'_>> {
    text.split(|&b| b == b'\n').filter_map(|line| {
        let mut fields = line.split(|&b| b == b':');
        let name = fields.next()?;
        if name.is_empty() || matches!(name[0], b'+' | b'-' | b'#') {
            return None;
        }
        let _password = fields.next()?;
        let id = number(fields.next()?)?;
        let fourth = fields.next()?;
        Some(Entry { name, id, fourth })
    })
}

/// The file's contents, or nothing (a missing or unreadable file finds
/// no one, as getpwnam finds no one).
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &[u8] = b"root:x:0:0:root:/root:/bin/bash\n\
        +nis::::::\n\
        # comment\n\
        broken:x:notanumber:0::/:/bin/sh\n\
        alice:x:1000:1000:Alice:/home/alice:/bin/sh\n\
        alice:x:1001:1001:second alice, ignored:/:/bin/sh\n\
        short:x:7\n";
    const GROUP: &[u8] = b"root:x:0:\nalice:x:1000:\nstaff:x:50:alice,bob\nlone:x:60:lone";

    #[test]
    fn users_by_name_and_uid_first_line_wins() {
        let alice = user(PASSWD, Some(b"alice"), None).unwrap();
        assert_eq!((alice.id, alice.gid()), (1000, Some(1000)));
        assert_eq!(user(PASSWD, None, Some(0)).unwrap().name, b"root");
        assert_eq!(user(PASSWD, None, Some(1001)).unwrap().name, b"alice");
        assert_eq!(user(PASSWD, Some(b"broken"), None), None);
        assert_eq!(user(PASSWD, Some(b"short"), None), None);
        assert_eq!(user(PASSWD, Some(b"+nis"), None), None);
        assert_eq!(user(PASSWD, Some(b""), None), None);
        assert_eq!(user(b"", Some(b"root"), None), None);
    }

    #[test]
    fn groups_and_members() {
        assert_eq!(group(GROUP, 0).unwrap().members().count(), 0);
        let staff = group(GROUP, 50).unwrap();
        assert_eq!(staff.members().collect::<Vec<_>>(), [&b"alice"[..], b"bob"]);
        // The last line needs no newline.
        assert_eq!(
            group(GROUP, 60).unwrap().members().collect::<Vec<_>>(),
            [b"lone"]
        );
        assert_eq!(group(GROUP, 4242), None);
    }

    /// Every user and group this machine's files list is found as NSS
    /// finds it (the files source comes first in every nsswitch.conf).
    #[test]
    fn agrees_with_getpwuid_on_this_machine() {
        use nix::unistd::{Gid, Group, Uid, User};
        let passwd = read(Path::new("/etc/passwd"));
        let groups = read(Path::new("/etc/group"));
        for e in entries(&passwd) {
            let Ok(Some(u)) = User::from_uid(Uid::from_raw(e.id)) else {
                continue;
            };
            let ours = user(&passwd, None, Some(e.id)).unwrap();
            assert_eq!(ours.name, u.name.as_bytes());
            assert_eq!(ours.gid(), Some(u.gid.as_raw()));
        }
        for e in entries(&groups) {
            let Ok(Some(g)) = Group::from_gid(Gid::from_raw(e.id)) else {
                continue;
            };
            let ours = group(&groups, e.id).unwrap();
            assert_eq!(ours.name, g.name.as_bytes());
            let members: Vec<&[u8]> = g.mem.iter().map(|m| m.as_bytes()).collect();
            assert_eq!(ours.members().collect::<Vec<_>>(), members);
        }
    }
}
