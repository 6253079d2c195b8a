//! The gateway pair and its ISP, as doc/DESIGN.md ("The picture") draws them, in three network
//! namespaces (198.18.0.0/15 only):
//!
//! ```text
//!   gateway A (prio 150)  lan0 198.18.0.1 ─── LAN (VRRP, VIP 198.18.0.254) ─── lan0 198.18.0.2  gateway B (prio 100)
//!       wan0 198.18.2.2                                                          wan0 198.18.3.2
//!            └──── to-a 198.18.2.1 ── ISP (access concentrator 198.18.9.1:8864) ── to-b 198.18.3.1 ────┘
//! ```
//!
//! The ISP simulator (t/helpers/isp.rs) grants one session per account over
//! TCP; its control socket and log are files the test reads. Dropping the
//! Rig tears everything down, whatever state the test left it in.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::gateway::{Gateway, Setup, Wiring};
use super::netns::{remove_stale, Netns};

pub const CONCENTRATOR: &str = "tcp:198.18.9.1:8864";
/// The stand-in pppd's LCP echo interval; the link is dead after three.
const ECHO_MS: u64 = 200;

pub struct Rig {
    // Fields drop in order: gateways shut down (their STOP hooks end PPPoE
    // against a live ISP), then the ISP, then its namespace, then the files.
    pub gateways: Vec<Gateway>,
    isp: Child,
    _isp_ns: Netns,
    pub dir: tempfile::TempDir,
}

impl Rig {
    pub fn new(wiring: Wiring, advert: &'static str) -> Rig {
        remove_stale();
        let dir = tempfile::Builder::new()
            .prefix("upkeep-gw-")
            .tempdir()
            .unwrap();
        let isp_ns = Netns::create("isp");
        let a = Netns::create("gwa");
        let b = Netns::create("gwb");
        a.veth("lan0", &b, "lan0");
        a.up("lan0", "198.18.0.1/24");
        b.up("lan0", "198.18.0.2/24");
        for (gw, ours, theirs, net) in [
            (&a, "wan0", "to-a", "198.18.2"),
            (&b, "wan0", "to-b", "198.18.3"),
        ] {
            gw.veth(ours, &isp_ns, theirs);
            gw.up(ours, &format!("{net}.2/24"));
            isp_ns.up(theirs, &format!("{net}.1/24"));
            gw.ip(&["route", "add", "198.18.9.0/24", "via", &format!("{net}.1")]);
        }
        isp_ns.ip(&["addr", "add", "198.18.9.1/32", "dev", "lo"]);

        // The ISP: this test binary as `isp`, in the ISP's namespace.
        let isp_bin = dir.path().join("isp");
        std::os::unix::fs::symlink(std::env::current_exe().unwrap(), &isp_bin).unwrap();
        let isp = Command::new("ip")
            .args(["netns", "exec", &isp_ns.name])
            .arg(&isp_bin)
            .arg(dir.path().join("isp.sock"))
            .arg(dir.path().join("isp.log"))
            .args([
                "--listen",
                CONCENTRATOR,
                "--dead-ms",
                &(ECHO_MS * 5).to_string(),
            ])
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("isp.err")).unwrap())
            .spawn()
            .expect("isp");
        let mut rig = Rig {
            gateways: Vec::new(),
            isp,
            _isp_ns: isp_ns,
            dir,
        };
        assert!(
            rig.isp_status().starts_with("SESSIONS"),
            "ISP simulator did not answer"
        );
        let env = |gw: &str| {
            vec![
                ("PPPD_STANDIN_ISP".to_string(), CONCENTRATOR.to_string()),
                ("PPPD_STANDIN_ECHO_MS".into(), ECHO_MS.to_string()),
                ("PPPD_STANDIN_DIAL_MS".into(), "30".into()),
                ("PPPD_STANDIN_LOG".into(), "/run/pppd.log".into()),
                (
                    "PPPD_STANDIN_IP_UP_DAEMON".into(),
                    "/run/ip-up-daemon".into(),
                ),
                ("GATEWAY".into(), gw.into()),
            ]
        };
        for (ns, label, priority, lan_ip, peer_ip) in [
            (a, "A", 150, "198.18.0.1", "198.18.0.2"),
            (b, "B", 100, "198.18.0.2", "198.18.0.1"),
        ] {
            let setup = Setup {
                label,
                priority,
                lan_ip,
                peer_ip,
                advert,
                wiring,
                env: env(label),
            };
            let gdir = rig.dir.path().join(format!("gw-{label}"));
            rig.gateways.push(Gateway::install(ns, gdir, &setup));
        }
        rig
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn isp_socket(&self) -> PathBuf {
        self.path("isp.sock")
    }

    /// `SESSIONS USER=PID ...`
    pub fn isp_status(&self) -> String {
        super::isp::control(&self.isp_socket(), "STATUS")
    }

    pub fn maintenance(&self, on: bool) {
        let answer = super::isp::control(
            &self.isp_socket(),
            if on { "MAINT on" } else { "MAINT off" },
        );
        assert_eq!(answer, "OK");
    }

    /// pids holding a session now (one per account at most).
    pub fn sessions(&self) -> Vec<u32> {
        self.isp_status()
            .split_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('=').and_then(|(_, p)| p.parse().ok()))
            .collect()
    }

    pub fn isp_log(&self) -> String {
        std::fs::read_to_string(self.path("isp.log")).unwrap_or_default()
    }

    pub fn gateway(&self, label: &str) -> &Gateway {
        self.gateways.iter().find(|g| g.label == label).unwrap()
    }

    /// Every log, for a failure report.
    pub fn logs(&self, tail: usize) -> String {
        let mut s = String::new();
        for g in &self.gateways {
            s += &g.logs(tail);
        }
        let log = self.isp_log();
        let lines: Vec<&str> = log.lines().collect();
        s += &format!(
            "--- isp.log\n{}\n",
            lines[lines.len().saturating_sub(tail)..].join("\n")
        );
        s
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Gateways first (see the field order), explicitly, so the ISP is
        // still there to see their sessions end.
        self.gateways.clear();
        let _ = self.isp.kill();
        let _ = self.isp.wait();
    }
}
