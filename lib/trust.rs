//! Whom supervise trusts with a service directory: what it executes,
//! reads as configuration or writes into must be beyond other users' reach.

use std::path::Path;

/// Whom supervise trusts with what it executes, reads as configuration or
/// writes into: root and the user it runs as (so a user's own svscan over
/// their own dirs works). Anything else another user owns or can write is
/// refused: a world-writable `finish` would otherwise run as root.
#[derive(Clone, Debug)]
pub struct Trust {
    uids: Vec<u32>,
}

impl Trust {
    pub fn for_this_process() -> Trust {
        Trust {
            uids: vec![0, nix::unistd::geteuid().as_raw()],
        }
    }

    /// Also trust `uid` (svstat judging for a supervise of that user).
    pub fn also(mut self, uid: u32) -> Trust {
        self.uids.push(uid);
        self
    }

    fn owner_ok(&self, uid: u32) -> bool {
        self.uids.contains(&uid)
    }

    /// Why `path` (shown as `what`) must not be trusted: owned by another
    /// user, or writable by its group or by others. `None` when it is fine
    /// or does not exist. A symlink leads out of the directory that was
    /// checked: every link and directory on its way is judged too.
    pub fn judge(&self, path: &Path, what: &str) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        if !self.owner_ok(m.uid()) {
            return Some(format!("{what} is owned by another user (uid {})", m.uid()));
        }
        if m.mode() & 0o002 != 0 {
            return Some(format!("{what} is writable by others"));
        }
        if m.mode() & 0o020 != 0 && !crate::account::is_private_group(m.uid(), m.gid()) {
            return Some(format!("{what} is writable by its group"));
        }
        let link = std::fs::symlink_metadata(path).ok()?;
        if link.file_type().is_symlink() {
            return self.judge_way(path, what);
        }
        None
    }

    /// Follow the symlink `path` component by component: a link another
    /// user made, or a directory they own or can write (sticky ones, as
    /// /tmp, excepted: there only an entry's owner can replace it), would
    /// let them change what `path` leads to.
    fn judge_way(&self, path: &Path, what: &str) -> Option<String> {
        use std::ffi::OsString;
        use std::os::unix::fs::MetadataExt;
        use std::path::{Component, PathBuf};
        let start = std::env::current_dir().ok()?.join(path);
        // Components still to walk, the next one last.
        let mut todo: Vec<OsString> = Vec::new();
        let push = |todo: &mut Vec<OsString>, p: &Path| {
            for c in p.components().rev() {
                match c {
                    Component::Normal(n) => todo.push(n.to_os_string()),
                    Component::ParentDir => todo.push("..".into()),
                    _ => {}
                }
            }
        };
        push(&mut todo, &start);
        let mut here = PathBuf::from("/");
        let mut links = 0;
        while let Some(name) = todo.pop() {
            if name == ".." {
                here.pop();
                continue;
            }
            let next = here.join(&name);
            let l = std::fs::symlink_metadata(&next).ok()?;
            if l.file_type().is_symlink() {
                if !self.owner_ok(l.uid()) {
                    return Some(format!(
                        "{what} leads through {}, a symbolic link made by another user (uid {})",
                        next.display(),
                        l.uid()
                    ));
                }
                links += 1;
                if links > 40 {
                    return Some(format!("{what}: too many symbolic links"));
                }
                let target = std::fs::read_link(&next).ok()?;
                if target.is_absolute() {
                    here = PathBuf::from("/");
                }
                push(&mut todo, &target);
                continue;
            }
            if l.is_dir() && !todo.is_empty() {
                if !self.owner_ok(l.uid()) {
                    return Some(format!(
                        "{what} leads through {}, owned by another user (uid {})",
                        next.display(),
                        l.uid()
                    ));
                }
                if crate::account::others_can_write(l.uid(), l.gid(), l.mode())
                    && l.mode() & 0o1000 == 0
                {
                    return Some(format!(
                        "{what} leads through {}, writable by others",
                        next.display()
                    ));
                }
            }
            here = next;
        }
        None
    }

    /// Why the service dir `dir` (or its `supervise/`, where a symlink must
    /// have been made by a trusted user) must not be used at all.
    pub fn judge_dir(&self, dir: &Path) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        self.judge(dir, "the service directory").or_else(|| {
            let sup = dir.join("supervise");
            match std::fs::symlink_metadata(&sup) {
                Ok(l) if l.file_type().is_symlink() && !self.owner_ok(l.uid()) => Some(format!(
                    "supervise is a symbolic link made by another user (uid {})",
                    l.uid()
                )),
                _ => self.judge(&sup, "supervise"),
            }
        })
    }

    /// Why a file supervise executes or reads as configuration in `dir`
    /// must not be trusted (the first one found).
    pub fn judge_files(&self, dir: &Path) -> Option<String> {
        crate::servicedir::PROGRAMS
            .iter()
            .chain(crate::servicedir::CONFIG_FILES)
            .find_map(|f| self.judge(&dir.join(f), f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_refuses_what_others_own_or_can_write() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(d.join("run"), "").unwrap();
        let trust = Trust::for_this_process();
        assert_eq!(trust.judge_dir(d), None);
        assert_eq!(trust.judge_files(d), None);
        for (file, mode, why) in [
            ("finish", 0o666, "finish is writable by others"),
            ("check", 0o775, "check is writable by its group"),
            ("timeout-kill", 0o646, "timeout-kill is writable by others"),
        ] {
            std::fs::write(d.join(file), "").unwrap();
            std::fs::set_permissions(d.join(file), std::fs::Permissions::from_mode(mode)).unwrap();
            // A group write bit is refused unless the group is the owner's
            // private one: give the file to a group that is not (bin).
            let owner_private = crate::account::is_private_group(
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            );
            if why.ends_with("its group")
                && owner_private
                && nix::unistd::chown(&d.join(file), None, Some(nix::unistd::Gid::from_raw(2)))
                    .is_err()
            {
                std::fs::remove_file(d.join(file)).unwrap();
                continue;
            }
            assert_eq!(trust.judge_files(d).as_deref(), Some(why));
            std::fs::remove_file(d.join(file)).unwrap();
        }
        // A link out of the dir: every step of the way counts.
        let elsewhere = tempfile::tempdir().unwrap();
        let open = elsewhere.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::write(open.join("finish"), "").unwrap();
        std::os::unix::fs::symlink(open.join("finish"), d.join("finish")).unwrap();
        assert_eq!(trust.judge_files(d), None);
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = trust.judge_files(d).unwrap();
        assert!(
            why.starts_with("finish leads through ") && why.ends_with(", writable by others"),
            "{why}"
        );
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(trust.judge_files(d), None, "sticky, as /tmp");
        std::fs::remove_file(d.join("finish")).unwrap();
        std::fs::create_dir(d.join("supervise")).unwrap();
        std::fs::set_permissions(d.join("supervise"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        assert_eq!(
            trust.judge_dir(d).as_deref(),
            Some("supervise is writable by others")
        );
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            trust.judge_dir(d).as_deref(),
            Some("the service directory is writable by others")
        );
    }
}
