//! What a start of run needs to know about the service dir — may it be
//! trusted, its configuration, whether `check` exists — judged and read in
//! full only when the dir or one of those files changed since the last
//! time. A restart then costs an lstat of `.` and of each file present
//! instead of a judgment of every name (two stats each) and a reload.
//!
//! Why no inotify: an instance per supervise would count against
//! fs.inotify.max_user_instances (128 by default), and a watch on the dir
//! does not see a chmod through another hard link; the inode's own stamps
//! do.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use upkeep::servicedir::{CONFIG_FILES, PROGRAMS};

/// What the kernel reports of an inode that a change of it would alter.
/// A change within the timestamp granularity of the filesystem can leave
/// mtime and ctime as they were: see [`upkeep::racy`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }

    /// Without the times: supervise/ changes at every status write, and
    /// only who owns it and its mode matter.
    fn owner_and_mode(self) -> Stamp {
        Stamp {
            size: 0,
            mtime: (0, 0),
            ctime: (0, 0),
            ..self
        }
    }
}

/// `.`, supervise/, the programs and every configuration file.
const NAMES: usize = 2 + PROGRAMS.len() + CONFIG_FILES.len();

/// The stamps of the last full look that found the dir trusted; empty when
/// the next start must look in full.
pub struct DirView {
    /// (name, stamp) of `.`, supervise/ and every program or configuration
    /// file present then. Capacity for all, reserved once: no allocation
    /// after start-up.
    stamps: Vec<(&'static str, Stamp)>,
    has_check: bool,
}

impl DirView {
    pub fn new() -> DirView {
        DirView {
            stamps: Vec::with_capacity(NAMES),
            has_check: false,
        }
    }

    /// Unchanged since the last full look, which found it trusted: trust,
    /// configuration and `has_check` still hold.
    pub fn unchanged(&self) -> bool {
        !self.stamps.is_empty()
            && self.stamps.iter().all(|&(name, was)| {
                let now = match std::fs::symlink_metadata(name) {
                    Ok(m) => Stamp::of(&m),
                    Err(_) => return false,
                };
                if name == "supervise" {
                    now.owner_and_mode() == was
                } else {
                    now == was
                }
            })
    }

    /// Whether `check` was there at the last full look.
    pub fn has_check(&self) -> bool {
        self.has_check
    }

    /// Before a full look: take the stamps it will be valid for. Taken
    /// first, so a change during the look shows at the next start.
    pub fn before_full_look(&mut self) -> Taken {
        self.stamps.clear();
        let mut taken = Taken {
            stamps: std::mem::take(&mut self.stamps),
            cacheable: true,
            has_check: Path::new("check").exists(),
        };
        let names = [".", "supervise"]
            .into_iter()
            .chain(PROGRAMS)
            .chain(CONFIG_FILES.iter().copied());
        for name in names {
            let m = match std::fs::symlink_metadata(name) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != "." => continue,
                Err(_) => {
                    taken.cacheable = false;
                    continue;
                }
            };
            let stamp = Stamp::of(&m);
            let kind = m.file_type();
            // A link leads where a change is not seen here; a group write
            // bit is judged by /etc/group, which can change on its own.
            if kind.is_symlink() || stamp.mode & 0o020 != 0 {
                taken.cacheable = false;
            }
            let times_matter = name != "supervise" && !PROGRAMS.contains(&name);
            if times_matter && upkeep::racy::is_racy(stamp.ctime.max(stamp.mtime)) {
                taken.cacheable = false;
            }
            let stamp = if name == "supervise" {
                stamp.owner_and_mode()
            } else {
                stamp
            };
            taken.stamps.push((name, stamp));
        }
        taken
    }

    /// After the full look: keep the stamps if it found the dir trusted
    /// and nothing was too fresh to be sure of.
    pub fn after_full_look(&mut self, taken: Taken, trusted: bool) {
        self.stamps = taken.stamps;
        self.has_check = taken.has_check;
        if !(trusted && taken.cacheable) {
            self.stamps.clear();
        }
    }
}

/// The stamps taken before a full look (see [`DirView::before_full_look`]).
pub struct Taken {
    stamps: Vec<(&'static str, Stamp)>,
    cacheable: bool,
    has_check: bool,
}
