//! A symlink in the scan dir whose target does not exist yet
//! (`/service/x -> /etc/sv/x` made before /etc/sv/x, as install scripts
//! do): the deepest existing dir on the target's way is watched, so the
//! target's appearance has the link looked at again — no timer, no polling.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use nix::sys::inotify::{AddWatchFlags, WatchDescriptor};

use super::Scanner;

/// A chain of links longer than this is left alone (the kernel's ELOOP
/// limit is 40).
const MAX_HOPS: usize = 40;

/// The dir in which `link`'s final target will appear, or None if the
/// target exists (or cannot be followed).
pub(super) fn awaited_dir(link: &Path) -> Option<PathBuf> {
    let mut path = link.to_path_buf();
    for _ in 0..MAX_HOPS {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&path).ok()?;
                // A relative target is relative to the link's own dir;
                // joining an absolute one replaces the base.
                path = match path.parent() {
                    Some(base) => base.join(to),
                    None => to,
                };
            }
            Ok(_) => return None,
            Err(_) => {
                return path.ancestors().skip(1).find_map(|a| {
                    if a.as_os_str().is_empty() {
                        Some(PathBuf::from("."))
                    } else {
                        a.is_dir().then(|| a.to_path_buf())
                    }
                })
            }
        }
    }
    None
}

impl Scanner {
    /// Watch where `link`'s target will appear; events there have `link`
    /// looked at again. Returns true if the target exists after all (made
    /// meanwhile): the caller looks at it again.
    pub(super) fn await_target(&mut self, link: &OsStr) -> bool {
        let path = Path::new(link);
        // Each pass watches one level deeper; a dir made between the look
        // and the watch is caught by the look after the watch.
        for _ in 0..MAX_HOPS {
            let Some(dir) = awaited_dir(path) else {
                return true;
            };
            let Ok(wd) = self.inotify.add_watch(
                &dir,
                AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_ONLYDIR
                    // The dir may be watched already for another reason
                    // (a service's dir): add to that watch, never replace it.
                    | AddWatchFlags::from_bits_retain(libc::IN_MASK_ADD),
            ) else {
                return false; // unwatchable (no permission): SIGHUP still works
            };
            self.dangling
                .entry(wd)
                .or_default()
                .insert(link.to_os_string());
            if awaited_dir(path).as_deref() == Some(dir.as_path()) {
                return false;
            }
        }
        false
    }

    /// `link` is being looked at again: it waits on nothing until
    /// await_target says so again.
    pub(super) fn forget_link(&mut self, link: &OsStr) {
        for links in self.dangling.values_mut() {
            links.remove(link);
        }
    }

    /// Stop watching dirs no link waits on any more (targets that appeared,
    /// links that went away). A watch shared with another purpose is left
    /// in place.
    pub(super) fn forget_stale_targets(&mut self) {
        let stale: Vec<WatchDescriptor> = self
            .dangling
            .iter()
            .filter(|(_, links)| links.is_empty())
            .map(|(wd, _)| *wd)
            .collect();
        for wd in stale {
            self.dangling.remove(&wd);
            let shared = wd == self.root_watch
                || self.services.watched(wd).is_some()
                || self.candidates.contains_key(&wd)
                || self.foreign.contains_key(&wd);
            if !shared {
                let _ = self.inotify.rm_watch(wd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn finds_the_deepest_existing_dir_through_links() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        std::fs::create_dir(t.join("etc")).unwrap();
        symlink(t.join("etc/sv/x"), t.join("a")).unwrap();
        assert_eq!(awaited_dir(&t.join("a")), Some(t.join("etc")));
        // A link to a link, relative.
        symlink("a", t.join("b")).unwrap();
        assert_eq!(awaited_dir(&t.join("b")), Some(t.join("etc")));
        std::fs::create_dir_all(t.join("etc/sv/x")).unwrap();
        assert_eq!(awaited_dir(&t.join("b")), None);
        // A loop is given up on, never followed for ever.
        symlink("loop2", t.join("loop1")).unwrap();
        symlink("loop1", t.join("loop2")).unwrap();
        assert_eq!(awaited_dir(&t.join("loop1")), None);
    }
}
