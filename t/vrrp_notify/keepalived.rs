//! Real keepalived (Debian's 2.2.7) in two network namespaces joined by a
//! veth pair (198.18.0.0/24 only), each with the shipped service/keepalived
//! run/finish and keepalived.conf.example (paths and addresses substituted),
//! and vrrp-notify as its notify_fifo reader, both under upkeep's supervise;
//! driven with Debian's svc. Everything is torn down even when the test fails.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use upkeep::tai64::Tai64N;

use super::{eventually, write_script, BIN};

const SUPERVISE: &str = env!("CARGO_BIN_EXE_supervise");
const KEEPALIVED: &str = "/usr/sbin/keepalived";
const SVC: &str = "/usr/bin/svc";
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// Why this machine cannot run the test; with CI=true it must run anyway.
fn missing() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    for p in [KEEPALIVED, SVC] {
        if !Path::new(p).exists() {
            return Some(format!("{p} not installed"));
        }
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("ip (iproute2) not installed".into());
    }
    None
}

fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn must(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// supervise's status says no process runs (pid 0).
fn is_down(service: &Path) -> bool {
    fs::read(service.join("supervise/status"))
        .is_ok_and(|b| b.len() == 18 && b[12..16] == [0, 0, 0, 0])
}

/// The pid supervise's status names (0: none).
fn pid_of(service: &Path) -> u32 {
    fs::read(service.join("supervise/status"))
        .ok()
        .filter(|b| b.len() == 18)
        .map(|b| u32::from_le_bytes([b[12], b[13], b[14], b[15]]))
        .unwrap_or(0)
}

struct Node {
    ns: String,
    dir: PathBuf,
    ka: PathBuf,
    vn: PathBuf,
}

impl Node {
    fn state(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.dir.join("state")) else {
            return Vec::new();
        };
        let mut v: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_prefix("keepalived_vrrp.").map(String::from))
            .filter(|s| ["MASTER", "BACKUP", "FAULT", "STOP"].contains(&s.as_str()))
            .collect();
        v.sort();
        v
    }

    fn is(&self, state: &str) -> bool {
        self.state() == [state]
    }

    fn hooks(&self) -> String {
        fs::read_to_string(self.dir.join("hooks.log")).unwrap_or_default()
    }

    fn has_vip(&self) -> bool {
        Command::new("ip")
            .args(["-n", &self.ns, "-4", "addr", "show"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("198.18.0.254/"))
    }

    fn svc(&self, flag: &str, dir: &Path) {
        must(&[SVC, flag, dir.to_str().unwrap()]);
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for f in [
            "keepalived.out",
            "vrrp-notify.err",
            "hooks.log",
            "supervise.err",
        ] {
            s += &format!(
                "--- {} {f}\n{}\n",
                self.ns,
                fs::read_to_string(self.dir.join(f)).unwrap_or_default()
            );
        }
        s += &format!(
            "--- {} last-exit: {}",
            self.ns,
            fs::read_to_string(self.ka.join("last-exit")).unwrap_or_default()
        );
        s
    }
}

/// The namespaces and the supervise processes; Drop tears all of it down.
struct Lab {
    _tmp: tempfile::TempDir,
    nodes: Vec<Node>,
    supervisors: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in &self.nodes {
            for d in [&n.ka, &n.vn] {
                let _ = Command::new(SVC)
                    .arg("-dx")
                    .arg(d)
                    .stderr(Stdio::null())
                    .status();
            }
        }
        let sups = &mut self.supervisors;
        eventually(Duration::from_secs(5), || {
            sups.iter_mut()
                .all(|c| c.try_wait().ok().flatten().is_some())
        });
        for c in sups.iter_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Whatever still runs in a namespace (a keepalived that ignored the
        // stop, its children) is killed before the namespace goes.
        for n in &self.nodes {
            if let Ok(out) = Command::new("ip").args(["netns", "pids", &n.ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            sh(&["ip", "netns", "del", &n.ns]);
        }
    }
}

fn conf_for(template: &str, node: &Node, me: &str, peer: &str, prio: &str, ifname: &str) -> String {
    // This test follows mastership as priorities change, so the peers
    // preempt (the shipped nopreempt keeps a working master; t/system
    // runs the shipped file as it is).
    template
        .replace("    nopreempt\n", "")
        .replace("router_id gw1", &format!("router_id {}", node.ns))
        .replace("interface eth1", &format!("interface {ifname}"))
        .replace("priority 150", &format!("priority {prio}"))
        .replace("unicast_src_ip 198.18.0.1", &format!("unicast_src_ip {me}"))
        .replace(
            "unicast_peer {\n        198.18.0.2",
            &format!("unicast_peer {{\n        {peer}"),
        )
        .replace(
            "/run/keepalived.fifo",
            node.dir.join("fifo").to_str().unwrap(),
        )
        .replace(
            "/run/upkeep/",
            &format!("{}/", node.dir.join("state").display()),
        )
}

/// Namespaces left by an earlier run that was killed before its Drop ran
/// (their tag is the pid of a test process that is gone).
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(tag) = name
            .strip_prefix("upkvr-a-")
            .or_else(|| name.strip_prefix("upkvr-b-"))
        else {
            continue;
        };
        if tag.parse::<u32>().is_err() || Path::new(&format!("/proc/{tag}")).exists() {
            continue;
        }
        if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        sh(&["ip", "netns", "del", name]);
    }
}

fn build_lab() -> Lab {
    remove_stale_namespaces();
    let tmp = tempfile::tempdir().unwrap();
    let tag = std::process::id();
    let names = [format!("upkvr-a-{tag}"), format!("upkvr-b-{tag}")];
    let mut lab = Lab {
        nodes: Vec::new(),
        supervisors: Vec::new(),
        _tmp: tempfile::tempdir().unwrap(),
    };
    for ns in &names {
        must(&["ip", "netns", "add", ns]);
        let dir = tmp.path().join(ns);
        lab.nodes.push(Node {
            ns: ns.clone(),
            ka: dir.join("service/keepalived"),
            vn: dir.join("service/vrrp-notify"),
            dir,
        });
    }
    lab._tmp = tmp;
    let (a, b) = (&names[0], &names[1]);
    must(&[
        "ip", "-n", a, "link", "add", "vr-a", "type", "veth", "peer", "name", "vr-b", "netns", b,
    ]);
    for (ns, ifname, addr) in [(a, "vr-a", "198.18.0.1/24"), (b, "vr-b", "198.18.0.2/24")] {
        must(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        must(&["ip", "-n", ns, "addr", "add", addr, "dev", ifname]);
        must(&["ip", "-n", ns, "link", "set", ifname, "up"]);
    }
    // keepalived starting on a link not yet up begins in FAULT: wait.
    for (ns, ifname) in [(a, "vr-a"), (b, "vr-b")] {
        let up = eventually(Duration::from_secs(10), || {
            Command::new("ip")
                .args(["-n", ns, "link", "show", ifname])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("state UP"))
        });
        assert!(up, "{ifname} in {ns} is not up");
    }
    let template =
        fs::read_to_string(Path::new(REPO).join("service/keepalived/keepalived.conf.example"))
            .unwrap();
    let params = [
        ("198.18.0.1", "198.18.0.2", "150", "vr-a"),
        ("198.18.0.2", "198.18.0.1", "100", "vr-b"),
    ];
    for (node, (me, peer, prio, ifname)) in lab.nodes.iter().zip(params) {
        fs::create_dir_all(&node.ka).unwrap();
        fs::create_dir_all(&node.vn).unwrap();
        fs::create_dir_all(node.dir.join("hooks")).unwrap();
        for f in ["run", "finish"] {
            fs::copy(
                Path::new(REPO).join("service/keepalived").join(f),
                node.ka.join(f),
            )
            .unwrap();
        }
        let conf = conf_for(&template, node, me, peer, prio, ifname);
        assert!(conf.contains(&format!("unicast_peer {{\n        {peer}")));
        fs::write(node.ka.join("keepalived.conf"), conf).unwrap();
        // The shipped vrrp-notify run, with this node's paths.
        let run = fs::read_to_string(Path::new(REPO).join("service/vrrp-notify/run"))
            .unwrap()
            .replace("exec vrrp-notify", &format!("exec {BIN}"))
            .replace(
                "/run/keepalived.fifo",
                node.dir.join("fifo").to_str().unwrap(),
            )
            .replace("/run/upkeep", node.dir.join("state").to_str().unwrap())
            .replace(
                "/etc/upkeep/vrrp-notify.d",
                node.dir.join("hooks").to_str().unwrap(),
            )
            .replace(
                "exec 2>&1\n",
                &format!("exec 2>>{}\n", node.dir.join("vrrp-notify.err").display()),
            );
        assert!(run.contains(BIN));
        crate::common::write_exec(&node.vn.join("run"), &run);
        for s in ["MASTER", "BACKUP", "FAULT", "STOP"] {
            write_script(
                &node.dir.join("hooks").join(s),
                &format!(
                    "echo \"$3 $4 $(date +%s.%N)\" >>{}",
                    node.dir.join("hooks.log").display()
                ),
            );
        }
    }
    // vrrp-notify first, so the fifo has its reader before keepalived writes.
    for which in [1, 0] {
        for node in &lab.nodes {
            let dir = if which == 1 { &node.vn } else { &node.ka };
            let out = File::options()
                .create(true)
                .append(true)
                .open(node.dir.join(if which == 1 {
                    "vrrp-notify.out"
                } else {
                    "keepalived.out"
                }))
                .unwrap();
            let err = File::options()
                .create(true)
                .append(true)
                .open(node.dir.join("supervise.err"))
                .unwrap();
            let child = Command::new("ip")
                .args(["netns", "exec", &node.ns, SUPERVISE])
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap();
            lab.supervisors.push(child);
        }
        if which == 1 {
            for node in &lab.nodes {
                let fifo = node.dir.join("fifo");
                assert!(
                    eventually(Duration::from_secs(10), || fifo.exists()),
                    "{}",
                    node.logs()
                );
            }
        }
    }
    lab
}

#[test]
fn real_keepalived_pair_elects_fails_over_and_comes_back() {
    if let Some(why) = missing() {
        crate::common::skip(&format!("the real keepalived test cannot run: {why}"));
        return;
    }
    let lab = build_lab();
    let (a, b) = (&lab.nodes[0], &lab.nodes[1]);
    let dump = || format!("{}\n{}", a.logs(), b.logs());

    // Election: A (150) MASTER, B (100) BACKUP; never two MASTER files.
    let t = Instant::now();
    let mut two_masters = false;
    let elected = eventually(Duration::from_secs(20), || {
        two_masters |= a.is("MASTER") && b.is("MASTER");
        a.is("MASTER") && b.is("BACKUP")
    });
    assert!(
        elected,
        "no election: A {:?} B {:?}\n{}",
        a.state(),
        b.state(),
        dump()
    );
    eprintln!("election: {:?}", t.elapsed());
    assert!(!two_masters);
    assert!(
        eventually(Duration::from_secs(5), || a.hooks().contains("MASTER 150")),
        "{}",
        dump()
    );
    assert!(
        eventually(Duration::from_secs(5), || b.hooks().contains("BACKUP 100")),
        "{}",
        dump()
    );

    // Failover: stop A's keepalived (TERM via supervise); B takes over.
    let t = Instant::now();
    let t0 = SystemTime::now();
    a.svc("-d", &a.ka);
    let (mut vip_at, mut file_at) = (None, None);
    let failed_over = eventually(Duration::from_secs(10), || {
        if vip_at.is_none() && b.has_vip() {
            vip_at = Some(t.elapsed());
        }
        if file_at.is_none() && b.is("MASTER") {
            file_at = Some(t.elapsed());
        }
        vip_at.is_some() && file_at.is_some()
    });
    assert!(
        failed_over,
        "B did not take over: {:?}\n{}",
        b.state(),
        dump()
    );
    let (vip_at, file_at) = (vip_at.unwrap(), file_at.unwrap());
    eprintln!(
        "failover after svc -d: VIP on peer {vip_at:?} (keepalived alone), peer's MASTER state file {file_at:?} (through vrrp-notify)"
    );
    assert!(file_at < Duration::from_secs(3), "{file_at:?}");
    assert!(eventually(Duration::from_secs(5), || b
        .hooks()
        .contains("MASTER 100")));
    // Precise figures from the stamps themselves: the TAI64N vrrp-notify
    // wrote into the state file, and the hook's own `date +%s.%N`.
    let text = fs::read_to_string(b.dir.join("state/keepalived_vrrp.MASTER")).unwrap();
    let stamp = Tai64N::from_hex(&text[1..25]).unwrap().to_system();
    let hooks = b.hooks();
    let hook_line = hooks.lines().find(|l| l.starts_with("MASTER 100")).unwrap();
    let hook_secs: f64 = hook_line.split(' ').nth(2).unwrap().parse().unwrap();
    let hook_at = UNIX_EPOCH + Duration::from_secs_f64(hook_secs);
    let since = |t: SystemTime| t.duration_since(t0).unwrap_or_default();
    eprintln!(
        "failover after svc -d, by stamps: peer's state file written at {:?}, its MASTER hook started at {:?}",
        since(stamp),
        since(hook_at)
    );
    // The old master recorded its stop (keepalived writes STOP as it exits).
    assert!(
        eventually(Duration::from_secs(5), || a.is("STOP") || a.is("BACKUP")),
        "A: {:?}\n{}",
        a.state(),
        dump()
    );
    assert!(
        eventually(Duration::from_secs(5), || fs::read_to_string(
            a.ka.join("last-exit")
        )
        .is_ok_and(|s| s.contains("keepalived: exited 0"))),
        "finish did not record the stop\n{}",
        dump()
    );

    // A comes back and, with the higher priority, preempts.
    a.svc("-u", &a.ka);
    let back = eventually(Duration::from_secs(20), || a.is("MASTER") && b.is("BACKUP"));
    assert!(back, "A {:?} B {:?}\n{}", a.state(), b.state(), dump());

    // svc -t: keepalived restarts; the peer holds on meanwhile; A preempts again.
    // (A state file is written before its hook runs: wait for the hook.)
    let last_hook = |n: &Node| n.hooks().lines().last().unwrap_or("").to_string();
    assert!(eventually(Duration::from_secs(5), || last_hook(a)
        .starts_with("MASTER 150")));
    let hooks_before = a.hooks().lines().count();
    a.svc("-t", &a.ka);
    let restarted = eventually(Duration::from_secs(20), || {
        a.hooks().lines().count() >= hooks_before + 2
            && last_hook(a).starts_with("MASTER 150")
            && b.is("BACKUP")
    });
    assert!(restarted, "A {:?} B {:?}\n{}", a.state(), b.state(), dump());
    let a_hooks = a.hooks();
    let after: Vec<&str> = a_hooks.lines().skip(hooks_before).collect();
    assert!(
        after
            .first()
            .is_some_and(|l| l.starts_with("STOP ") || l.starts_with("BACKUP ")),
        "{after:?}"
    );
    assert!(
        after.last().is_some_and(|l| l.starts_with("MASTER 150")),
        "{after:?}"
    );
    assert!(
        !a_hooks.contains("FAULT") && !b.hooks().contains("FAULT"),
        "{}",
        dump()
    );

    // A crash: every keepalived process of A SIGKILLed, so no STOP event
    // and no priority-0 advert. The peer takes over on the advert timeout;
    // finish writes the STOP keepalived could not, so A's MASTER file does
    // not outlive its mastership; supervise restarts keepalived.
    let hooks_before = a.hooks().lines().count();
    let t = Instant::now();
    // Both in one kill(1): a parent left alive for the instant a second
    // kill(1) takes to start would respawn its VRRP child, which writes
    // BACKUP and STOP events of its own before dying.
    let pids: Vec<String> = ["vrrp.pid", "keepalived.pid"]
        .iter()
        .map(|f| fs::read_to_string(a.ka.join(f)).unwrap().trim().to_string())
        .collect();
    must(&["kill", "-9", &pids[0], &pids[1]]);
    assert!(
        eventually(Duration::from_secs(10), || a.is("STOP")),
        "A {:?}\n{}",
        a.state(),
        dump()
    );
    eprintln!("crash: A's STOP recorded by finish after {:?}", t.elapsed());
    assert!(
        eventually(Duration::from_secs(10), || b.is("MASTER")),
        "{}",
        dump()
    );
    eprintln!("crash: peer MASTER after {:?}", t.elapsed());
    assert!(
        eventually(Duration::from_secs(20), || a.is("MASTER")
            && b.is("BACKUP")
            && last_hook(a).starts_with("MASTER 150")),
        "{}",
        dump()
    );
    let a_hooks = a.hooks();
    let after: Vec<&str> = a_hooks.lines().skip(hooks_before).collect();
    assert!(after[0].starts_with("STOP 0 "), "{after:?}");
    // (last-exit itself may already tell of a later start: keepalived
    // refuses to start while its killed child is not yet reaped.)
    let log = fs::read_to_string(a.dir.join("supervise.err")).unwrap_or_default();
    assert!(
        log.contains(
            "keepalived finish: killed by signal 9\nkeepalived finish: wrote STOP for VI_1"
        ),
        "{}",
        dump()
    );

    // The shipped track_file: 1 in keepalived_vrrp.ERROR (as adsl-lost
    // writes it) lowers A's priority by 60 (150 → 90), below B's 100: B
    // takes over; 0 restores it and A takes mastership back.
    let error = a.dir.join("state/keepalived_vrrp.ERROR");
    let set_error = |v: &str| {
        let tmp = a.dir.join("state/.ERROR.new");
        fs::write(&tmp, v).unwrap();
        fs::rename(&tmp, &error).unwrap();
    };
    assert!(error.exists(), "keepalived's init_file did not create it");
    let t = Instant::now();
    set_error("1\n");
    assert!(
        eventually(Duration::from_secs(10), || a.is("BACKUP") && b.is("MASTER")),
        "A {:?} B {:?}\n{}",
        a.state(),
        b.state(),
        dump()
    );
    eprintln!("track_file weight -60: peer MASTER after {:?}", t.elapsed());
    set_error("0\n");
    assert!(
        eventually(Duration::from_secs(20), || a.is("MASTER") && b.is("BACKUP")),
        "A {:?} B {:?}\n{}",
        a.state(),
        b.state(),
        dump()
    );

    // kill -9 of vrrp-notify with keepalived's last word read but not yet
    // hooked: B's MASTER hook runs long, A preempts (B: BACKUP), and B's
    // vrrp-notify is killed while the MASTER hook still runs. The restarted
    // one (supervise) must run the BACKUP hook, and the superseded MASTER
    // hook must not run on.
    let b_master = b.dir.join("hooks/MASTER");
    let normal_master = fs::read_to_string(&b_master).unwrap();
    write_script(
        &b_master,
        &format!(
            "echo $$ >{}\necho \"$3 $4 $(date +%s.%N)\" >>{}\nsleep 30\necho MASTER-END >>{}",
            b.dir.join("master-hook.pid").display(),
            b.dir.join("hooks.log").display(),
            b.dir.join("hooks.log").display(),
        ),
    );
    let _ = fs::remove_file(b.dir.join("master-hook.pid"));
    a.svc("-d", &a.ka);
    assert!(
        eventually(Duration::from_secs(10), || b.is("MASTER")
            && b.dir.join("master-hook.pid").exists()),
        "{}",
        dump()
    );
    a.svc("-u", &a.ka);
    // keepalived on B has written BACKUP to the fifo once it gave the
    // address up; the reader takes it in at once (its state file is
    // written before the queued hooks run: give that a moment).
    assert!(
        eventually(Duration::from_secs(20), || a.is("MASTER") && !b.has_vip()),
        "A {:?}\n{}",
        a.state(),
        dump()
    );
    let _ = eventually(Duration::from_secs(2), || b.is("BACKUP"));
    let reader = pid_of(&b.vn);
    must(&["kill", "-9", &reader.to_string()]);
    let t = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || b.is("BACKUP")
            && last_hook(b).starts_with("BACKUP 100")
            && pid_of(&b.vn) != reader),
        "B {:?}\n{}",
        b.state(),
        dump()
    );
    eprintln!(
        "kill -9 of vrrp-notify: BACKUP hook run by its successor after {:?}",
        t.elapsed()
    );
    let hook_pid = fs::read_to_string(b.dir.join("master-hook.pid")).unwrap();
    // Gone, or a zombie nobody reaped yet.
    let running = || {
        fs::read_to_string(format!("/proc/{}/stat", hook_pid.trim())).is_ok_and(|st| {
            st.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
    };
    assert!(
        eventually(Duration::from_secs(5), || !running()),
        "the superseded MASTER hook still runs"
    );
    assert!(!b.hooks().contains("MASTER-END"));
    fs::write(&b_master, normal_master).unwrap();
    assert!(
        eventually(Duration::from_secs(20), || a.is("MASTER") && b.is("BACKUP")),
        "A {:?} B {:?}\n{}",
        a.state(),
        b.state(),
        dump()
    );

    // keepalived holds its fifo end open read-write, so lines written while
    // vrrp-notify is down (restarting) wait in the pipe for the next reader.
    b.svc("-d", &b.vn);
    assert!(
        eventually(Duration::from_secs(10), || is_down(&b.vn)),
        "{}",
        dump()
    );
    a.svc("-d", &a.ka);
    assert!(
        eventually(Duration::from_secs(10), || b.has_vip()),
        "{}",
        dump()
    );
    assert!(b.is("BACKUP"), "B {:?}", b.state());
    b.svc("-u", &b.vn);
    assert!(
        eventually(Duration::from_secs(10), || b.is("MASTER")),
        "B {:?}\n{}",
        b.state(),
        dump()
    );
    a.svc("-u", &a.ka);
    assert!(
        eventually(Duration::from_secs(20), || a.is("MASTER") && b.is("BACKUP")),
        "A {:?} B {:?}\n{}",
        a.state(),
        b.state(),
        dump()
    );

    // Shutdown as svscan's (or keepalived killing its fifo script): the
    // reader is told to stop first, keepalived right after; keepalived's
    // STOP event, written as it exits, is still recorded and hooked.
    a.svc("-d", &a.vn);
    a.svc("-d", &a.ka);
    let stopped = eventually(Duration::from_secs(10), || {
        a.is("STOP") && last_hook(a).starts_with("STOP 150")
    });
    assert!(stopped, "A {:?}\n{}", a.state(), dump());
    // vrrp-notify exits once keepalived has closed the fifo (EOF).
    let down = eventually(Duration::from_secs(10), || is_down(&a.vn));
    assert!(down, "vrrp-notify did not exit after TERM\n{}", dump());
    assert!(eventually(Duration::from_secs(5), || b.is("MASTER")));
    assert!(
        !fs::read_to_string(a.dir.join("vrrp-notify.err"))
            .unwrap_or_default()
            .contains("warning"),
        "{}",
        dump()
    );
}
