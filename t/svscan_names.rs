//! svscan looks only at the names inotify reports (a whole read of the dir
//! only at start, on SIGHUP/SIGALRM and after an overflow): a burst of
//! appearing, hidden and renamed dirs, a link beside its dir, a link whose
//! target is made later inside the scan dir itself.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SVSCAN: &str = env!("CARGO_BIN_EXE_svscan");
const T: Duration = Duration::from_secs(10);
const SLEEPER: &str = "#!/bin/sh\nexec sleep 1000\n";

/// A scan dir (`tmp/scan`), dirs made aside in `tmp/aside`, and svscan.
/// Dropping it stops svscan and kills whatever outlived it.
struct Scan {
    tmp: tempfile::TempDir,
    svscan: Option<Child>,
}

impl Scan {
    fn new() -> Scan {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("scan")).unwrap();
        fs::create_dir(tmp.path().join("aside")).unwrap();
        Scan { tmp, svscan: None }
    }
    fn dir(&self, name: &str) -> PathBuf {
        self.tmp.path().join("scan").join(name)
    }
    /// A service dir made aside, whole: `down` if it must not run.
    fn make(&self, name: &str, down: bool) -> PathBuf {
        let d = self.tmp.path().join("aside").join(name);
        fs::create_dir_all(&d).unwrap();
        write_exec(&d.join("run"), SLEEPER);
        if down {
            fs::write(d.join("down"), "").unwrap();
        }
        d
    }
    fn start(&mut self) {
        let child = Command::new(SVSCAN)
            .arg(self.dir(""))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.svscan = Some(child);
    }
    fn up(&self, name: &str) -> bool {
        read_pid(&self.dir(name)) != 0 && supervisor_of(&self.dir(name)).is_some()
    }
}

/// The supervise holding DIR's lock, from /proc/locks.
fn supervisor_of(dir: &Path) -> Option<u32> {
    upkeep::lock::flock_holder(&dir.join("supervise/lock"))
        .ok()
        .flatten()
}

/// Every service dir under `root`, at any depth below the scan dir.
fn service_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(root).into_iter().flatten().flatten() {
        let p = e.path();
        if p.join("supervise").is_dir() {
            out.push(p.clone());
        }
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(service_dirs(&p));
        }
    }
    out
}

impl Drop for Scan {
    fn drop(&mut self) {
        if let Some(mut child) = self.svscan.take() {
            signal(child.id() as i32, Signal::SIGTERM);
            let end = Instant::now() + T;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for dir in service_dirs(self.tmp.path()) {
            if let Some(sup) = supervisor_of(&dir) {
                signal(sup as i32, Signal::SIGKILL);
            }
            let pid = read_pid(&dir);
            if pid > 1 && alive(pid) {
                signal(-(pid as i32), Signal::SIGKILL);
            }
        }
    }
}

/// Many changes at once, read from inotify in one go: the dirs moved in
/// are supervised, those hidden are stopped, those renamed keep their
/// supervise, those untouched too.
#[test]
fn a_burst_of_changes_leaves_exactly_what_is_there_supervised() {
    let mut scan = Scan::new();
    scan.start();
    let name = |i: usize| format!("s{i}");
    for i in 0..60 {
        fs::rename(scan.make(&name(i), true), scan.dir(&name(i))).unwrap();
    }
    wait_for("60 supervised", T, || {
        (0..60).all(|i| supervisor_of(&scan.dir(&name(i))).is_some())
    });
    let before: Vec<u32> = (0..60)
        .map(|i| supervisor_of(&scan.dir(&name(i))).unwrap())
        .collect();
    for i in 0..20 {
        fs::rename(scan.dir(&name(i)), scan.dir(&format!(".{}", name(i)))).unwrap();
    }
    for i in 20..40 {
        fs::rename(scan.dir(&name(i)), scan.dir(&format!("r{i}"))).unwrap();
    }
    for i in 60..70 {
        fs::rename(scan.make(&name(i), true), scan.dir(&name(i))).unwrap();
    }
    wait_for("the new ones supervised", T, || {
        (60..70).all(|i| supervisor_of(&scan.dir(&name(i))).is_some())
    });
    wait_for("the hidden ones stopped", T, || {
        (0..20).all(|i| supervisor_of(&scan.dir(&format!(".{}", name(i)))).is_none())
    });
    for (i, &sup) in before.iter().enumerate().skip(20) {
        let now = if i < 40 { format!("r{i}") } else { name(i) };
        assert_eq!(
            supervisor_of(&scan.dir(&now)),
            Some(sup),
            "{now} (renamed if r): not the same supervise"
        );
    }
}

/// `y -> x` beside the service dir `x`: two names for one service. Removing
/// the link leaves the service alone.
#[test]
fn removing_a_link_beside_its_dir_keeps_the_service() {
    let mut scan = Scan::new();
    fs::rename(scan.make("x", false), scan.dir("x")).unwrap();
    scan.start();
    wait_for("x up", T, || scan.up("x"));
    let (sup, run) = (supervisor_of(&scan.dir("x")), read_pid(&scan.dir("x")));
    symlink("x", scan.dir("y")).unwrap();
    // Events are handled in order: once `a` is up, `y` was looked at.
    fs::rename(scan.make("a", false), scan.dir("a")).unwrap();
    wait_for("a up", T, || scan.up("a"));
    fs::remove_file(scan.dir("y")).unwrap();
    fs::rename(scan.make("b", false), scan.dir("b")).unwrap();
    wait_for("b up", T, || scan.up("b"));
    assert_eq!(
        supervisor_of(&scan.dir("x")),
        sup,
        "x's supervise was stopped"
    );
    assert_eq!(read_pid(&scan.dir("x")), run);
    assert!(alive(run));
}

/// A link whose target is made later inside the scan dir itself (under a
/// dot dir, no service of its own): the link is looked at again when the
/// target appears.
#[test]
fn a_link_into_the_scan_dir_waits_for_its_target() {
    let mut scan = Scan::new();
    symlink(".store/x", scan.dir("x")).unwrap();
    fs::rename(scan.make("other", false), scan.dir("other")).unwrap();
    scan.start();
    wait_for("other up", T, || scan.up("other"));
    fs::create_dir(scan.dir(".store")).unwrap();
    fs::rename(scan.make("x", false), scan.dir(".store/x")).unwrap();
    wait_for("x up once its target exists", T, || scan.up("x"));
}

/// What inotify on the scan dir cannot see — the target of a link switched
/// elsewhere (`app -> /srv/app/current`, `current` replaced) — SIGHUP
/// makes svscan read the whole dir again: the new target is a new service,
/// the old one is stopped.
#[test]
fn sighup_reads_the_whole_dir_again() {
    let mut scan = Scan::new();
    let aside = scan.tmp.path().join("aside");
    let (one, two) = (scan.make("one", false), scan.make("two", false));
    symlink("one", aside.join("current")).unwrap();
    symlink(aside.join("current"), scan.dir("app")).unwrap();
    scan.start();
    wait_for("app up", T, || scan.up("app"));
    symlink("two", aside.join("current.new")).unwrap();
    fs::rename(aside.join("current.new"), aside.join("current")).unwrap();
    signal(scan.svscan.as_ref().unwrap().id() as i32, Signal::SIGHUP);
    wait_for("the new target supervised, the old one stopped", T, || {
        supervisor_of(&two).is_some() && supervisor_of(&one).is_none()
    });
}

/// A service moved out of the scan dir (no new name inside it) is stopped;
/// one renamed inside it keeps running.
#[test]
fn a_service_moved_out_is_stopped() {
    let mut scan = Scan::new();
    fs::rename(scan.make("out", false), scan.dir("out")).unwrap();
    fs::rename(scan.make("in", false), scan.dir("in")).unwrap();
    scan.start();
    wait_for("both up", T, || scan.up("out") && scan.up("in"));
    let kept = supervisor_of(&scan.dir("in"));
    let away = scan.tmp.path().join("away");
    fs::rename(scan.dir("out"), &away).unwrap();
    fs::rename(scan.dir("in"), scan.dir("in2")).unwrap();
    wait_for("the moved-out service stopped", T, || {
        supervisor_of(&away).is_none()
    });
    assert_eq!(supervisor_of(&scan.dir("in2")), kept);
}

/// One service dir behind two links in the scan dir (`y` and `z` to
/// `.real`): removing either link, whichever svscan knows it by, leaves
/// the service running.
#[test]
fn one_of_two_links_removed_keeps_the_service() {
    let mut scan = Scan::new();
    fs::rename(scan.make("real", false), scan.dir(".real")).unwrap();
    symlink(".real", scan.dir("y")).unwrap();
    symlink(".real", scan.dir("z")).unwrap();
    scan.start();
    wait_for("up", T, || scan.up(".real"));
    let sup = supervisor_of(&scan.dir(".real"));
    for link in ["y", "z"] {
        fs::remove_file(scan.dir(link)).unwrap();
        // Events are handled in order: once `a_LINK` is up, the removal
        // was looked at.
        let marker = format!("a_{link}");
        fs::rename(scan.make(&marker, false), scan.dir(&marker)).unwrap();
        wait_for(&marker, T, || scan.up(&marker));
        assert_eq!(
            supervisor_of(&scan.dir(".real")),
            sup,
            "removing {link} stopped the service"
        );
        symlink(".real", scan.dir(link)).unwrap();
    }
}

/// A dir without `run` and a link to it, both in the scan dir, then `run`
/// made: the service is known under both names, so removing the link
/// leaves it running.
#[test]
fn a_link_to_a_dir_still_without_run_is_a_second_name() {
    let mut scan = Scan::new();
    scan.start();
    fs::create_dir(scan.dir("x")).unwrap();
    symlink("x", scan.dir("y")).unwrap();
    fs::rename(scan.make("a", false), scan.dir("a")).unwrap();
    wait_for("a up (x and y looked at)", T, || scan.up("a"));
    write_exec(&scan.dir("x/run.tmp"), SLEEPER);
    fs::rename(scan.dir("x/run.tmp"), scan.dir("x/run")).unwrap();
    wait_for("x up", T, || scan.up("x"));
    let sup = supervisor_of(&scan.dir("x"));
    fs::remove_file(scan.dir("y")).unwrap();
    fs::rename(scan.make("b", false), scan.dir("b")).unwrap();
    wait_for("b up (y's removal looked at)", T, || scan.up("b"));
    assert_eq!(supervisor_of(&scan.dir("x")), sup, "removing y stopped x");
}
