//! The gateway pair end to end (doc/DESIGN.md, "The gateway pair" and "What
//! proves it"): two gateways
//! and an ISP in network namespaces, each gateway running upkeep's svscan
//! over the shipped keepalived, vrrp-notify and pppoe services with real
//! keepalived and a stand-in pppd; rounds of random maintenance windows,
//! keepalived restarts and kills, split brain and ISP link cuts, and kills
//! of upkeep's own parts (faults.rs), each followed by a check that exactly
//! one gateway is MASTER and holds the only session. Needs root; with
//! CI=true it must run.
//!
//! `harness = false`: this binary is also the stand-in `pppd` and the
//! `isp` simulator (chosen by argv[0]). Modes:
//! - no arguments: the CI test, UPKEEP_GATEWAY_ROUNDS rounds (default 100);
//! - `--soak N --wiring upkeep|original|seed [--menu full|classic]
//!   [--seed S] [--from K] [--csv FILE] [--report FILE] [--until UNIX_S]`:
//!   the bench (bench/gateway-soak): rounds K+1..=K+N of seed S (round R
//!   of seed S always draws the same faults), counting breaks instead of
//!   failing, one CSV row per round appended to FILE, the summary of the
//!   whole CSV to the report; no round starts after UNIX_S;
//! - `--summary CSV`: the summary of a CSV (pieces of one soak).
//!
//! Every round is sampled every ~50 ms (watch.rs); the CI test fails on any
//! break: a round that does not converge, or after convergence a PPPoE
//! process or a dial on the BACKUP, no MASTER or two, or two sessions at
//! the ISP at any time.

mod common;
#[path = "helpers/conn.rs"]
mod conn;
#[path = "system/faults.rs"]
mod faults;
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
#[path = "system/report.rs"]
mod report;
#[path = "system/rig.rs"]
mod rig;
#[path = "helpers/rng.rs"]
mod rng;
#[path = "system/rounds.rs"]
mod rounds;
#[path = "system/watch.rs"]
mod watch;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use gateway::Wiring;

pub use common::eventually;

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

/// The operator's repair after a round that did not converge (what an
/// admin does by hand): kill every PPPoE process on both gateways, clear the
/// error marks, restart keepalived on both.
fn repair(rig: &rig::Rig) {
    for g in &rig.gateways {
        // Removed, not zeroed: the classic rule appends to it.
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

/// What a run is: which wiring and menu, which rounds of which seed, and
/// where its rows and summary go.
struct Plan {
    wiring: Wiring,
    menu: rounds::Menu,
    seed: u64,
    /// Rounds `from + 1 ..= from + n`.
    from: u64,
    n: u64,
    /// The soak: count breaks and repair instead of stopping.
    soak: bool,
    csv: Option<String>,
    report: Option<String>,
    /// Start no round after this.
    until: Option<std::time::SystemTime>,
}

fn run(p: &Plan) -> bool {
    let rig = rig::Rig::new(p.wiring, "0.1");
    let wiring = format!("{:?}", p.wiring);
    let menu = format!("{:?}", p.menu);
    let mut csv = p.csv.as_ref().map(|path| {
        let new = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        if new {
            writeln!(f, "{}", report::HEADER).unwrap();
        }
        f
    });
    println!(
        "seed {} rounds {}..={} wiring {wiring} menu {menu}",
        p.seed,
        p.from + 1,
        p.from + p.n
    );
    let mut isp = watch::IspRecord::default();
    // Boot: the pair elects and dials on its own.
    let booted = Instant::now();
    if let Err(e) = rounds::converge(&rig, booted, rounds::BOUND) {
        println!("boot did not converge: {e}\n{}", rig.logs(60));
        return false;
    }
    println!("boot: converged in {} ms", booted.elapsed().as_millis());
    isp.read_new(&rig);
    let mut rows = Vec::new();
    let mut ok = true;
    for i in p.from + 1..=p.from + p.n {
        if p.until.is_some_and(|t| std::time::SystemTime::now() >= t) {
            println!("--until reached: stopping before round {i}");
            break;
        }
        let mut rng = rounds::Rng::for_round(p.seed, i);
        let r = rounds::round(&rig, &mut rng, rounds::BOUND, p.menu);
        let events = isp.read_new(&rig);
        let row = report::Row::of(i, p.seed, &wiring, &menu, &r, &events, isp.most_at_once > 1);
        match &r.outcome {
            Ok((t, master)) => println!(
                "round {i}: converged in {} ms, MASTER {master}; {}{}; {}",
                t.as_millis(),
                if row.breaks() { "BREAK: " } else { "" },
                row.figures(),
                r.faults
            ),
            Err(e) => println!(
                "round {i}: NOT CONVERGED: {e}\n  {}\n  faults: {}",
                row.figures(),
                r.faults
            ),
        }
        if let Some(f) = csv.as_mut() {
            // One write: pieces run at once append to one file.
            f.write_all(format!("{}\n", row.csv()).as_bytes()).unwrap();
        }
        let broke = row.breaks();
        rows.push(row);
        if broke && p.soak {
            // What a reader needs to find the cause: when the invariant
            // began to hold, what the ISP saw in the round, the logs.
            println!(
                "round {i}: started {} ms, settled {} ms (unix); ISP:\n{}\n{}",
                watch::unix_ms(r.started),
                r.settled.map_or(0, watch::unix_ms),
                events
                    .iter()
                    .map(|e| e.line.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                rig.logs(80)
            );
        }
        if broke {
            ok = false;
            if !p.soak {
                println!("{}", rig.logs(80));
                break;
            }
            if r.outcome.is_err() {
                repair(&rig);
                let _ = rounds::converge(&rig, Instant::now(), rounds::BOUND);
            }
            // Counted once: what follows is judged afresh.
            isp.most_at_once = 0;
        }
    }
    let summary = match &p.csv {
        // The whole file: every piece of the soak so far.
        Some(path) if p.soak => report::summary(&report::read_csv(path)),
        _ => report::summary(&rows),
    };
    println!("{summary}");
    let n = |a: &std::sync::atomic::AtomicUsize| a.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "(this run, faults that bit: keepalived restarts in pppoe-connect's retry delay {}, \
         vrrp-notify kills while a hook ran {}, pppoe-connect kills {}, supervise kills {}, \
         ip-up daemons left {}, svscan kills {})",
        n(&rounds::STOPS_IN_RETRY_DELAY),
        n(&faults::KILLS_IN_HOOK),
        n(&faults::LOOPS_KILLED),
        n(&faults::SUPERVISES_KILLED),
        n(&faults::DAEMONS_LEFT),
        n(&faults::SVSCANS_KILLED)
    );
    if let Some(path) = &p.report {
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
    if let Some(csv) = opt("--summary") {
        print!("{}", report::summary(&report::read_csv(&csv)));
        return;
    }
    let soak = opt("--soak").and_then(|v| v.parse::<u64>().ok());
    let wiring = match opt("--wiring").as_deref() {
        None | Some("upkeep") => Wiring::Upkeep,
        Some("original") => Wiring::Original,
        Some("seed") => Wiring::Seed,
        Some(w) => {
            eprintln!("system: --wiring upkeep|original|seed, not {w}");
            std::process::exit(100);
        }
    };
    // upkeep's own parts can be faulted only where they run.
    let menu = match opt("--menu").as_deref() {
        Some("full") => rounds::Menu::Full,
        Some("classic") => rounds::Menu::Classic,
        None if wiring == Wiring::Upkeep => rounds::Menu::Full,
        None => rounds::Menu::Classic,
        Some(m) => {
            eprintln!("system: --menu full|classic, not {m}");
            std::process::exit(100);
        }
    };
    if let Some(why) = missing(wiring) {
        assert!(!common::in_ci(), "CI must run the gateway rig, but: {why}");
        println!("test gateway_pair_rounds ... skipped: {why}");
        return;
    }
    let seed = opt("--seed")
        .or_else(|| std::env::var("UPKEEP_GATEWAY_SEED").ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    let from = opt("--from").and_then(|v| v.parse().ok()).unwrap_or(0);
    let ok = match soak {
        Some(n) => run(&Plan {
            wiring,
            menu,
            seed,
            from,
            n,
            soak: true,
            csv: opt("--csv"),
            report: opt("--report"),
            until: opt("--until")
                .and_then(|v| v.parse::<u64>().ok())
                .map(|s| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)),
        }),
        None => {
            // `cargo test` passes a filter and flags; only ours count.
            let n = std::env::var("UPKEEP_GATEWAY_ROUNDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(100);
            let t = Instant::now();
            let ok = run(&Plan {
                wiring: Wiring::Upkeep,
                menu: rounds::Menu::Full,
                seed,
                from: 0,
                n,
                soak: false,
                csv: None,
                report: None,
                until: None,
            });
            let verdict = if ok { "ok" } else { "FAILED" };
            println!(
                "test gateway_pair_rounds ... {verdict} ({} s; replay: UPKEEP_GATEWAY_SEED={seed})",
                t.elapsed().as_secs()
            );
            ok
        }
    };
    if !ok {
        std::process::exit(1);
    }
}
