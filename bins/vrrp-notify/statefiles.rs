//! The state files of doc/DESIGN.md, "vrrp-notify": STATEDIR/PREFIX.{MASTER,BACKUP,FAULT,STOP}
//! (at most one at any instant), STATEDIR/PREFIX.current, and the journal
//! STATEDIR/PREFIX.event: the event the state files show, whether its hooks
//! have finished, and (hook mode) when keepalived started its process.
//!
//! An event is applied as one group: the three new files are written under
//! temporary names first, so a full disk fails before anything visible
//! changed; then the journal is renamed into place, the other state files
//! removed and the new state file and `.current` renamed in (renames need
//! no space). A kill in the middle leaves a journal saying "pending", and
//! the next start applies that event again.

use std::ffi::OsStr;
use std::fs::DirBuilder;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use upkeep::errors::Fatal;
use upkeep::runtimefile::{self, Dir};
use upkeep::tai64::Tai64N;

use crate::line::{self, Event, Parsed, STATES};
use crate::order::Order;

/// Suffix of the journal file.
pub const JOURNAL: &str = "event";
const CURRENT: &str = "current";

pub struct StateDir {
    dir: PathBuf,
    /// May contain `{name}`, replaced by the instance or group name.
    prefix: String,
}

/// What the journal holds for one set of state files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub event: Event,
    pub at: Tai64N,
    pub hooks_done: bool,
    /// Hook mode: the order keepalived started the process in.
    pub order: Option<Order>,
}

impl Entry {
    pub fn new(event: Event, at: Tai64N) -> Entry {
        Entry {
            event,
            at,
            hooks_done: false,
            order: None,
        }
    }

    fn to_text(&self) -> String {
        let mut s = format!(
            "event={}\nat=@{}\nhooks={}\n",
            self.event,
            self.at.to_hex(),
            if self.hooks_done { "done" } else { "pending" }
        );
        if let Some(o) = &self.order {
            s += &format!("order={o}\n");
        }
        s
    }

    fn parse(text: &str) -> Option<Entry> {
        let (mut event, mut at, mut done, mut order) = (None, None, None, None);
        for (k, v) in runtimefile::parse_key_values(text) {
            match k {
                "event" => match line::parse_fifo_line(v) {
                    Parsed::Event(e) => event = Some(e),
                    _ => return None,
                },
                "at" => at = Tai64N::from_hex(v.strip_prefix('@')?),
                "hooks" => done = Some(v == "done"),
                "order" => order = Order::parse(v),
                _ => {}
            }
        }
        Some(Entry {
            event: event?,
            at: at?,
            hooks_done: done?,
            order,
        })
    }
}

impl StateDir {
    pub fn new(dir: impl Into<PathBuf>, prefix: impl Into<String>) -> StateDir {
        StateDir {
            dir: dir.into(),
            prefix: prefix.into(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A prefix the state files can be named by: no `/`, not empty.
    pub fn check_prefix(prefix: &str) -> Result<(), String> {
        if prefix.is_empty() {
            return Err("prefix is empty".into());
        }
        if prefix.contains('/') {
            return Err(format!("prefix {prefix} contains /"));
        }
        Ok(())
    }

    /// The name of an event's set of state files; events with the same key
    /// replace each other's files.
    pub fn prefix_for(&self, name: &str) -> String {
        self.prefix.replace("{name}", name)
    }

    /// Create the state directory if missing (/run is empty at boot), then
    /// open it checked: ours or root's, writable by nobody else unless
    /// sticky, never through another user's symlink.
    pub fn open(&self) -> Result<Dir, Fatal> {
        let what = || format!("unable to create {}", self.dir.display());
        if std::fs::symlink_metadata(&self.dir).is_err() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&self.dir)
                .map_err(|e| Fatal::io(what(), &e))?;
        }
        Dir::open(&self.dir)
            .map_err(|e| Fatal::io(format!("unable to open {}", self.dir.display()), &e))
    }

    pub fn ensure(&self) -> Result<(), Fatal> {
        self.open().map(drop)
    }

    /// Apply `entry`: journal, state file and `.current` as one group (see
    /// the module's comment). On failure the old files are as they were,
    /// or (a rename failing midway, which needs no space) the journal says
    /// pending and a retry completes it; no temporary file is left.
    pub fn apply(&self, entry: &Entry) -> Result<(), Fatal> {
        let dir = self.open()?;
        let key = self.prefix_for(&entry.event.name);
        let state = entry.event.state.name();
        let name = |suffix: &str| format!("{key}.{suffix}");
        let fail = |n: &str, e: &std::io::Error| {
            Fatal::io(format!("unable to write {}", self.dir.join(n).display()), e)
        };
        let content = format!("@{} {}\n", entry.at.to_hex(), entry.event);
        let journal = name(JOURNAL);
        let file = name(state);
        let current = name(CURRENT);
        let j = dir
            .prepare(OsStr::new(&journal), entry.to_text().as_bytes(), 0o644)
            .map_err(|e| fail(&journal, &e))?;
        let s = dir
            .prepare(OsStr::new(&file), content.as_bytes(), 0o644)
            .map_err(|e| fail(&file, &e))?;
        let c = dir
            .prepare(OsStr::new(&current), format!("{state}\n").as_bytes(), 0o644)
            .map_err(|e| fail(&current, &e))?;
        j.commit().map_err(|e| fail(&journal, &e))?;
        // The others first, then the new one: a reader never sees two.
        for other in STATES.iter().filter(|s| s.name() != state) {
            let n = name(other.name());
            dir.remove(OsStr::new(&n)).map_err(|e| {
                Fatal::io(
                    format!("unable to remove {}", self.dir.join(&n).display()),
                    &e,
                )
            })?;
        }
        s.commit().map_err(|e| fail(&file, &e))?;
        c.commit().map_err(|e| fail(&current, &e))
    }

    /// Note in the journal that `entry`'s hooks have finished.
    pub fn mark_done(&self, entry: &Entry) -> Result<(), Fatal> {
        let mut done = entry.clone();
        done.hooks_done = true;
        let journal = format!("{}.{JOURNAL}", self.prefix_for(&entry.event.name));
        self.open()?
            .replace(OsStr::new(&journal), done.to_text().as_bytes(), 0o644)
            .map_err(|e| {
                Fatal::io(
                    format!("unable to write {}", self.dir.join(&journal).display()),
                    &e,
                )
            })
    }

    /// The journal of the state files `name` belongs to.
    pub fn journal(&self, name: &str) -> Option<Entry> {
        let dir = self.open().ok()?;
        let file = format!("{}.{JOURNAL}", self.prefix_for(name));
        read_entry(&dir, OsStr::new(&file))
            .filter(|e| self.prefix_for(&e.event.name) == self.prefix_for(name))
    }

    /// Every journal of this prefix whose hooks have not finished: events
    /// to apply again after a kill.
    pub fn unfinished(&self) -> Vec<Entry> {
        let (Ok(dir), Ok(rd)) = (self.open(), std::fs::read_dir(&self.dir)) else {
            return Vec::new();
        };
        let mut v: Vec<Entry> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name();
                let base = n.to_str()?.strip_suffix(&format!(".{JOURNAL}"))?;
                let entry = read_entry(&dir, &n)?;
                (self.prefix_for(&entry.event.name) == base && !entry.hooks_done).then_some(entry)
            })
            .collect();
        v.sort_by_key(|e| e.at.to_bytes());
        v
    }

    /// Remove temporary files of ours left by a killed writer. Only while
    /// holding the lock that makes us the one writer.
    pub fn remove_stale_temps(&self) {
        let Ok(dir) = self.open() else { return };
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let (head, tail) = match self.prefix.split_once("{name}") {
            Some((h, t)) => (h.to_string(), Some(t.to_string())),
            None => (self.prefix.clone(), None),
        };
        for e in rd.filter_map(|e| e.ok()) {
            let n = e.file_name();
            if !runtimefile::is_temp_name(&n) {
                continue;
            }
            // .NAME.<16hex>.tmp
            let b = n.as_bytes();
            let inner = String::from_utf8_lossy(&b[1..b.len() - 21]).into_owned();
            let Some((base, suffix)) = inner.rsplit_once('.') else {
                continue;
            };
            let ours_suffix =
                suffix == JOURNAL || suffix == CURRENT || STATES.iter().any(|s| s.name() == suffix);
            let ours_base = match &tail {
                None => base == head,
                Some(t) => {
                    base.len() >= head.len() + t.len()
                        && base.starts_with(&head)
                        && base.ends_with(t)
                }
            };
            if ours_suffix && ours_base {
                let _ = dir.remove(&n);
            }
        }
    }
}

/// A journal, read safely; anything unreadable or foreign is no journal.
fn read_entry(dir: &Dir, name: &OsStr) -> Option<Entry> {
    let data = dir.read_optional(name).ok()??;
    Entry::parse(&String::from_utf8_lossy(&data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::parse_args;

    /// STATEDIR/PREFIX.SUFFIX for an event's name.
    fn path(sd: &StateDir, name: &str, suffix: &str) -> PathBuf {
        sd.dir.join(format!("{}.{suffix}", sd.prefix_for(name)))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn one_state_file_current_and_journal() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path().join("run"), "kv_{name}");
        sd.ensure().unwrap();
        let t = Tai64N::now();
        let m = Entry::new(parse_args("INSTANCE", "VI_1", "MASTER", "150").unwrap(), t);
        sd.apply(&m).unwrap();
        let b = Entry::new(parse_args("INSTANCE", "VI_1", "BACKUP", "150").unwrap(), t);
        sd.apply(&b).unwrap();
        assert_eq!(
            names(sd.dir()),
            ["kv_VI_1.BACKUP", "kv_VI_1.current", "kv_VI_1.event"]
        );
        let text = std::fs::read_to_string(path(&sd, "VI_1", "BACKUP")).unwrap();
        assert_eq!(
            text,
            format!("@{} INSTANCE \"VI_1\" BACKUP 150\n", t.to_hex())
        );
        assert_eq!(
            std::fs::read_to_string(path(&sd, "VI_1", "current")).unwrap(),
            "BACKUP\n"
        );
        assert_eq!(sd.journal("VI_1"), Some(b.clone()));
        assert_eq!(sd.unfinished(), std::slice::from_ref(&b));
        sd.mark_done(&b).unwrap();
        assert!(sd.unfinished().is_empty());
        assert!(sd.journal("VI_1").unwrap().hooks_done);
    }

    #[test]
    fn stale_temps_of_ours_are_removed_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path(), "kv_{name}");
        for n in [
            ".kv_VI_1.MASTER.0123456789abcdef.tmp",
            ".kv_VI_1.event.0123456789abcdef.tmp",
            ".other.MASTER.0123456789abcdef.tmp",
            ".kv_VI_1.ERROR.0123456789abcdef.tmp",
        ] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        sd.remove_stale_temps();
        assert_eq!(
            names(dir.path()),
            [
                ".kv_VI_1.ERROR.0123456789abcdef.tmp",
                ".other.MASTER.0123456789abcdef.tmp"
            ]
        );
    }
}
