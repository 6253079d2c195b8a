//! The state files of DESIGN §9: STATEDIR/PREFIX.{MASTER,BACKUP,FAULT,STOP}
//! (at most one at any instant) and STATEDIR/PREFIX.current.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::errors::Failure;
use crate::runtimefile;
use crate::tai64::Tai64N;

use super::line::{Event, STATES};

pub struct StateDir {
    dir: PathBuf,
    /// May contain `{name}`, replaced by the instance or group name.
    prefix: String,
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

    pub fn prefix_for(&self, name: &str) -> String {
        self.prefix.replace("{name}", name)
    }

    /// STATEDIR/PREFIX.SUFFIX for an event's name.
    pub fn path(&self, name: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{}.{suffix}", self.prefix_for(name)))
    }

    /// Create the state directory if missing (/run is empty at boot).
    pub fn ensure(&self) -> Result<(), Failure> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&self.dir)
            .map_err(|e| Failure::io(format!("unable to create {}", self.dir.display()), &e))
    }

    /// Record `event`: remove the other state files first, then rename the
    /// new one into place, so a reader never sees two (for an instant,
    /// none); then PREFIX.current. Every step is tried; the first failure
    /// is returned.
    pub fn record(&self, event: &Event, at: Tai64N) -> Result<(), Failure> {
        // /run may have been cleaned under a long-running reader.
        self.ensure()?;
        let mut first: Option<Failure> = None;
        let mut note = |f: Failure| {
            if first.is_none() {
                first = Some(f);
            }
        };
        for s in STATES {
            if s != event.state {
                let p = self.path(&event.name, s.name());
                if let Err(e) = runtimefile::remove_if_exists(&p) {
                    note(Failure::io(format!("unable to remove {}", p.display()), &e));
                }
            }
        }
        let p = self.path(&event.name, event.state.name());
        let content = format!("@{} {event}\n", at.to_hex());
        if let Err(e) = runtimefile::write_atomic(&p, content.as_bytes()) {
            note(Failure::io(format!("unable to write {}", p.display()), &e));
        }
        let p = self.path(&event.name, "current");
        if let Err(e) =
            runtimefile::write_atomic(&p, format!("{}\n", event.state.name()).as_bytes())
        {
            note(Failure::io(format!("unable to write {}", p.display()), &e));
        }
        match first {
            None => Ok(()),
            Some(f) => Err(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::line::parse_args;
    use super::*;

    #[test]
    fn one_state_file_and_current() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDir::new(dir.path().join("run"), "kv_{name}");
        sd.ensure().unwrap();
        let t = Tai64N::now();
        sd.record(&parse_args("INSTANCE", "VI_1", "MASTER", "150").unwrap(), t)
            .unwrap();
        sd.record(&parse_args("INSTANCE", "VI_1", "BACKUP", "150").unwrap(), t)
            .unwrap();
        let mut names: Vec<String> = std::fs::read_dir(sd.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["kv_VI_1.BACKUP", "kv_VI_1.current"]);
        let text = std::fs::read_to_string(sd.path("VI_1", "BACKUP")).unwrap();
        assert_eq!(
            text,
            format!("@{} INSTANCE \"VI_1\" BACKUP 150\n", t.to_hex())
        );
        assert_eq!(
            std::fs::read_to_string(sd.path("VI_1", "current")).unwrap(),
            "BACKUP\n"
        );
    }
}
