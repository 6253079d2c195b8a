//! A stop ends the loop whatever the config says and whatever pppd left
//! behind; runtime files and the shipped lost hook stand up to planted
//! symlinks and to other spellings of the same path.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{eventually, write_exec};
use crate::fixture::{alive, text, wait_child, Opts, World};
use crate::supervised::Supervised;

pub fn all() -> Vec<(&'static str, fn())> {
    tests![
        stop_service_despite_broken_config,
        stop_service_broken_config_kills_a_stuck_pair,
        stop_service_kills_a_stuck_pair_at_the_limit,
        pppd_descendants_never_wedge_the_pair,
        state_never_says_running_for_a_dead_loop,
        runtime_dir_writable_by_others_refused,
        adsl_lost_writes_error_safely,
        adsl_lost_compares_resolved_paths,
    ]
}

/// Processes a test's scripts started on their own (pids in a file),
/// killed when dropped if they still run `sleep`.
struct Strays(PathBuf);

impl Strays {
    fn pids(&self) -> Vec<i32> {
        fs::read_to_string(&self.0)
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Strays {
    fn drop(&mut self) {
        for p in self.pids() {
            let comm = fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// With --service, a config pppoe-stop cannot use (a line it cannot parse,
/// a relative PIDFILE, no file at all) does not keep the loop up: the
/// service goes down, the loop and its pppd are gone, the problem is said
/// afterwards, and the exit code says the stop worked. Without --service
/// it is a clear fatal error.
fn stop_service_despite_broken_config() {
    let w = World::new(Opts::default());
    let s = Supervised::pppoe_connect(&w);
    let good = w.read("pppoe.conf");
    let n = good.lines().count() + 1;
    let svc = s.dir.to_str().unwrap().to_string();
    for (what, broken, says) in [
        (
            "rp-pppoe line",
            Some(format!("{good}USER=two words\n")),
            format!("line {n}: unquoted space"),
        ),
        (
            "relative PIDFILE",
            Some(format!("{good}PIDFILE=pppoe.pid\n")),
            format!("line {n}: PIDFILE must be an absolute path"),
        ),
        ("no config", None, "file does not exist".to_string()),
    ] {
        fs::write(w.conf(), &good).unwrap();
        upkeep::control::send(&s.dir, b"u").unwrap();
        assert!(w.wait_session(), "{what}: no session");
        let pppd = w.pppd_pid();
        let looped = s.status().unwrap().pid;
        match &broken {
            Some(t) => fs::write(w.conf(), t).unwrap(),
            None => fs::remove_file(w.conf()).unwrap(),
        }
        let o = w.stop(&["--service", &svc]);
        assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            err.starts_with("pppoe-stop: warning: ") && err.contains(&says),
            "{what}: {err}"
        );
        let st = s.status().unwrap();
        assert_eq!((st.pid, st.want), (0, upkeep::status::Want::Down), "{what}");
        assert!(!alive(looped as i32), "{what}: loop left running");
        assert!(!alive(pppd), "{what}: pppd left running");
        assert_eq!(w.sessions(), Vec::<String>::new(), "{what}: session left");
        // Without --service: nothing to act through, a fatal error.
        let o = w.stop(&[]);
        let code = if broken.is_some() { 100 } else { 111 };
        assert_eq!(o.status.code(), Some(code), "{what}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            err.starts_with("pppoe-stop: fatal: ") && err.contains(&says),
            "{what}: {err}"
        );
    }
}

/// `pppoe-stop --service -T 300ms` on a loop and pppd deaf to TERM:
/// exits 0 once both are KILLed, past 300 ms and well before the loop's
/// own minute, and supervise reports the service down.
fn stop_kills_the_pair_at_300ms(w: &World, s: &Supervised, looped: i32, pppd: i32) {
    let t = Instant::now();
    let o = w.stop(&["--service", s.dir.to_str().unwrap(), "-T", "300ms"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(!alive(looped) && !alive(pppd));
    let st = s.status().unwrap();
    assert_eq!((st.pid, st.want), (0, upkeep::status::Want::Down));
}

/// The same with a pppd that ignores TERM under a loop that would wait a
/// minute for it: past -T the loop and its pppd (pinned while the loop was
/// alive) are KILLed, and the stop still succeeds.
fn stop_service_broken_config_kills_a_stuck_pair() {
    let w = World::with_pppd_deaf_to_term("60s");
    let s = Supervised::pppoe_connect(&w);
    let looped = s.up(&w);
    let pppd = w.pppd_pid();
    fs::write(
        w.conf(),
        format!("{}USER=two words\n", w.read("pppoe.conf")),
    )
    .unwrap();
    stop_kills_the_pair_at_300ms(&w, &s, looped, pppd);
    // KILLed pppd sends no PADT: the ISP sees the line vanish.
    assert!(eventually(Duration::from_secs(20), || w
        .sessions()
        .is_empty()));
}

/// With a config that works, --service first lets supervise take the loop
/// down (its TERM); a loop stuck on a pppd that ignores TERM is KILLed
/// through its lock once -T has passed, not later, and supervise then
/// reports the service down.
fn stop_service_kills_a_stuck_pair_at_the_limit() {
    let w = World::with_pppd_deaf_to_term("60s");
    let s = Supervised::pppoe_connect(&w);
    let looped = s.up(&w);
    let pppd = w.pppd_pid();
    stop_kills_the_pair_at_300ms(&w, &s, looped, pppd);
    w.assert_all_gone("after stop --service");
}

/// pppd's ip-up starts a daemon that inherits pppd's descriptors and
/// outlives it. After the loop is SIGKILLed (pppd goes with it), that
/// daemon must not hold the pair hostage: the stop succeeds at once and a
/// new loop dials.
fn pppd_descendants_never_wedge_the_pair() {
    let mut w = World::new(Opts {
        stop_timeout: "300ms",
        ..Opts::default()
    });
    let strays = Strays(w.path("daemons"));
    let ip_up = w.path("ip-up");
    write_exec(
        &ip_up,
        &format!(
            "#!/bin/sh\nsleep 600 </dev/null >/dev/null 2>&1 &\necho $! >> {}\n",
            strays.0.display()
        ),
    );
    w.extra_env
        .push(("PPPD_STANDIN_IP_UP".into(), ip_up.display().to_string()));
    let mut c = w.connect();
    assert!(w.wait_session());
    assert!(eventually(Duration::from_secs(20), || !strays
        .pids()
        .is_empty()));
    let pppd = w.pppd_pid();
    c.kill().unwrap();
    c.wait().unwrap();
    assert!(eventually(Duration::from_secs(20), || !alive(pppd)));
    assert!(strays.pids().iter().all(|p| alive(*p)));
    let t = Instant::now();
    let o = w.stop(&["-T", "300ms"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "stop took {:?}",
        t.elapsed()
    );
    w.assert_all_gone("after stop");
    // A new loop dials at once; the daemon is still there.
    let mut c = w.connect();
    assert!(w.wait_session(), "{}", w.read("connect.err"));
    assert!(eventually(Duration::from_secs(20), || w.state() == "running"));
    assert!(!w.read("connect.err").contains("still holds"));
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(wait_child(&mut c, Duration::from_secs(20)), Some(0));
    w.assert_all_gone("after the second stop");
}

/// A loop SIGKILLed cannot clean up its PIDFILE.state; the next loop
/// removes it as soon as it holds the lock, so while it ends the old pppd
/// the file never says `running` for a loop that is dead.
fn state_never_says_running_for_a_dead_loop() {
    let w = World::with_pppd_deaf_to_term("3s");
    let mut a = w.connect();
    assert!(w.wait_session());
    assert!(eventually(Duration::from_secs(20), || w.state() == "running"));
    a.kill().unwrap();
    a.wait().unwrap();
    let mut b = w.connect();
    assert!(eventually(Duration::from_secs(20), || w
        .read("connect.err")
        .contains("still holds")));
    assert_ne!(w.state(), "running", "state of the dead loop");
    assert!(w.read("pppoe.pid").starts_with(&b.id().to_string()));
    assert!(eventually(Duration::from_secs(20), || w.state() == "running"));
    let o = w.stop(&["-T", "300ms"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let _ = wait_child(&mut b, Duration::from_secs(20));
    w.assert_all_gone("after stop");
}

/// PIDFILE in a directory other users can write (not sticky): refused
/// with one clear line by the loop, pppoe-start and pppoe-stop alike.
fn runtime_dir_writable_by_others_refused() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new(Opts::default());
    let open = w.path("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let conf = w.read("pppoe.conf").replace(
        &format!("PIDFILE={}", w.path("pppoe.pid").display()),
        &format!("PIDFILE={}/pppoe.pid", open.display()),
    );
    fs::write(w.conf(), conf).unwrap();
    let why = format!(
        "refusing {}: a directory writable by others",
        open.display()
    );
    for prog in ["pppoe-connect", "pppoe-start", "pppoe-stop"] {
        let mut c = w
            .cmd(prog)
            .arg(w.conf())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if wait_child(&mut c, Duration::from_secs(20)).is_none() {
            let _ = c.kill();
        }
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(111), "{prog}: {err}");
        assert!(
            err.starts_with(&format!("{prog}: fatal: ")) && err.ends_with(&format!("{why}\n")),
            "{prog}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{prog}: {err}");
    }
    assert_eq!(fs::read_dir(&open).unwrap().count(), 0);
    assert!(w.sessions().is_empty());
}

fn hook_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("service/ppp/adsl-lost")
}

/// The hook needs daemontools' svc; CI must have it.
fn have_svc() -> bool {
    Path::new("/usr/bin/svc").exists()
        || crate::common::skip("/usr/bin/svc (daemontools) not installed")
}

/// A world with a supervised stand-in keepalived and a state dir.
struct HookWorld {
    // Dropped first: its supervise is told to exit while its dir exists.
    ka: Supervised,
    state: PathBuf,
    w: World,
}

impl HookWorld {
    fn new() -> HookWorld {
        let w = World::new(Opts::default());
        let state = w.path("state");
        fs::create_dir(&state).unwrap();
        let ka = Supervised::new(&w, "#!/bin/sh\nexec sleep 1000\n");
        assert!(eventually(Duration::from_secs(20), || ka
            .status()
            .is_some_and(|s| s.pid != 0)));
        HookWorld { ka, state, w }
    }

    fn run(&self, cwd: &Path, args: &[&str]) -> std::process::Output {
        Command::new(hook_path())
            .args(args)
            .current_dir(cwd)
            .env("PPPOE_CONFIG", self.w.conf())
            .env("STATEDIR", &self.state)
            .env("KEEPALIVED_SERVICE", &self.ka.dir)
            .output()
            .unwrap()
    }

    fn master(&self) -> PathBuf {
        self.state.join("keepalived_vrrp.MASTER")
    }

    fn error(&self) -> PathBuf {
        self.state.join("keepalived_vrrp.ERROR")
    }
}

/// keepalived_vrrp.ERROR is written through an exclusive, unpredictable
/// temp name: a symlink planted at the old fixed name is never followed,
/// and no temp file is left.
fn adsl_lost_writes_error_safely() {
    if !have_svc() {
        return;
    }
    let h = HookWorld::new();
    let victim = h.w.path("victim");
    fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, h.state.join("keepalived_vrrp.ERROR.new")).unwrap();
    fs::write(h.master(), "").unwrap();
    let conf = h.w.conf().display().to_string();
    let o = h.run(h.w.dir.path(), &[&conf, "16"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(fs::read_to_string(h.error()).unwrap(), "1\n");
    assert!(!h.master().exists());
    let mut names: Vec<String> = fs::read_dir(&h.state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["keepalived_vrrp.ERROR", "keepalived_vrrp.ERROR.new"]
    );
}

/// `$1` and PPPOE_CONFIG name the same file in other spellings (double
/// slash, relative to the hook's cwd, through a symlink): the hook acts.
/// Another file does not.
fn adsl_lost_compares_resolved_paths() {
    if !have_svc() {
        return;
    }
    let h = HookWorld::new();
    let d = h.w.dir.path();
    std::os::unix::fs::symlink(h.w.conf(), d.join("link.conf")).unwrap();
    fs::write(d.join("other.conf"), "").unwrap();
    let double = format!("{}//pppoe.conf", d.display());
    let linked = d.join("link.conf").display().to_string();
    fs::write(h.master(), "").unwrap();
    let o = h.run(d, &[&d.join("other.conf").display().to_string(), "16"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(h.master().exists(), "acted for another config");
    for spelling in [double.as_str(), "./pppoe.conf", "pppoe.conf", &linked] {
        fs::write(h.master(), "").unwrap();
        let o = h.run(d, &[spelling, "16"]);
        assert!(o.status.success(), "{spelling}: {}", text(&o));
        assert!(!h.master().exists(), "{spelling}: no handover");
        assert_eq!(fs::read_to_string(h.error()).unwrap(), "1\n");
        fs::remove_file(h.error()).unwrap();
    }
}
