//! Figure: the time upkeep adds to a keepalived failover. Debian's
//! keepalived in two network namespaces joined by a veth pair (198.18.1.0/24,
//! inside 198.18.0.0/15), each with vrrp-notify reading its notify_fifo and,
//! as the baseline, keepalived's own `notify_master` script. The MASTER's
//! keepalived is killed (SIGKILL, every process of its namespace); on the
//! peer, the harness times through inotify the kernel opening each script to
//! exec it: keepalived's notify_master (keepalived alone) and vrrp-notify's
//! MASTER hook (through upkeep). The difference is what upkeep adds.
//! Every namespace is removed at the end, pass or fail.

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::ms_since;
use crate::report::{percentile, Csv, Row};
use crate::systems::Sys;
use crate::{procs, wait_for, Ctx};

const KEEPALIVED: &str = "/usr/sbin/keepalived";
const IP: &str = "/usr/sbin/ip";
const NS_PREFIX: &str = "upkb-";
const VIP: &str = "198.18.1.254/24";
/// keepalived's advertisement interval (VRRPv3 allows fractions): the
/// peer declares the MASTER dead after about 3 of them.
const ADVERT: &str = "0.5";

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new(IP)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

fn ns_pids(ns: &str) -> Vec<i32> {
    Command::new(IP)
        .args(["netns", "pids", ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn kill_ns(ns: &str) -> Vec<i32> {
    let pids = ns_pids(ns);
    for &p in &pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    pids
}

/// Namespaces of this figure; Drop kills what runs in them and deletes them.
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            kill_ns(ns);
        }
        procs::reap();
        for ns in &self.0 {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Namespaces left by a harness killed before its Drop ran (their tag is
/// the pid of a process that is gone).
fn remove_stale() {
    let Ok(o) = Command::new(IP).args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(tag) = name
            .strip_prefix(NS_PREFIX)
            .and_then(|r| r.split_once('-'))
            .map(|(_, t)| t)
        else {
            continue;
        };
        if tag.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{tag}")).exists() {
            kill_ns(name);
            let _ = ip(&["netns", "del", name]);
        }
    }
}

struct Node {
    ns: String,
    dir: PathBuf,
    /// keepalived's own notify_master script (the baseline).
    direct: PathBuf,
    /// vrrp-notify's MASTER hook.
    hook: PathBuf,
    conf: PathBuf,
}

impl Node {
    fn is(&self, state: &str) -> bool {
        fs::read_to_string(self.dir.join("state/keepalived_vrrp.current"))
            .is_ok_and(|s| s.trim() == state)
    }

    fn start_keepalived(&self, ctx: &Ctx) -> Result<(), String> {
        let d = self.dir.to_string_lossy().into_owned();
        let argv = [
            IP.to_string(),
            "netns".into(),
            "exec".into(),
            self.ns.clone(),
            KEEPALIVED.into(),
            "-n".into(),
            "-l".into(),
            "-D".into(),
            "-P".into(),
            "-f".into(),
            self.conf.to_string_lossy().into_owned(),
            "-p".into(),
            format!("{d}/keepalived.pid"),
            "-r".into(),
            format!("{d}/vrrp.pid"),
            "-c".into(),
            format!("{d}/checkers.pid"),
            "-b".into(),
            format!("{d}/bfd.pid"),
        ];
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        procs::start(
            &argv,
            &self.dir,
            &ctx.log(&format!("{}-keepalived", self.ns)),
        )?;
        Ok(())
    }
}

fn write_exec(path: &Path, body: &str) -> Result<(), String> {
    fs::write(path, body).map_err(|e| format!("write {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

fn conf(node: &Node, me: &str, peer: &str, prio: u32, ifname: &str) -> String {
    format!(
        "global_defs {{\n    router_id {ns}\n    script_user root\n    vrrp_version 3\n    notify_fifo {fifo}\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface {ifname}\n    virtual_router_id 51\n    priority {prio}\n    advert_int {ADVERT}\n\
         \x20   unicast_src_ip {me}\n    unicast_peer {{\n        {peer}\n    }}\n    virtual_ipaddress {{\n        {VIP}\n    }}\n\
         \x20   notify_master \"{direct} MASTER\"\n}}\n",
        ns = node.ns,
        fifo = node.dir.join("fifo").display(),
        direct = node.direct.display(),
    )
}

/// Why this machine cannot run the figure.
fn missing() -> Option<String> {
    // /proc/self belongs to our effective uid.
    let uid = fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    if uid.ok() != Some(0) {
        return Some("not root".into());
    }
    for p in [KEEPALIVED, IP] {
        if !Path::new(p).exists() {
            return Some(format!("{p} not installed"));
        }
    }
    None
}

type Moment = Option<f64>;

/// Kills every process of `ns` and waits (20 s at most) for the peer's
/// notify_master, hook and MASTER state file: ms after the kill of each.
fn kill_and_watch(
    ns: &str,
    (ino, w_direct, w_hook, w_state): (
        &Inotify,
        &WatchDescriptor,
        &WatchDescriptor,
        &WatchDescriptor,
    ),
) -> (Moment, Moment, Moment) {
    while ino.read_events().is_ok() {}
    let t0 = Instant::now();
    kill_ns(ns);
    let (mut direct, mut hook, mut state) = (None, None, None);
    while (direct.is_none() || hook.is_none() || state.is_none())
        && t0.elapsed() < Duration::from_secs(20)
    {
        let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(100u8));
        while let Ok(events) = ino.read_events() {
            let now = ms_since(t0);
            for e in events {
                if e.wd == *w_direct && direct.is_none() {
                    direct = Some(now);
                } else if e.wd == *w_hook && hook.is_none() {
                    hook = Some(now);
                } else if e.wd == *w_state
                    && state.is_none()
                    && e.name
                        .as_deref()
                        .is_some_and(|n| n.to_string_lossy() == "keepalived_vrrp.MASTER")
                {
                    state = Some(now);
                }
            }
        }
    }
    (direct, hook, state)
}

struct Sample {
    direct_ms: f64,
    upkeep_ms: f64,
    state_ms: f64,
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    if let Some(why) = missing() {
        ctx.note(format!("keepalived failover: not measured ({why})."));
        return Ok(Vec::new());
    }
    let n = if ctx.quick { 5 } else { 20 };
    remove_stale();
    let base = ctx.dir("failover")?;
    let tag = std::process::id();
    let names = [format!("{NS_PREFIX}a-{tag}"), format!("{NS_PREFIX}b-{tag}")];
    let mut spaces = Namespaces(Vec::new());
    let mut readers = Vec::new();
    let result = (|| {
        for ns in &names {
            ip(&["netns", "add", ns])?;
            spaces.0.push(ns.clone());
        }
        let (a, b) = (&names[0], &names[1]);
        ip(&[
            "-n", a, "link", "add", "vb-a", "type", "veth", "peer", "name", "vb-b", "netns", b,
        ])?;
        let params = [
            (a, "vb-a", "198.18.1.1", "198.18.1.2", 150),
            (b, "vb-b", "198.18.1.2", "198.18.1.1", 100),
        ];
        let mut nodes = Vec::new();
        for &(ns, ifname, me, peer, prio) in &params {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{me}/24"), "dev", ifname])?;
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
            let dir = base.join(ns);
            for d in ["state", "hooks"] {
                fs::create_dir_all(dir.join(d)).map_err(|e| format!("mkdir: {e}"))?;
            }
            let node = Node {
                ns: ns.clone(),
                direct: dir.join("notify-master"),
                hook: dir.join("hooks/MASTER"),
                conf: dir.join("keepalived.conf"),
                dir,
            };
            write_exec(&node.direct, "#!/bin/sh\nexit 0\n")?;
            write_exec(&node.hook, "#!/bin/sh\nexit 0\n")?;
            fs::write(&node.conf, conf(&node, me, peer, prio, ifname))
                .map_err(|e| format!("write conf: {e}"))?;
            nodes.push(node);
        }
        // The readers first, so each fifo has one before keepalived writes.
        for node in &nodes {
            let prog = ctx.bins.upkeep_prog("vrrp-notify");
            let fifo = node.dir.join("fifo").to_string_lossy().into_owned();
            let state = node.dir.join("state").to_string_lossy().into_owned();
            let hooks = node.dir.join("hooks").to_string_lossy().into_owned();
            let argv = [
                prog.as_str(),
                "--fifo",
                &fifo,
                "--state-dir",
                &state,
                "--hooks",
                &hooks,
            ];
            readers.push(procs::start(
                &argv,
                &node.dir,
                &ctx.log(&format!("{}-vrrp-notify", node.ns)),
            )?);
            if !wait_for(Duration::from_secs(10), || Path::new(&fifo).exists()) {
                return Err(format!("vrrp-notify made no fifo {fifo}"));
            }
        }
        for node in &nodes {
            node.start_keepalived(ctx)?;
        }
        let (na, nb) = (&nodes[0], &nodes[1]);
        let elected = |limit| wait_for(limit, || na.is("MASTER") && nb.is("BACKUP"));
        if !elected(Duration::from_secs(30)) {
            return Err("no election within 30 s (A MASTER, B BACKUP)".into());
        }
        let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| format!("inotify_init: {e}"))?;
        let watch = |p: &Path, m| -> Result<WatchDescriptor, String> {
            ino.add_watch(p, m)
                .map_err(|e| format!("inotify_add_watch {}: {e}", p.display()))
        };
        let w_direct = watch(&nb.direct, AddWatchFlags::IN_OPEN)?;
        let w_hook = watch(&nb.hook, AddWatchFlags::IN_OPEN)?;
        let w_state = watch(&nb.dir.join("state"), AddWatchFlags::IN_MOVED_TO)?;
        let mut samples = Vec::new();
        for i in 0..n {
            // Let A settle as MASTER (its adverts flowing) before the kill.
            std::thread::sleep(Duration::from_millis(700));
            let watches = (&ino, &w_direct, &w_hook, &w_state);
            let (direct, hook, state) = std::thread::scope(|s| {
                s.spawn(|| {
                    // This thread alone at nice -20, so a busy machine delays
                    // the observer less than the observed (its children, the
                    // short `ip netns pids`, inherit it; keepalived does not).
                    let tid = nix::unistd::gettid().to_string();
                    procs::run_quiet(&["/usr/bin/renice", "-n", "-20", "-p", &tid]);
                    kill_and_watch(&na.ns, watches)
                })
                .join()
                .unwrap_or_default()
            });
            procs::reap();
            match (direct, hook, state) {
                (Some(d), Some(h), Some(s)) => samples.push(Sample {
                    direct_ms: d,
                    upkeep_ms: h,
                    state_ms: s,
                }),
                _ => {
                    return Err(format!(
                        "failover {i}: notify_master {direct:?}, hook {hook:?}, state file {state:?} after 20 s"
                    ))
                }
            }
            // A comes back and takes over again (higher priority, preempt).
            na.start_keepalived(ctx)?;
            if !elected(Duration::from_secs(30)) {
                return Err(format!("failover {i}: A did not take over again in 30 s"));
            }
        }
        Ok(samples)
    })();
    for r in &readers {
        procs::kill_tree(r.id() as i32);
    }
    drop(spaces);
    procs::reap();
    let samples = result?;
    let mut csv = Csv::new(
        "failover",
        "failover,notify_master_ms,upkeep_state_file_ms,upkeep_hook_ms,added_ms",
    );
    for (i, s) in samples.iter().enumerate() {
        csv.row(&[
            &i,
            &format!("{:.2}", s.direct_ms),
            &format!("{:.2}", s.state_ms),
            &format!("{:.2}", s.upkeep_ms),
            &format!("{:.2}", s.upkeep_ms - s.direct_ms),
        ]);
    }
    csv.write(&ctx.results)?;
    let col = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<f64>>();
    let (direct, upkeep, added) = (
        col(|s| s.direct_ms),
        col(|s| s.upkeep_ms),
        col(|s| s.upkeep_ms - s.direct_ms),
    );
    ctx.note(format!(
        "keepalived failover (upkeep against keepalived's own notify_master script; daemontools, runit and s6 n/a): Debian's keepalived ({}) in two network namespaces joined by a veth pair (198.18.1.1 and .2, VIP {VIP}), VRRPv3, advert_int {ADVERT} s, unicast, priorities 150 and 100 (preempting); on each node vrrp-notify reads the notify_fifo (hooks: `#!/bin/sh` `exit 0`) and keepalived also runs a `notify_master` script of its own (the same script: the baseline without upkeep). {n} failovers: the MASTER's keepalived is killed (SIGKILL to every process in its namespace), and on the peer the harness times (inotify IN_OPEN: the kernel opening a script to exec it) keepalived's notify_master starting and vrrp-notify's MASTER hook starting; the difference is the time upkeep adds (negative when upkeep's hook started first). The kill and the watch run in a thread of the harness at nice -20, so that on a busy machine the observer is late less often than what it observes; events read together get the same time. Then the killed keepalived is started again and takes mastership back before the next kill. The whole failover is dominated by keepalived's master-down timer (3 × advert_int + skew).",
        procs::run_output(&["/usr/bin/dpkg-query", "-W", "-f", "${Version}", "keepalived"])
            .unwrap_or_default()
            .trim()
    ));
    let mut rows = Vec::new();
    for p in [50.0, 99.0] {
        let mut r = Row::new(
            &format!("failover-hook-p{p:.0}"),
            &format!("keepalived failover: MASTER killed → peer's hook started, p{p:.0}"),
            "ms",
            true,
        );
        r.set(Sys::Upkeep, percentile(&upkeep, p));
        r.set_other("keepalived notify_master", percentile(&direct, p));
        rows.push(r);
    }
    for p in [50.0, 99.0] {
        let mut r = Row::new(
            &format!("failover-added-p{p:.0}"),
            &format!("time upkeep adds to a keepalived failover, p{p:.0}"),
            "ms",
            true,
        );
        r.goal = Some(50.0);
        r.set(Sys::Upkeep, percentile(&added, p));
        rows.push(r);
    }
    Ok(rows)
}
