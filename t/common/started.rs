//! A process a test started, its stderr kept in a file, and ended when the
//! test ends, pass or fail.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{read_pid, signal, Signal, SUPERVISE};

/// A process this test started, with its stderr in a file; killed (with
/// its process group's service, if it recorded one) when dropped, pass or
/// fail.
pub struct Started {
    pub child: Child,
    err: PathBuf,
    dir: Option<PathBuf>,
}

impl Started {
    pub fn supervise(dir: &Path, scratch: &Path) -> Started {
        Started::spawn(Command::new(SUPERVISE).arg(dir), scratch, Some(dir))
    }

    pub fn spawn(cmd: &mut Command, scratch: &Path, dir: Option<&Path>) -> Started {
        let err = scratch.join(format!("stderr.{}", fs::read_dir(scratch).unwrap().count()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Started {
            child,
            err,
            dir: dir.map(Path::to_path_buf),
        }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        super::exited(&mut self.child, limit)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let pid = self.dir.as_deref().map(read_pid).unwrap_or(0);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if pid > 0 {
            signal(-(pid as i32), Signal::SIGKILL);
        }
    }
}
