//! Claims of the man pages in doc/ about svscan, svscanboot and
//! pppoe-start that no other test checked (the rest: t/manclaims.rs).
//! Each test names the page it holds to.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{
    code, ppid, read_pid, run_on, signal, stderr, terminate, wait_for, write_exec, Signal, SVOK,
};

const T: Duration = Duration::from_secs(10);

use common::TermOnDrop as Boot;

fn svscanboot(scan: &Path) -> Boot {
    Boot(
        Command::new(env!("CARGO_BIN_EXE_svscanboot"))
            .arg(scan)
            .env("MANCLAIMS_MARK", "leaked")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// svscanboot(8): services get a clean environment, only PATH.
#[test]
fn svscanboot_gives_only_path() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = tmp.path().join("service");
    fs::create_dir_all(scan.join("env")).unwrap();
    write_exec(
        &scan.join("env/run"),
        "#!/bin/sh\nenv > env.tmp\nmv env.tmp env.out\nexec sleep 1207\n",
    );
    let _boot = svscanboot(&scan);
    wait_for("env recorded", T, || scan.join("env/env.out").exists());
    let env = fs::read_to_string(scan.join("env/env.out")).unwrap();
    // What sh itself adds is not svscanboot's doing.
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(n, _)| n))
        .filter(|n| !matches!(*n, "PWD" | "OLDPWD" | "SHLVL" | "_"))
        .collect();
    assert_eq!(names, ["PATH"], "{env}");
    wait_for("service up", T, || read_pid(&scan.join("env")) != 0);
}

/// svscanboot(8): its exit status is svscan's, 128 plus the signal number
/// when svscan was killed.
#[test]
fn svscanboot_exits_with_svscans_status() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = tmp.path().join("service");
    fs::create_dir(&scan).unwrap();
    let mut boot = svscanboot(&scan);
    let pid = boot.0.id();
    let mut svscan = 0;
    wait_for("svscan started", T, || {
        svscan = children(pid)
            .into_iter()
            .find(|c| comm(*c) == "svscan")
            .unwrap_or(0);
        svscan != 0
    });
    signal(svscan as i32, Signal::SIGKILL);
    let mut status = None;
    wait_for("svscanboot to exit", T, || {
        status = boot.0.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(128 + 9));
}

/// svscan(8): 111 when dir cannot be used.
#[test]
fn svscan_exits_111_on_an_unusable_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    for dir in [tmp.path().join("missing"), file] {
        let out = Command::new(env!("CARGO_BIN_EXE_svscan"))
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(111), "{}: {out:?}", dir.display());
        assert!(stderr(&out).starts_with("svscan: fatal: "), "{out:?}");
    }
}

/// A running svscan, stopped with everything it started when dropped.
struct Scan(Child);

impl Drop for Scan {
    fn drop(&mut self) {
        terminate(&mut self.0, T);
    }
}

/// svscan(8): it runs the supervise installed beside it (not PATH's
/// daemontools one), each in a process group of its own, and as a child
/// subreaper it gets the services a killed supervise leaves behind.
#[test]
fn svscan_runs_its_own_supervise_in_its_own_group_and_reaps_orphans() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let built = Path::new(env!("CARGO_BIN_EXE_svscan")).parent().unwrap();
    for p in ["svscan", "supervise"] {
        fs::copy(built.join(p), bin.join(p)).unwrap();
    }
    let scan = tmp.path().join("service");
    fs::create_dir_all(scan.join("a")).unwrap();
    write_exec(&scan.join("a/run"), "#!/bin/sh\nexec sleep 1212\n");
    let svscan = Scan(
        Command::new(bin.join("svscan"))
            .arg(&scan)
            // Where daemontools' supervise is.
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let a = scan.join("a");
    wait_for("a up", T, || read_pid(&a) != 0);
    let sup = children(svscan.0.id())
        .into_iter()
        .find(|c| comm(*c) == "supervise")
        .expect("a supervise child");
    assert_eq!(
        fs::read_link(format!("/proc/{sup}/exe")).unwrap(),
        bin.join("supervise")
    );
    let pgid = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(sup as i32))).unwrap();
    assert_eq!(pgid.as_raw(), sup as i32, "supervise is not a group leader");
    let run = read_pid(&a);
    signal(sup as i32, Signal::SIGKILL);
    wait_for("the orphaned run reparented to svscan", T, || {
        ppid(run) == svscan.0.id()
    });
    // Only a supervise stops it: wait for the replacement to adopt it
    // (svscan's SIGTERM leaves a service whose supervise is dead running).
    wait_for("run adopted by a new supervise", T, || {
        run_status(SVOK, &a) == Some(0) && read_pid(&a) == run
    });
}

fn run_status(program: &str, dir: &Path) -> Option<i32> {
    code(&run_on(program, &[], &[dir]))
}

/// A pppoe config in a temp dir whose pppd is `pppd_script`; the loop is
/// stopped with pppoe-stop when dropped.
struct Pppoe {
    tmp: tempfile::TempDir,
}

impl Pppoe {
    fn new(pppd_script: &str, extra: &str) -> Pppoe {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_exec(&d.join("pppd"), pppd_script);
        fs::write(
            d.join("pppoe.conf"),
            format!(
                "ETH=eth0\nUSER=x\nPIDFILE={}/pppoe.pid\nPPPD={}/pppd\nRETRY_DELAY=10s\nLOST_HOOK=\n{extra}",
                d.display(),
                d.display()
            ),
        )
        .unwrap();
        Pppoe { tmp }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.tmp.path().join(name)
    }

    fn start(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pppoe-start"))
            .arg(self.path("pppoe.conf"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn stop(&self) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pppoe-stop"))
            .arg(self.path("pppoe.conf"))
            .args(["-T", "2s"])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Pppoe {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// pppoe-start(8): 0 once the loop runs pppd (not once the link is up),
/// with -T 0 once it holds its lock; --log gets the loop's output; 111
/// for an unreadable config, 100 for one that cannot be parsed or a
/// usage error.
#[test]
fn pppoe_start_exit_codes_and_log() {
    let p = Pppoe::new("#!/bin/sh\nexec sleep 1213\n", "FOO=1\n");
    let log = p.path("loop.log");
    let out = p.start(&["-T", "5s", "--log", log.to_str().unwrap()]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(
        fs::read_to_string(p.path("pppoe.pid.state"))
            .unwrap()
            .trim(),
        "running"
    );
    let pppd: u32 = fs::read_to_string(p.path("pppoe.pid.pppd"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(common::alive(pppd));
    assert_eq!(code(&p.stop()), Some(0));
    // The loop's own warning, from its stderr.
    wait_for("the loop's warning in the log", T, || {
        fs::read_to_string(&log).is_ok_and(|l| l.contains("pppoe-connect: warning:"))
    });

    // A pppd that fails at once: -T 0 does not wait for it.
    let p = Pppoe::new("#!/bin/sh\nexit 1\n", "");
    let out = p.start(&["-T", "0"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(code(&p.stop()), Some(0));

    let out = Command::new(env!("CARGO_BIN_EXE_pppoe-start"))
        .arg(p.path("missing.conf"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(111), "{out:?}");
    fs::write(p.path("bad.conf"), "ETH=eth0\nUSER=x\nfoo bar\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pppoe-start"))
        .arg(p.path("bad.conf"))
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(100), "{out:?}");
    assert!(stderr(&out).contains("line 3"), "{out:?}");
    let out = p.start(&["-Z"]);
    assert_eq!(code(&out), Some(100), "{out:?}");
}

/// svscan(8): SIGALRM forces a rescan and stops nothing; SIGINT stops
/// every service and svscan exits 0, as SIGTERM does.
#[test]
fn svscan_sigalrm_rescans_and_sigint_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = tmp.path().join("service");
    fs::create_dir_all(scan.join("a")).unwrap();
    write_exec(&scan.join("a/run"), "#!/bin/sh\nexec sleep 1219\n");
    let mut svscan = Scan(
        Command::new(env!("CARGO_BIN_EXE_svscan"))
            .arg(&scan)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let a = scan.join("a");
    wait_for("a up", T, || read_pid(&a) != 0);
    let run = read_pid(&a);
    signal(svscan.0.id() as i32, Signal::SIGALRM);
    fs::create_dir_all(scan.join("b")).unwrap();
    write_exec(&scan.join("b/run"), "#!/bin/sh\nexec sleep 1220\n");
    wait_for("b up", T, || read_pid(&scan.join("b")) != 0);
    assert_eq!(read_pid(&a), run, "SIGALRM restarted a");
    assert!(
        svscan.0.try_wait().unwrap().is_none(),
        "SIGALRM ended svscan"
    );
    let b = read_pid(&scan.join("b"));
    signal(svscan.0.id() as i32, Signal::SIGINT);
    let mut status = None;
    wait_for("svscan to exit", T, || {
        status = svscan.0.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(0));
    assert!(
        !common::alive(run) && !common::alive(b),
        "a service outlived svscan"
    );
}

fn is_root() -> bool {
    common::need_root("a mount namespace and chroot")
}

/// A throw-away root for svscanboot, entered in a private mount
/// namespace: `binds` (directories of /usr) are bind-mounted there only in
/// that namespace; /upkeep holds copies of `programs`.
struct Jail {
    tmp: Option<tempfile::TempDir>,
    binds: Vec<&'static str>,
}

impl Jail {
    fn new(binds: &[&'static str], programs: &[&str]) -> Jail {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for d in binds.iter().chain(&["upkeep", "service"]) {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        for (link, to) in [
            ("bin", "usr/bin"),
            ("sbin", "usr/sbin"),
            ("lib", "usr/lib"),
            ("lib64", "usr/lib64"),
        ] {
            symlink(to, root.join(link)).unwrap();
        }
        let built = Path::new(env!("CARGO_BIN_EXE_svscanboot"))
            .parent()
            .unwrap();
        for p in programs {
            fs::copy(built.join(p), root.join("upkeep").join(p)).unwrap();
        }
        Jail {
            tmp: Some(tmp),
            binds: binds.to_vec(),
        }
    }

    fn root(&self) -> &Path {
        self.tmp.as_ref().unwrap().path()
    }

    /// `chroot ROOT /upkeep/svscanboot` with no argument, in a mount
    /// namespace of its own (private: nothing it mounts is seen here).
    fn boot(&self) -> Child {
        let mut script = String::from("set -e\nmount --make-rprivate /\n");
        for d in &self.binds {
            script.push_str(&format!("mount --rbind /{d} \"$1/{d}\"\n"));
        }
        script.push_str("exec chroot \"$1\" /upkeep/svscanboot\n");
        Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
                "sh",
            ])
            .arg(self.root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Jail {
    fn drop(&mut self) {
        // The binds never reach this namespace; should one have, keep the
        // directory rather than delete through it.
        let empty = self
            .binds
            .iter()
            .all(|d| fs::read_dir(self.root().join(d)).is_ok_and(|mut e| e.next().is_none()));
        if !empty {
            let kept = self.tmp.take().unwrap().keep();
            eprintln!("not removing {}: a mount is visible there", kept.display());
        }
    }
}

/// svscanboot(8): without an argument it runs svscan on /service.
#[test]
fn svscanboot_default_dir_is_service() {
    if !is_root() {
        return;
    }
    let jail = Jail::new(
        &["usr", "dev", "proc"],
        &["svscanboot", "svscan", "supervise", "readproctitle"],
    );
    let x = jail.root().join("service/x");
    fs::create_dir(&x).unwrap();
    write_exec(
        &x.join("run"),
        "#!/bin/sh\necho ok > seen\nexec sleep 1221\n",
    );
    let mut boot = Boot(jail.boot());
    wait_for("the service in /service started", T, || {
        x.join("seen").exists()
    });
    signal(boot.0.id() as i32, Signal::SIGTERM);
    let status = boot.0.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

/// svscanboot(8): 111, saying which, when svscan or readproctitle cannot
/// be started.
#[test]
fn svscanboot_exits_111_without_svscan_or_readproctitle() {
    if !is_root() {
        return;
    }
    // Only the libraries, /dev and /proc: no svscan anywhere on the PATH.
    for (programs, missing) in [
        (&["svscanboot"][..], "readproctitle"),
        (&["svscanboot", "readproctitle"][..], "svscan"),
    ] {
        let jail = Jail::new(&["usr/lib", "usr/lib64", "dev", "proc"], programs);
        let out = jail.boot().wait_with_output().unwrap();
        assert_eq!(code(&out), Some(111), "{out:?}");
        assert_eq!(
            stderr(&out),
            format!("svscanboot: fatal: unable to start {missing}: file does not exist\n")
        );
    }
}
