//! The loop (or any run) under a supervise, as `pppoe-stop --service`
//! finds it: shared by the tests that stop it through supervise.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::common::{eventually, wait_for, write_exec};
use crate::fixture::{bin, wait_child, World};

/// A supervise on a service dir, told to exit (and killed) when dropped.
pub struct Supervised {
    pub dir: PathBuf,
    pub sup: Child,
}

impl Supervised {
    pub fn new(w: &World, run: &str) -> Supervised {
        let dir = w.path("service");
        fs::create_dir_all(&dir).unwrap();
        write_exec(&dir.join("run"), run);
        let sup = start_supervise(w, &dir);
        // Ready once its control fifo takes a command.
        assert!(eventually(Duration::from_secs(20), || {
            dir.join("supervise/control").exists()
                && upkeep::status::read_status(&dir).is_ok_and(|s| s.is_some())
        }));
        Supervised { dir, sup }
    }

    /// pppoe-connect on `w`'s config as the service.
    pub fn pppoe_connect(w: &World) -> Supervised {
        Supervised::new(w, &pppoe_connect_run(w))
    }

    pub fn status(&self) -> Option<upkeep::status::Status> {
        upkeep::status::read_status(&self.dir).ok().flatten()
    }

    /// Told `u`, until the ISP has the session: the loop's pid.
    pub fn up(&self, w: &World) -> i32 {
        upkeep::control::send(&self.dir, b"u").unwrap();
        assert!(w.wait_session());
        self.status().unwrap().pid as i32
    }

    /// kill -9 the supervise (if it still runs).
    pub fn kill_supervise(&mut self) {
        let _ = self.sup.kill();
        let _ = self.sup.wait();
    }

    /// kill -9 the supervise, then start another on the same dir, as
    /// svscan would, and wait until it runs; it adopts a loop that still
    /// runs.
    pub fn restart_supervise(&mut self, w: &World) {
        self.kill_supervise();
        self.sup = start_supervise(w, &self.dir);
        wait_for("the new supervise", Duration::from_secs(20), || {
            upkeep::control::supervise_running(&self.dir).unwrap_or(false)
        });
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        let _ = upkeep::control::send(&self.dir, b"dx");
        if wait_child(&mut self.sup, Duration::from_secs(10)).is_none() {
            let _ = self.sup.kill();
            let _ = self.sup.wait();
        }
    }
}

fn start_supervise(w: &World, dir: &Path) -> Child {
    w.cmd("supervise")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A run script exec'ing pppoe-connect on `w`'s config.
pub fn pppoe_connect_run(w: &World) -> String {
    format!(
        "#!/bin/sh\nexec {} {}\n",
        bin("pppoe-connect").display(),
        w.conf().display()
    )
}
