//! The gateway pair end to end (DESIGN §1, §11; seed 000): two gateways
//! and an ISP in network namespaces, each gateway running upkeep's svscan
//! over the shipped keepalived, vrrp-notify and pppoe services with real
//! keepalived and a stand-in pppd; rounds of random maintenance windows,
//! keepalived restarts and kills, split brain and ISP link cuts, each
//! followed by a check that exactly one gateway is MASTER and holds the
//! only session. Needs root; with CI=true it must run.
//!
//! `harness = false`: this binary is also the stand-in `pppd` and the
//! `isp` simulator (chosen by argv[0]). Modes:
//! - no arguments: the CI test, UPKEEP_GATEWAY_ROUNDS rounds (default 100);
//! - `--soak N --wiring upkeep|original|seed [--report FILE]`: the bench
//!   (bench/gateway-soak): N rounds, counting end states instead of failing.

#[path = "helpers/conn.rs"]
mod conn;
#[path = "system/gateway.rs"]
mod gateway;
#[path = "helpers/isp.rs"]
mod isp;
#[path = "system/netns.rs"]
mod netns;
#[path = "system/original.rs"]
mod original;
#[path = "helpers/pppd.rs"]
mod pppd;
#[path = "system/rig.rs"]
mod rig;
#[path = "helpers/rng.rs"]
mod rng;
#[path = "system/rounds.rs"]
mod rounds;
#[path = "helpers/wait.rs"]
mod wait;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gateway::Wiring;

pub use wait::wait_for;

/// Why this machine cannot run the rig (None: it can).
fn missing(wiring: Wiring) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    let mut need = vec!["/usr/sbin/keepalived"];
    if wiring != Wiring::Upkeep {
        need.extend([
            "/usr/sbin/pppoe-start",
            "/usr/sbin/pppoe-stop",
            "/usr/sbin/pppoe-connect",
        ]);
    }
    for p in need {
        if !Path::new(p).exists() {
            return Some(format!("{p} not installed"));
        }
    }
    for (prog, arg) in [("ip", "-V"), ("nft", "--version"), ("unshare", "--version")] {
        if Command::new(prog).arg(arg).output().is_err() {
            return Some(format!("{prog} not installed"));
        }
    }
    None
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Tally {
    wiring: Wiring,
    rounds: usize,
    times: Vec<Duration>,
    end_states: BTreeMap<String, usize>,
    masters: BTreeMap<&'static str, usize>,
    most_sessions: usize,
    started: Instant,
}

impl Tally {
    fn summary(&self) -> String {
        let mut t = self.times.clone();
        t.sort();
        let failed: usize = self.end_states.values().sum();
        let mut s = format!(
            "wiring: {:?}\nrounds: {}\nconverged: {} (bound {} s after the last fault healed, \
             invariant held {} ms)\nnot converged: {failed}\n",
            self.wiring,
            self.rounds,
            t.len(),
            rounds::BOUND.as_secs(),
            rounds::SETTLE.as_millis()
        );
        for (state, n) in &self.end_states {
            s += &format!("  end state \"{state}\": {n}\n");
        }
        s += &format!(
            "convergence ms: median {} p90 {} p99 {} worst {}\n",
            percentile(&t, 0.5).as_millis(),
            percentile(&t, 0.9).as_millis(),
            percentile(&t, 0.99).as_millis(),
            t.last().copied().unwrap_or_default().as_millis()
        );
        s += &format!("MASTER after the round: {:?}\n", self.masters);
        s += &format!(
            "keepalived restarts landing in pppoe-connect's retry delay: {}\n",
            rounds::STOPS_IN_RETRY_DELAY.load(std::sync::atomic::Ordering::Relaxed)
        );
        s += &format!(
            "most ISP sessions at once: {}\nwall time: {} s\n",
            self.most_sessions,
            self.started.elapsed().as_secs()
        );
        s
    }
}

/// The end state's kind: the text before the first ':' of a violation.
fn kind(violation: &str) -> String {
    violation.split(':').next().unwrap_or("").to_string()
}

/// The operator's repair after a round that did not converge (the seed's
/// "fixed by hand"): kill every PPPoE process on both gateways, clear the
/// error marks, restart keepalived on both.
fn repair(rig: &rig::Rig) {
    for g in &rig.gateways {
        // Removed, not zeroed: the seed's rule appends to it.
        let _ = std::fs::remove_file(g.run_file("upkeep/keepalived_vrrp.ERROR"));
        for (pid, _) in g.pppoe_processes() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        g.svc("-t", "keepalived");
    }
}

fn run(wiring: Wiring, n: usize, soak: bool, report: Option<&str>) -> bool {
    let rig = rig::Rig::new(wiring, "0.1");
    let mut rng = rounds::Rng::new();
    let mut tally = Tally {
        wiring,
        rounds: 0,
        times: Vec::new(),
        end_states: BTreeMap::new(),
        masters: BTreeMap::new(),
        most_sessions: 0,
        started: Instant::now(),
    };
    // Boot: the pair elects and dials on its own.
    let booted = Instant::now();
    if let Err(e) = rounds::converge(&rig, booted, rounds::BOUND) {
        println!("boot did not converge: {e}\n{}", rig.logs(60));
        return false;
    }
    println!("boot: converged in {} ms", booted.elapsed().as_millis());
    let mut ok = true;
    for i in 1..=n {
        let r = rounds::round(&rig, &mut rng, rounds::BOUND);
        tally.rounds += 1;
        match &r.outcome {
            Ok((t, master)) => {
                tally.times.push(*t);
                *tally.masters.entry(*master).or_default() += 1;
                println!(
                    "round {i}: converged in {} ms, MASTER {master}; {}",
                    t.as_millis(),
                    r.faults
                );
            }
            Err(e) => {
                *tally.end_states.entry(kind(e)).or_default() += 1;
                println!("round {i}: NOT CONVERGED: {e}\n  faults: {}", r.faults);
                ok = false;
                if !soak {
                    println!("{}", rig.logs(80));
                    break;
                }
                repair(&rig);
                let _ = rounds::converge(&rig, Instant::now(), rounds::BOUND);
            }
        }
        tally.most_sessions = rounds::most_sessions_at_once(&rig.isp_log());
        if tally.most_sessions > 1 {
            println!("the ISP saw two sessions at once\n{}", rig.logs(80));
            ok = false;
            if !soak {
                break;
            }
        }
    }
    let summary = tally.summary();
    println!("{summary}");
    if let Some(path) = report {
        std::fs::write(path, &summary).unwrap();
    }
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match Path::new(&args[0]).file_name().and_then(|s| s.to_str()) {
        Some("pppd") => std::process::exit(pppd::main(&args)),
        Some("isp") => std::process::exit(isp::main(&args)),
        _ => {}
    }
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let soak = opt("--soak").and_then(|v| v.parse::<usize>().ok());
    let wiring = match opt("--wiring").as_deref() {
        None | Some("upkeep") => Wiring::Upkeep,
        Some("original") => Wiring::Original,
        Some("seed") => Wiring::Seed,
        Some(w) => {
            eprintln!("system: --wiring upkeep|original|seed, not {w}");
            std::process::exit(100);
        }
    };
    if let Some(why) = missing(wiring) {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must run the gateway rig, but: {why}"
        );
        println!("test gateway_pair_rounds ... skipped: {why}");
        return;
    }
    let ok = match soak {
        Some(n) => run(wiring, n, true, opt("--report").as_deref()),
        None => {
            // `cargo test` passes a filter and flags; only ours count.
            let n = std::env::var("UPKEEP_GATEWAY_ROUNDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            let t = Instant::now();
            let ok = run(Wiring::Upkeep, n, false, None);
            let verdict = if ok { "ok" } else { "FAILED" };
            println!(
                "test gateway_pair_rounds ... {verdict} ({} s)",
                t.elapsed().as_secs()
            );
            ok
        }
    };
    if !ok {
        std::process::exit(1);
    }
}
