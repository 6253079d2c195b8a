//! One gateway of the pair, installed as INSTALL tells a user to: upkeep's
//! programs in /usr/local/bin, the shipped service dirs in /service, the
//! hooks in /etc/upkeep/vrrp-notify.d, adsl-lost and pppoe.conf in
//! /etc/ppp, keepalived.conf.example (addresses filled in) as
//! /etc/keepalived/keepalived.conf — and `svscan /service` at "boot".
//!
//! Two gateways share one machine, so each gets its own root: an overlay of
//! the host's / (the gateway's /etc and /usr/local, prepared in `upper/`,
//! in a writable layer of its own), with /service and /run bound to plain
//! dirs the test reads,
//! in a private mount namespace inside the gateway's network namespace.
//! The shipped files keep their real paths (/service/pppoe, /run/upkeep,
//! /etc/ppp/pppoe.conf); nothing on the host changes.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::netns::Netns;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
const SVC: &str = env!("CARGO_BIN_EXE_svc");

/// Which stop the VRRP hooks use.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Wiring {
    /// The shipped hooks: MASTER → svc -u /service/pppoe, the others →
    /// pppoe-stop --service /service/pppoe (upkeep's).
    Upkeep,
    /// The seed's stop: MASTER → Debian's pppoe-start, the others →
    /// Debian's rp-pppoe pppoe-stop (`kill $PPPD_PID || exit 1`); the rest
    /// as shipped.
    Original,
    /// The seed's wiring whole: its stop, and its error rule too (adsl-lost
    /// appends `2` to keepalived_vrrp.ERROR, read with track_file weight 0:
    /// nonzero = FAULT, never cleared), with preemption.
    Seed,
}

/// What differs between the two gateways and between the rig's uses.
pub struct Setup {
    pub label: &'static str,
    pub priority: u32,
    pub lan_ip: &'static str,
    pub peer_ip: &'static str,
    pub advert: &'static str,
    pub wiring: Wiring,
    /// Environment of svscan (and so of every service): the stand-in
    /// pppd's settings.
    pub env: Vec<(String, String)>,
}

pub struct Gateway {
    pub label: &'static str,
    pub dir: PathBuf,
    /// The running svscan (a fault may kill it and start another).
    svscan: Mutex<Option<Child>>,
    /// svscan's environment, for a restart.
    env: Vec<(String, String)>,
    pub ns: Netns,
}

/// PATH inside a gateway: upkeep's programs first.
const PATH: &str = "PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin";

fn mkdirs(p: &Path) {
    fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
}

/// Install a program that nothing writes to: a hard link when the
/// filesystem allows (no copy of a large debug binary), else a copy. (A
/// file the rig may rewrite must be copied: a write through a hard link
/// would change the repository's file.)
fn install_program(from: &Path, to: &Path) {
    let _ = fs::remove_file(to);
    if fs::hard_link(from, to).is_err() {
        fs::copy(from, to).unwrap_or_else(|e| panic!("install {}: {e}", from.display()));
    }
}

/// The shipped service dir, as a user copies it: its files, not the
/// example config or the runtime `supervise/` a demo run may have left.
fn copy_service(name: &str, to: &Path, keep_down: bool) {
    mkdirs(to);
    for e in fs::read_dir(Path::new(REPO).join("service").join(name)).unwrap() {
        let e = e.unwrap();
        let file = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().unwrap().is_file()
            || file.ends_with(".example")
            || (file == "down" && !keep_down)
        {
            continue;
        }
        fs::copy(e.path(), to.join(&file)).unwrap();
    }
}

/// keepalived.conf.example with this gateway's addresses and priority.
fn keepalived_conf(s: &Setup) -> String {
    let example =
        fs::read_to_string(Path::new(REPO).join("service/keepalived/keepalived.conf.example"))
            .unwrap();
    let mut conf = example
        .replace("router_id gw1", &format!("router_id gw-{}", s.label))
        .replace("interface eth1", "interface lan0")
        .replace("priority 150", &format!("priority {}", s.priority))
        .replace(
            "unicast_src_ip 198.18.0.1",
            &format!("unicast_src_ip {}", s.lan_ip),
        )
        .replace(
            "unicast_peer {\n        198.18.0.2",
            &format!("unicast_peer {{\n        {}", s.peer_ip),
        );
    if s.wiring == Wiring::Seed {
        conf = super::original::seed_rule(&conf);
    }
    if s.advert != "1" {
        // Sub-second adverts need VRRPv3; the rounds then run in seconds.
        conf = conf
            .replace("advert_int 1", &format!("advert_int {}", s.advert))
            .replace("global_defs {\n", "global_defs {\n    vrrp_version 3\n");
    }
    for must in ["lan0", "track_file", "notify_fifo"] {
        assert!(
            conf.contains(must),
            "keepalived.conf.example changed: {must}"
        );
    }
    conf
}

impl Gateway {
    pub fn install(ns: Netns, dir: PathBuf, s: &Setup) -> Gateway {
        let upper = dir.join("upper");
        for d in [
            "usr/local/bin",
            "usr/local/sbin",
            "etc/ppp",
            "etc/keepalived",
            "etc/upkeep/vrrp-notify.d",
            "service",
        ] {
            mkdirs(&upper.join(d));
        }
        for d in ["layer", "root", "run", "service"] {
            mkdirs(&dir.join(d));
        }
        // upkeep's programs, all of them (bins/*.rs), from this build.
        let built = Path::new(SVC).parent().unwrap();
        for e in fs::read_dir(Path::new(REPO).join("bins")).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().replace(".rs", "");
            install_program(&built.join(&name), &upper.join("usr/local/bin").join(&name));
        }
        // The stand-in pppd: this test binary, which becomes it by argv[0].
        install_program(
            &std::env::current_exe().unwrap(),
            &upper.join("usr/local/sbin/pppd"),
        );
        let service = dir.join("service");
        copy_service("keepalived", &service.join("keepalived"), false);
        copy_service("vrrp-notify", &service.join("vrrp-notify"), false);
        fs::write(
            upper.join("etc/keepalived/keepalived.conf"),
            keepalived_conf(s),
        )
        .unwrap();
        let hooks = upper.join("etc/upkeep/vrrp-notify.d");
        let lost = upper.join("etc/ppp/adsl-lost");
        fs::copy(Path::new(REPO).join("service/ppp/adsl-lost"), &lost).unwrap();
        match s.wiring {
            Wiring::Upkeep => {
                copy_service("pppoe", &service.join("pppoe"), true);
                for e in fs::read_dir(Path::new(REPO).join("service/vrrp-notify/hooks")).unwrap() {
                    let e = e.unwrap();
                    fs::copy(e.path(), hooks.join(e.file_name())).unwrap();
                }
                fs::write(upper.join("etc/ppp/pppoe.conf"), super::faults::PPPOE_CONF).unwrap();
            }
            Wiring::Original => super::original::install(&upper, &hooks),
            Wiring::Seed => {
                super::original::install(&upper, &hooks);
                super::original::install_seed_rule(&upper);
            }
        }
        let g = Gateway {
            label: s.label,
            dir,
            svscan: Mutex::new(None),
            env: s.env.clone(),
            ns,
        };
        g.boot();
        g
    }

    /// "Boot": svscan /service in the gateway's own root.
    fn boot(&self) {
        let d = self.dir.display();
        // The writable layer lives in a tmpfs of the gateway's mount
        // namespace: overlayfs refuses an upper dir on overlayfs (a
        // container's /), and the layer vanishes with the namespace.
        let mut script = format!(
            "set -e\nR={d}/root\nL={d}/layer\nmount -t tmpfs tmpfs $L\n\
             mkdir $L/upper $L/work\ncp -a {d}/upper/. $L/upper/\n\
             mount -t overlay overlay -o lowerdir=/,upperdir=$L/upper,workdir=$L/work $R\n\
             mount --rbind /proc $R/proc\nmount --rbind /sys $R/sys\nmount --rbind /dev $R/dev\n\
             mount --bind {d}/run $R/run\nmount --bind {d}/service $R/service\n\
             exec chroot $R /usr/bin/env -i {PATH}"
        );
        for (k, v) in &self.env {
            script += &format!(" {k}={v}");
        }
        script += " svscan /service\n";
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns.name, "unshare", "-m"])
            .args(["--propagation", "private", "sh", "-c", &script]);
        self.start_svscan(cmd);
    }

    /// Run `cmd` (which ends in svscan, exec'd) with svscan's log as
    /// stdout and stderr, as the gateway's svscan.
    fn start_svscan(&self, mut cmd: Command) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("svscan.log"))
            .unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start svscan");
        let old = self.svscan.lock().unwrap().replace(child);
        if let Some(mut old) = old {
            let _ = old.kill();
            let _ = old.wait();
        }
    }

    /// kill -9 of svscan (its supervises and services run on); false if
    /// none ran.
    pub fn kill_svscan(&self) -> bool {
        let mut guard = self.svscan.lock().unwrap();
        // By name, not by our child's pid: whatever wraps svscan's start,
        // the fault is svscan's death.
        let mut hit = false;
        for (pid, comm) in self.ns.processes() {
            if comm == "svscan" {
                hit |= nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .is_ok();
            }
        }
        if let Some(mut c) = guard.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        hit
    }

    pub fn svscan_running(&self) -> bool {
        let mut guard = self.svscan.lock().unwrap();
        guard
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// A new `svscan /service` in the gateway's root and namespaces, as
    /// svscanboot's respawn would start one after a crash: it finds the
    /// supervises the old one left running.
    pub fn restart_svscan(&self) {
        // Any process still in the gateway's mount namespace: a supervise.
        let Some(&(pid, _)) = self.ns.processes().iter().find(|(_, c)| c == "supervise") else {
            // Nothing left of the gateway: boot it afresh.
            return self.boot();
        };
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t").arg(pid.to_string()).args([
            "-m",
            "-n",
            "-r",
            "-w",
            "/usr/bin/env",
            "-i",
            PATH,
        ]);
        for (k, v) in &self.env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.args(["svscan", "/service"]);
        self.start_svscan(cmd);
    }

    /// The supervise running /service/NAME (0: none), found by its argv.
    pub fn supervise_pid(&self, name: &str) -> u32 {
        for (pid, comm) in self.ns.processes() {
            if comm != "supervise" {
                continue;
            }
            let argv = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let dir = argv.split(|&b| b == 0).nth(1).unwrap_or_default();
            if Path::new(std::ffi::OsStr::from_bytes(dir)).file_name()
                == Some(std::ffi::OsStr::new(name))
            {
                return pid;
            }
        }
        0
    }

    /// Replace a file of the gateway's own root (its /etc), atomically, as
    /// an operator's editor would.
    pub fn write_etc(&self, path: &str, text: &str) {
        let Some(&(pid, _)) = self.ns.processes().first() else {
            return;
        };
        let target = PathBuf::from(format!("/proc/{pid}/root")).join(path.trim_start_matches('/'));
        let tmp = target.with_extension("rig-new");
        if fs::write(&tmp, text).is_ok() {
            let _ = fs::rename(&tmp, &target);
        }
    }

    pub fn service(&self, name: &str) -> PathBuf {
        self.dir.join("service").join(name)
    }

    pub fn run_file(&self, name: &str) -> PathBuf {
        self.dir.join("run").join(name)
    }

    /// keepalived_vrrp.{MASTER,BACKUP,FAULT,STOP} present in /run/upkeep.
    pub fn states(&self) -> Vec<String> {
        let Ok(rd) = fs::read_dir(self.run_file("upkeep")) else {
            return Vec::new();
        };
        let mut v: Vec<String> = rd
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.strip_prefix("keepalived_vrrp.").map(String::from)
            })
            .filter(|s| ["MASTER", "BACKUP", "FAULT", "STOP"].contains(&s.as_str()))
            .collect();
        v.sort();
        v
    }

    pub fn is_master(&self) -> bool {
        self.run_file("upkeep/keepalived_vrrp.MASTER").exists()
    }

    pub fn has_vip(&self) -> bool {
        self.ns.has_addr("198.18.0.254/")
    }

    /// The PPPoE loop and pppd processes running in this gateway.
    pub fn pppoe_processes(&self) -> Vec<(u32, String)> {
        self.ns
            .processes()
            .into_iter()
            .filter(|(_, c)| c == "pppd" || c.starts_with("pppoe-connect"))
            .collect()
    }

    /// pppoe-connect's phase (PIDFILE.state): running, waiting, hook, ...
    pub fn pppoe_phase(&self) -> String {
        fs::read_to_string(self.run_file("pppoe.pid.state"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Is the connect loop between dials (its retry delay)? upkeep's loop
    /// says so in PIDFILE.state; rp-pppoe's shows it only as a loop with
    /// no pppd.
    pub fn in_retry_delay(&self) -> bool {
        let phase = self.pppoe_phase();
        if !phase.is_empty() {
            return phase == "waiting";
        }
        let procs = self.pppoe_processes();
        procs.iter().any(|(_, c)| c.starts_with("pppoe-connect"))
            && !procs.iter().any(|(_, c)| c == "pppd")
    }

    /// `svc FLAGS /service/NAME` from outside, as an operator would.
    pub fn svc(&self, flags: &str, name: &str) {
        let _ = Command::new(SVC)
            .arg(flags)
            .arg(self.service(name))
            .stderr(Stdio::null())
            .status();
    }

    /// The pid supervise reports for a service (0: down or unknown).
    pub fn pid_of(&self, name: &str) -> u32 {
        upkeep::status::read_status(&self.service(name))
            .ok()
            .flatten()
            .map(|s| s.pid)
            .unwrap_or(0)
    }

    /// The gateway's logs, for a failure report: keepalived's own chatter
    /// (its lines start with a date) left out of svscan's log so that the
    /// supervisors' and the glue's lines fit in the tail; each service's
    /// supervise/state as it is now.
    pub fn logs(&self, tail: usize) -> String {
        let mut s = String::new();
        for name in ["keepalived", "vrrp-notify", "pppoe"] {
            let state =
                fs::read_to_string(self.service(name).join("supervise/state")).unwrap_or_default();
            s += &format!(
                "--- gateway {} /service/{name}/supervise/state\n{}\n",
                self.label,
                state.trim_end()
            );
        }
        for f in ["svscan.log", "run/pppd.log"] {
            let text = fs::read_to_string(self.dir.join(f)).unwrap_or_default();
            let keepalived_says = |l: &&str| {
                l.len() > 4 && l.as_bytes()[3] == b' ' && l.starts_with(char::is_uppercase)
            };
            let lines: Vec<&str> = text.lines().filter(|l| !keepalived_says(l)).collect();
            let from = lines.len().saturating_sub(tail);
            s += &format!(
                "--- gateway {} {f}\n{}\n",
                self.label,
                lines[from..].join("\n")
            );
        }
        s
    }
}

impl Drop for Gateway {
    /// Shut down as at power-off: TERM to svscan, which stops every service
    /// (keepalived's STOP hook ends PPPoE); what is left dies with the
    /// namespace (Netns's Drop).
    fn drop(&mut self) {
        let svscan = self.svscan.get_mut().map(Option::take).unwrap_or(None);
        if let Some(mut c) = svscan {
            super::common::terminate(&mut c, Duration::from_secs(20));
        }
    }
}
