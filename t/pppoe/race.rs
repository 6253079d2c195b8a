//! pppoe-stop always ends the loop: stops landing at random moments of the loop's life
//! (dialing, up, in the lost hook, in the retry delay), concurrent stops,
//! stops racing starts, starts racing starts. After every stop: exit 0, no
//! loop, no pppd, no pid files, lock free, no session at the ISP, and the
//! lost hook never ran for a deliberate stop.
//!
//! Also the bench (`--bench N`): the same harness against Debian's rp-pppoe
//! scripts and against upkeep, survivors per 10,000 stops and latency.

use std::collections::BTreeMap;
use std::fs;
use std::process::{Child, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::eventually;
use crate::fixture::{alive, live_loops, text, wait_child, Opts, World};
use crate::rng::Rng;

pub fn all() -> Vec<(&'static str, fn())> {
    tests![
        random_stops_always_end_everything,
        concurrent_stops_agree,
        stop_racing_start,
        concurrent_starts_dial_once,
    ]
}

/// Seeded from PPPOE_SEED or the clock (printed, so a failure can be
/// replayed).
fn rng(lane: u64) -> Rng {
    Rng::seeded("PPPOE_SEED", lane)
}

fn trials_wanted() -> usize {
    std::env::var("PPPOE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// A world whose loop cycles fast through every phase: dial (random ms),
/// up (the ISP drops the line after 25 ms), the lost hook (~10 ms), the
/// retry delay (15 ms).
fn busy_world() -> World {
    World::new(Opts {
        retry_delay: "15ms",
        // Long enough that even a badly overloaded machine never needs the
        // SIGKILL path (which these trials do not mean to exercise).
        stop_timeout: "20s",
        session_ms: Some(25),
        hook_sleep: Some("0.01"),
        extra_conf: "",
    })
}

fn wait_loop_started(w: &World, c: &Child) {
    let want = format!("{}\n", c.id());
    assert!(
        eventually(Duration::from_secs(20), || w.read("pppoe.pid") == want),
        "loop {} never took its lock: {}",
        c.id(),
        w.read("connect.err")
    );
}

/// The lost hook ran only for losses: every call says CONFIG 16 (the ISP
/// dropped the line), none says 5 (our stop), at most one per drop.
fn assert_hooks_only_for_losses(w: &World) {
    let conf = w.conf().display().to_string();
    let hooks = w.hook_lines();
    for h in &hooks {
        assert_eq!(
            h,
            &format!("{conf} 16"),
            "hook ran for something other than a loss"
        );
    }
    let drops = w.read("isp.log").matches(" DROP ").count();
    assert!(
        hooks.len() <= drops,
        "{} hook runs for {drops} drops",
        hooks.len()
    );
}

fn lanes(
    n_lanes: usize,
    total: usize,
    f: fn(usize, usize, &Mutex<BTreeMap<String, usize>>),
) -> BTreeMap<String, usize> {
    let stats = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        let per = total.div_ceil(n_lanes);
        let handles: Vec<_> = (0..n_lanes)
            .map(|lane| {
                let stats = &stats;
                s.spawn(move || f(lane, per, stats))
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
    stats.into_inner().unwrap()
}

fn random_stops_always_end_everything() {
    let stats = lanes(4, trials_wanted(), |lane, n, stats| {
        let mut rng = rng(lane as u64);
        let mut w = busy_world();
        for i in 0..n {
            w.extra_env = vec![("PPPD_STANDIN_DIAL_MS".into(), rng.below(12).to_string())];
            let mut c = w.connect();
            wait_loop_started(&w, &c);
            std::thread::sleep(Duration::from_micros(rng.below(150_000)));
            let phase = w.state();
            let o = w.stop(&[]);
            let why = format!("lane {lane} trial {i} (stop landed in {phase:?})");
            assert_eq!(o.status.code(), Some(0), "{why}: {}", text(&o));
            assert_eq!(o.stderr, b"", "{why}");
            // The loop is gone the moment pppoe-stop returns.
            assert_eq!(
                wait_child(&mut c, Duration::ZERO),
                Some(0),
                "{why}: the loop did not end by itself (exit 0) by the time pppoe-stop returned"
            );
            w.assert_all_gone(&why);
            *stats
                .lock()
                .unwrap()
                .entry(if phase.is_empty() {
                    "starting".into()
                } else {
                    phase
                })
                .or_default() += 1;
        }
        // Hooks started just before a stop finish on their own.
        std::thread::sleep(Duration::from_millis(100));
        assert_hooks_only_for_losses(&w);
    });
    println!("  stops landed in: {stats:?}");
    // The cycle is built so that every phase gets its share.
    for phase in ["running", "hook", "waiting"] {
        assert!(
            stats.get(phase).copied().unwrap_or(0) > 0,
            "no stop landed in {phase}: {stats:?}"
        );
    }
}

fn concurrent_stops_agree() {
    lanes(2, trials_wanted() / 10, |lane, n, _| {
        let mut rng = rng(100 + lane as u64);
        let w = busy_world();
        for i in 0..n {
            let mut c = w.connect();
            wait_loop_started(&w, &c);
            std::thread::sleep(Duration::from_micros(rng.below(120_000)));
            let stoppers: Vec<Child> = (0..3)
                .map(|_| {
                    w.cmd("pppoe-stop")
                        .arg(w.conf())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for s in stoppers {
                let o = s.wait_with_output().unwrap();
                assert_eq!(
                    o.status.code(),
                    Some(0),
                    "lane {lane} trial {i}: {}",
                    text(&o)
                );
            }
            assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
            w.assert_all_gone(&format!("lane {lane} trial {i}"));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_hooks_only_for_losses(&w);
    });
}

fn stop_racing_start() {
    let outcomes = lanes(2, trials_wanted() / 10, |lane, n, stats| {
        let mut rng = rng(200 + lane as u64);
        let w = busy_world();
        for i in 0..n {
            let why = format!("lane {lane} trial {i}");
            let start = w
                .cmd("pppoe-start")
                .arg(w.conf())
                .arg("-T")
                .arg("5s")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_micros(rng.below(20_000)));
            let o = w.stop(&[]);
            assert_eq!(o.status.code(), Some(0), "{why}: {}", text(&o));
            let so = start.wait_with_output().unwrap();
            let code = so.status.code();
            assert!(matches!(code, Some(0) | Some(111)), "{why}: {}", text(&so));
            // Either order is fine, but the state is coherent: a loop that
            // survived is a whole loop (lock, pid, pppd), else nothing is.
            let loops = live_loops(&w);
            let outcome = if upkeep::lock::is_held(&w.path("pppoe.pid")).unwrap() {
                let holder = upkeep::pidlock::holder(&w.path("pppoe.pid")).unwrap();
                assert!(
                    holder.is_some()
                        || eventually(Duration::from_secs(2), || upkeep::pidlock::holder(
                            &w.path("pppoe.pid")
                        )
                        .unwrap()
                        .is_some()),
                    "{why}"
                );
                assert_eq!(loops.len(), 1, "{why}: {loops:?}, start: {}", text(&so));
                "start won"
            } else {
                assert_eq!(loops, Vec::<i32>::new(), "{why}: loop without lock");
                w.assert_all_gone(&why);
                "stop won"
            };
            *stats
                .lock()
                .unwrap()
                .entry(outcome.to_string())
                .or_default() += 1;
            let o = w.stop(&[]);
            assert_eq!(o.status.code(), Some(0), "{why}: {}", text(&o));
            w.assert_all_gone(&why);
            assert!(
                eventually(Duration::from_secs(1), || live_loops(&w).is_empty()),
                "{why}"
            );
        }
    });
    println!("  outcomes: {outcomes:?}");
}

fn concurrent_starts_dial_once() {
    let w = World::new(Opts::default());
    for round in 0..10 {
        let starts: Vec<Child> = (0..3)
            .map(|_| {
                w.cmd("pppoe-start")
                    .arg(w.conf())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let codes: Vec<Option<i32>> = starts
            .into_iter()
            .map(|s| s.wait_with_output().unwrap().status.code())
            .collect();
        assert_eq!(
            codes.iter().filter(|c| **c == Some(0)).count(),
            1,
            "round {round}: {codes:?}"
        );
        assert_eq!(live_loops(&w).len(), 1);
        assert!(w.wait_session());
        assert_eq!(w.stop(&[]).status.code(), Some(0));
        w.assert_all_gone("after stop");
    }
    // Only one pppd ever asked for the session.
    assert!(
        !w.read("isp.log").contains("REFUSE"),
        "{}",
        w.read("isp.log")
    );
}

// ---------------------------------------------------------------- bench

struct Row {
    survivors: usize,
    /// Of those: the loop itself survived / only a pppd or session did.
    loops: usize,
    /// Worst stop latency by the loop's state when the stop landed.
    worst: BTreeMap<String, Duration>,
    latencies: Vec<Duration>,
    codes: BTreeMap<i32, usize>,
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A copy of Debian's pppoe-connect whose `sleep 5` is the bench's retry
/// delay (so both loops spend the same share of their life asleep).
fn rp_connect(w: &World, sleep: &str) -> std::path::PathBuf {
    let orig = fs::read_to_string("/usr/sbin/pppoe-connect").expect("Debian's pppoe package");
    assert!(orig.contains("\n    sleep 5\n"));
    let p = w.path("rp-pppoe-connect");
    crate::common::write_exec(
        &p,
        &orig.replace("\n    sleep 5\n", &format!("\n    sleep {sleep}\n")),
    );
    p
}

fn bench_row(n: usize, rp: bool) -> Row {
    let mut rng = rng(if rp { 900 } else { 901 });
    let w = busy_world();
    let d = w.path("");
    fs::write(
        w.path("rp.conf"),
        format!(
            "ETH=eth0\nUSER=acct\nPIDFILE={d}rp.pid\nPPPD={d}pppd\nLCP_INTERVAL=20\nLCP_FAILURE=3\n\
             PPPOE_TIMEOUT=80\nCLAMPMSS=1412\nDEFAULTROUTE=yes\nDEMAND=no\n",
            d = d.display()
        ),
    )
    .unwrap();
    let rp_prog = rp_connect(&w, "0.015");
    let mut row = Row {
        survivors: 0,
        loops: 0,
        worst: BTreeMap::new(),
        latencies: Vec::new(),
        codes: BTreeMap::new(),
    };
    for _ in 0..n {
        let mut c = if rp {
            w.env_cmd("sh")
                .arg(&rp_prog)
                .arg(w.path("rp.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        } else {
            w.connect()
        };
        let pidfile = w.path(if rp { "rp.pid" } else { "pppoe.pid" });
        let want = format!("{}\n", c.id());
        assert!(eventually(Duration::from_secs(20), || w
            .read(pidfile.file_name().unwrap().to_str().unwrap())
            == want));
        std::thread::sleep(Duration::from_micros(rng.below(150_000)));
        let phase = if rp { String::new() } else { w.state() };
        let t = Instant::now();
        let o = if rp {
            w.env_cmd("/usr/sbin/pppoe-stop")
                .arg(w.path("rp.conf"))
                .output()
                .unwrap()
        } else {
            w.stop(&[])
        };
        let took = t.elapsed();
        row.latencies.push(took);
        let worst = row.worst.entry(phase).or_default();
        *worst = (*worst).max(took);
        *row.codes.entry(o.status.code().unwrap_or(-1)).or_default() += 1;
        // Give a surviving loop time to redial, then look.
        std::thread::sleep(Duration::from_millis(100));
        let loop_alive = c.try_wait().unwrap().is_none();
        let pppds = w.live_pppds();
        let sessions = w.sessions();
        if loop_alive || !pppds.is_empty() || !sessions.is_empty() {
            row.survivors += 1;
            row.loops += usize::from(loop_alive);
        }
        // Clean up by force for the next round.
        let _ = c.kill();
        let _ = c.wait();
        for p in w.live_pppds() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(eventually(Duration::from_secs(20), || w
            .sessions()
            .is_empty()
            && w.live_pppds().is_empty()));
        for f in [
            "rp.pid",
            "rp.pid.pppd",
            "rp.pid.pppoe",
            "rp.pid.start",
            "pppoe.pid",
            "pppoe.pid.pppd",
            "pppoe.pid.state",
        ] {
            let _ = fs::remove_file(w.path(f));
        }
    }
    row
}

pub fn bench(n: usize) {
    println!("pppoe-race: {n} stops each, at random moments (0-150 ms) of a loop cycling");
    println!(
        "dial 0-12 ms / up 25 ms / hook ~10 ms / retry delay 15 ms; stand-in pppd + ISP simulator"
    );
    println!(
        "{:<28} {:>10} {:>16} {:>10} {:>10}  stop exit codes",
        "", "survivors", "per 10,000 stops", "p50", "p99"
    );
    for (name, rp) in [("rp-pppoe 3.15 (Debian)", true), ("upkeep", false)] {
        if rp && !std::path::Path::new("/usr/sbin/pppoe-stop").exists() {
            println!("{name:<28} skipped: /usr/sbin/pppoe-stop not installed");
            continue;
        }
        let mut r = bench_row(n, rp);
        let p50 = percentile(&mut r.latencies, 0.5);
        let p99 = percentile(&mut r.latencies, 0.99);
        println!(
            "{name:<28} {:>10} {:>16.0} {:>8.1}ms {:>8.1}ms  {:?}",
            r.survivors,
            r.survivors as f64 * 10_000.0 / n as f64,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            r.codes
        );
        println!(
            "{:<28} {} of them the loop itself; worst latency by state: {:?}",
            "", r.loops, r.worst
        );
    }
    let _ = alive;
}
