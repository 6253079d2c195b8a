//! What inotify reports: the names in the scan dir to look at again (a
//! dir appeared or went, a `run` or `log` was made in one, a link's
//! target may be there now), whether the whole dir must be read again, and
//! foreign supervisors' locks being closed.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};

use nix::sys::inotify::AddWatchFlags;

use super::foreign::Release;
use super::Scanner;

impl Scanner {
    /// Drain inotify: the names in the scan dir to look at again go into
    /// `names`. True if the whole dir must be read again (the queue
    /// overflowed, or a service was moved away to a name not seen yet).
    pub(super) fn read_inotify(&mut self, names: &mut HashSet<OsString>) -> bool {
        let mut rescan = false;
        let mut released = Vec::new();
        // A rename within the scan dir is a MOVED_FROM and a MOVED_TO with
        // one cookie; a read may fall between the two.
        let mut moved_away: HashMap<u32, OsString> = HashMap::new();
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for e in events {
                if e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    rescan = true;
                    continue;
                }
                if e.mask.contains(AddWatchFlags::IN_IGNORED) {
                    if let Some(&side) = self.foreign.get(&e.wd) {
                        released.push((e.wd, side, Release::Gone));
                    }
                    self.services.unwatch(e.wd);
                    self.candidates.remove(&e.wd);
                    // Its links wait one level up now.
                    if let Some(links) = self.dangling.remove(&e.wd) {
                        names.extend(links);
                    }
                    continue;
                }
                if let Some(&side) = self.foreign.get(&e.wd) {
                    if e.name.as_deref() == Some(OsStr::new("lock")) {
                        released.push((e.wd, side, Release::Closed));
                    }
                    continue;
                }
                // A link's target may be there now.
                if let Some(links) = self.dangling.get(&e.wd) {
                    names.extend(links.iter().cloned());
                }
                let Some(name) = e.name else { continue };
                if e.wd == self.root_watch {
                    if e.mask.contains(AddWatchFlags::IN_MOVED_FROM) {
                        moved_away.insert(e.cookie, name.clone());
                    } else if e.mask.contains(AddWatchFlags::IN_MOVED_TO) {
                        moved_away.remove(&e.cookie);
                    }
                    names.insert(name);
                    continue;
                }
                // Inside a service dir only `run` and `log` matter.
                if name != "run" && name != "log" {
                    continue;
                }
                if let Some(svc) = self
                    .services
                    .watched(e.wd)
                    .and_then(|k| self.services.get(&k))
                {
                    names.insert(svc.name.to_os_string());
                }
                if let Some(dir) = self.candidates.get(&e.wd) {
                    names.extend(dir.iter().cloned());
                }
            }
        }
        // A service moved away with no MOVED_TO seen: renamed within the
        // scan dir (its MOVED_TO still to be read) or moved out; only a
        // whole read of the dir tells which.
        rescan |= moved_away.values().any(|gone| self.services.has_name(gone));
        for (wd, (key, side), how) in released {
            self.foreign_released(wd, key, side, how);
        }
        rescan
    }
}
