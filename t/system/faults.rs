//! Faults of upkeep's own parts (the round menu's second half): kill -9 of
//! vrrp-notify (also while a hook runs), of pppoe-connect, of the supervise
//! running it, and of svscan (a new one then starts as svscanboot's respawn
//! would); a daemon that pppd's ip-up leaves behind holding pppd's
//! descriptors, then the loop killed; an rp-pppoe-style pppoe.conf with keys
//! upkeep does not use (a mistake the pair must live with).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::gateway::Gateway;
use super::rig::Rig;

/// vrrp-notify kills that landed while one of its hooks ran.
pub static KILLS_IN_HOOK: AtomicUsize = AtomicUsize::new(0);
/// Faults that found their target (a loop, a supervise, an ip-up daemon
/// started, an svscan), for the run's last line: a fault that never bites
/// proves nothing.
pub static LOOPS_KILLED: AtomicUsize = AtomicUsize::new(0);
pub static SUPERVISES_KILLED: AtomicUsize = AtomicUsize::new(0);
pub static DAEMONS_LEFT: AtomicUsize = AtomicUsize::new(0);
pub static SVSCANS_KILLED: AtomicUsize = AtomicUsize::new(0);

/// The shipped pppoe.conf of the rig (gateway.rs writes it at install).
pub const PPPOE_CONF: &str = "# pppoe-connect's configuration (pppoe-connect(8)).\n\
     ETH=wan0\nUSER=gateway@isp.example\nPPPD=/usr/local/sbin/pppd\n\
     RETRY_DELAY=1s\nSTOP_TIMEOUT=5s\n";

/// The same settings as an rp-pppoe user would carry them over: rp-pppoe's
/// layout, quoting and `$VAR`s, and keys upkeep only passes on or ignores.
const RP_PPPOE_CONF: &str = "# Carried over from rp-pppoe 3.15.\n\
     export ETH='wan0'\nUSER=\"gateway@isp.example\"\nDEMAND=no\nDNSTYPE=SERVER\n\
     PEERDNS=yes\nDNS1=\nDNS2=\nDEFAULTROUTE=yes\nCONNECT_TIMEOUT=30\nCONNECT_POLL=2\n\
     ACNAME=\nSERVICENAME=\nPING=\".\"\nCF_BASE=`basename $CONFIG`\n\
     LCP_INTERVAL=20\nLCP_FAILURE=3\nPPPOE_TIMEOUT=80\nFIREWALL=NONE\nCLAMPMSS=1412\n\
     PPPOE_EXTRA=\"\"\nPPPD_EXTRA=\"\"\nSYNCHRONOUS=no\nLINUX_PLUGIN=\n\
     PPPD=/usr/local/sbin/pppd\nRETRY_DELAY=1s\nSTOP_TIMEOUT=5s\n\
     SOME_LOCAL_KEY=${USER}\n";

#[derive(Clone, Debug)]
pub enum Fault {
    /// kill -9 of vrrp-notify, at a random moment.
    KillNotify(&'static str),
    /// `svc -t` of the gateway's keepalived, then kill -9 of vrrp-notify
    /// as soon as it runs a hook (≤ 3 s).
    KillNotifyInHook(&'static str),
    /// kill -9 of a running pppoe-connect (the MASTER's, as a rule; the
    /// bool picks one when both run).
    KillLoop(bool),
    /// kill -9 of the supervise that runs pppoe-connect.
    KillLoopSupervise(bool),
    /// pppd's ip-up leaves a daemon holding pppd's descriptors (the loop
    /// is made to redial, SIGHUP), then the loop is killed (kill -9).
    IpUpDaemonThenKillLoop(bool),
    KillSvscan(&'static str),
    /// `svscan /service` again, as svscanboot's respawn would.
    StartSvscan(&'static str),
    /// An rp-pppoe-style pppoe.conf with extra keys on this gateway, until
    /// the round heals.
    RpPppoeConf(&'static str),
}

fn sigkill(pid: u32) -> bool {
    pid != 0 && kill(Pid::from_raw(pid as i32), Signal::SIGKILL).is_ok()
}

fn count(hit: bool, n: &AtomicUsize) {
    if hit {
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// The gateway whose pppoe-connect runs (either if both), if any.
fn with_loop(rig: &Rig, coin: bool) -> Option<&Gateway> {
    let running: Vec<&Gateway> = rig
        .gateways
        .iter()
        .filter(|g| g.pid_of("pppoe") != 0)
        .collect();
    match running.len() {
        0 => None,
        1 => Some(running[0]),
        _ => Some(running[usize::from(coin)]),
    }
}

/// Does `pid` have a child (a hook, for vrrp-notify)?
fn has_child(pid: u32) -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    rd.flatten().any(|e| {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // `PID (COMM) STATE PPID ...`: COMM may hold blanks; PPID follows
        // the last ')'.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
            == Some(pid)
    })
}

pub fn act(rig: &Rig, f: &Fault) {
    match f {
        Fault::KillNotify(g) => {
            sigkill(rig.gateway(g).pid_of("vrrp-notify"));
        }
        Fault::KillNotifyInHook(g) => {
            let gw = rig.gateway(g);
            gw.svc("-t", "keepalived");
            let end = Instant::now() + Duration::from_secs(3);
            while Instant::now() < end {
                let pid = gw.pid_of("vrrp-notify");
                if pid != 0 && has_child(pid) {
                    sigkill(pid);
                    KILLS_IN_HOOK.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            sigkill(gw.pid_of("vrrp-notify"));
        }
        Fault::KillLoop(coin) => {
            if let Some(gw) = with_loop(rig, *coin) {
                count(sigkill(gw.pid_of("pppoe")), &LOOPS_KILLED);
            }
        }
        Fault::KillLoopSupervise(coin) => {
            let gw = with_loop(rig, *coin).unwrap_or(&rig.gateways[usize::from(*coin)]);
            count(sigkill(gw.supervise_pid("pppoe")), &SUPERVISES_KILLED);
        }
        Fault::IpUpDaemonThenKillLoop(coin) => {
            let Some(gw) = with_loop(rig, *coin) else {
                return;
            };
            let flag = gw.run_file("ip-up-daemon");
            // The daemon outlives the round's healing, not the next rounds.
            let _ = std::fs::write(&flag, "8\n");
            let _ = kill(Pid::from_raw(gw.pid_of("pppoe") as i32), Signal::SIGHUP);
            // pppd removes the flag as it starts the daemon.
            let started = super::eventually(Duration::from_secs(3), || !flag.exists());
            count(started, &DAEMONS_LEFT);
            let _ = std::fs::remove_file(&flag);
            count(sigkill(gw.pid_of("pppoe")), &LOOPS_KILLED);
        }
        Fault::KillSvscan(g) => count(rig.gateway(g).kill_svscan(), &SVSCANS_KILLED),
        Fault::StartSvscan(g) => {
            let gw = rig.gateway(g);
            if !gw.svscan_running() {
                gw.restart_svscan();
            }
        }
        Fault::RpPppoeConf(g) => rig
            .gateway(g)
            .write_etc("/etc/ppp/pppoe.conf", RP_PPPOE_CONF),
    }
}

/// Undo what outlives a round: a killed svscan is started again, the
/// shipped config put back.
pub fn heal(rig: &Rig, plan: &[(Duration, super::rounds::Action)]) {
    use super::rounds::Action;
    for (_, a) in plan {
        match a {
            Action::Upkeep(Fault::KillSvscan(g)) if !rig.gateway(g).svscan_running() => {
                rig.gateway(g).restart_svscan()
            }
            Action::Upkeep(Fault::RpPppoeConf(g)) => {
                rig.gateway(g).write_etc("/etc/ppp/pppoe.conf", PPPOE_CONF)
            }
            _ => {}
        }
    }
}

/// Draw this round's faults of upkeep's parts, at offsets within 3 s.
pub fn draw(rng: &mut super::rounds::Rng, plan: &mut Vec<(Duration, super::rounds::Action)>) {
    use super::rounds::Action::Upkeep;
    let at = |rng: &mut super::rounds::Rng| rng.millis(0, 3000);
    if rng.chance(16) {
        let g = rng.gateway();
        let f = if rng.chance(50) {
            Fault::KillNotifyInHook(g)
        } else {
            Fault::KillNotify(g)
        };
        plan.push((at(rng), Upkeep(f)));
    }
    if rng.chance(14) {
        let coin = rng.chance(50);
        plan.push((at(rng), Upkeep(Fault::KillLoop(coin))));
    }
    if rng.chance(10) {
        let coin = rng.chance(50);
        plan.push((at(rng), Upkeep(Fault::KillLoopSupervise(coin))));
    }
    if rng.chance(10) {
        let coin = rng.chance(50);
        plan.push((at(rng), Upkeep(Fault::IpUpDaemonThenKillLoop(coin))));
    }
    if rng.chance(10) {
        let g = rng.gateway();
        let t = at(rng);
        plan.push((t, Upkeep(Fault::KillSvscan(g))));
        // svscanboot's init respawns at once; a busy one a while later.
        plan.push((t + rng.millis(0, 1500), Upkeep(Fault::StartSvscan(g))));
    }
    if rng.chance(10) {
        let g = rng.gateway();
        plan.push((at(rng), Upkeep(Fault::RpPppoeConf(g))));
    }
}
