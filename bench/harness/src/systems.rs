//! The four systems under test: their programs and how each one's status says
//! which pid runs a service.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sys {
    Daemontools,
    Runit,
    S6,
    Upkeep,
}

pub const ALL: [Sys; 4] = [Sys::Daemontools, Sys::Runit, Sys::S6, Sys::Upkeep];
pub const PEERS: [Sys; 3] = [Sys::Daemontools, Sys::Runit, Sys::S6];

impl Sys {
    pub fn name(self) -> &'static str {
        match self {
            Sys::Daemontools => "daemontools",
            Sys::Runit => "runit",
            Sys::S6 => "s6",
            Sys::Upkeep => "upkeep",
        }
    }

    pub fn idx(self) -> usize {
        self as usize
    }
}

/// Where each system's programs are. Peers come from Debian (/usr/bin);
/// upkeep's from the dist build (fat LTO) of this repository.
pub struct Bins {
    pub upkeep: PathBuf,
}

impl Bins {
    fn up(&self, prog: &str) -> String {
        self.upkeep.join(prog).to_string_lossy().into_owned()
    }

    /// The one-service supervisor, as argv for `dir`.
    pub fn supervisor(&self, sys: Sys, dir: &Path) -> Vec<String> {
        let d = dir.to_string_lossy().into_owned();
        match sys {
            Sys::Daemontools => vec!["/usr/bin/supervise".into(), d],
            Sys::Runit => vec!["/usr/bin/runsv".into(), d],
            Sys::S6 => vec!["/usr/bin/s6-supervise".into(), d],
            Sys::Upkeep => vec![self.up("supervise"), d],
        }
    }

    /// The scanner of a directory of services, as argv.
    pub fn scanner(&self, sys: Sys, dir: &Path) -> Vec<String> {
        let d = dir.to_string_lossy().into_owned();
        match sys {
            Sys::Daemontools => vec!["/usr/bin/svscan".into(), d],
            Sys::Runit => vec!["/usr/bin/runsvdir".into(), d],
            Sys::S6 => vec!["/usr/bin/s6-svscan".into(), d],
            Sys::Upkeep => vec![self.up("svscan"), d],
        }
    }

    /// The command name of each supervisor process (to pick them among a
    /// scanner's children).
    pub fn supervisor_comm(sys: Sys) -> &'static str {
        match sys {
            Sys::Daemontools | Sys::Upkeep => "supervise",
            Sys::Runit => "runsv",
            Sys::S6 => "s6-supervise",
        }
    }

    pub fn upkeep_prog(&self, prog: &str) -> String {
        self.up(prog)
    }
}

/// The pid the supervisor's status record names for `dir`'s service: Some(0)
/// when it says down, None when the record is missing or short.
pub fn status_pid(sys: Sys, dir: &Path) -> Option<u32> {
    match sys {
        // daemontools' 18-byte record, kept by upkeep: pid at 12..16, LE.
        Sys::Daemontools | Sys::Upkeep => {
            let b = fs::read(dir.join("supervise/status")).ok()?;
            (b.len() >= 18).then(|| u32::from_le_bytes([b[12], b[13], b[14], b[15]]))
        }
        // runsv rewrites supervise/pid (text, empty when down) first of its
        // three status files, so it is the earliest place the pid shows.
        Sys::Runit => {
            let t = fs::read_to_string(dir.join("supervise/pid")).ok()?;
            let t = t.trim();
            if t.is_empty() {
                Some(0)
            } else {
                t.parse().ok()
            }
        }
        // s6-supervise's record (35 bytes in 2.11, 43 later): two TAI64N
        // stamps, then the pid as a 64-bit big-endian number at 24..32.
        Sys::S6 => {
            let b = fs::read(dir.join("supervise/status")).ok()?;
            if b.len() < 35 {
                return None;
            }
            let mut p = [0u8; 8];
            p.copy_from_slice(&b[24..32]);
            u32::try_from(u64::from_be_bytes(p)).ok()
        }
    }
}

/// Writes an executable `run` script into `dir` (created if needed).
pub fn write_run(dir: &Path, body: &str) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let run = dir.join("run");
    fs::write(&run, format!("#!/bin/sh\n{body}"))
        .map_err(|e| format!("write {}: {e}", run.display()))?;
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", run.display()))
}

/// The long-running service every figure uses: a shell that becomes sleep.
pub const SLEEPER: &str = "exec sleep 1000000\n";
