//! The round driver: replays an ISP maintenance window with random
//! faults and timings, then waits for the pair to converge and checks the
//! invariant: exactly one gateway has keepalived_vrrp.MASTER (and the VIP),
//! it holds the ISP's only session, the other runs no pppoe-connect and no
//! pppd; and in the ISP's record two sessions never overlapped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::rig::Rig;

/// After the last fault is healed, the pair must converge within this.
/// (With 0.1 s VRRP adverts, 1 s redial delay and 5 s stop limit; it scales
/// with those.)
pub const BOUND: Duration = Duration::from_secs(30);
/// The invariant must hold this long without a break to count.
pub const SETTLE: Duration = Duration::from_millis(1000);
/// After convergence the round goes on being watched this long (on top of
/// SETTLE) for a break that comes late: a loop redialling on the BACKUP.
pub const WATCH: Duration = Duration::from_millis(500);

/// Which faults a round draws from.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Menu {
    /// keepalived, VRRP and ISP faults only (for the classic wiring).
    Classic,
    /// Those and the faults of upkeep's own parts (faults.rs).
    Full,
}

/// Stops that landed while a pppoe-connect sat in its retry delay (the
/// seed's window), counted for the report.
pub static STOPS_IN_RETRY_DELAY: AtomicUsize = AtomicUsize::new(0);

/// A round's random draws: round N of seed S draws the same faults in any
/// run, so a soak can be built from pieces (and a round replayed).
pub struct Rng(crate::rng::Rng);

impl Rng {
    pub fn for_round(seed: u64, round: u64) -> Rng {
        Rng(crate::rng::Rng::from_seed(seed, round))
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }

    pub fn gateway(&mut self) -> &'static str {
        if self.chance(50) {
            "A"
        } else {
            "B"
        }
    }
}

/// How keepalived is restarted.
#[derive(Clone, Copy, Debug)]
pub enum Restart {
    /// `svc -t`: TERM, keepalived says goodbye (priority 0).
    Term,
    /// `svc -k`: supervise sends KILL.
    SvcKill,
    /// kill -9 of keepalived from outside.
    Sigkill,
}

#[derive(Clone, Debug)]
pub enum Action {
    MaintenanceOn,
    MaintenanceOff,
    Restart(&'static str, Restart),
    /// Wait (≤ 3 s) until a gateway's pppoe-connect sits in its retry
    /// delay, then restart that gateway's keepalived (`svc -t`): the stop
    /// the BACKUP hook then runs lands inside the delay (rp-pppoe's race).
    RestartInRetryDelay,
    StopKeepalived(&'static str),
    StartKeepalived(&'static str),
    CutVrrp,
    HealVrrp,
    CutIsp(&'static str),
    HealIsp(&'static str),
    Upkeep(super::faults::Fault),
}

/// A round's faults: actions at offsets from the round's start.
fn draw(rng: &mut Rng, menu: Menu) -> Vec<(Duration, Action)> {
    let mut plan = Vec::new();
    let window = |rng: &mut Rng, lo, hi| {
        let start = rng.millis(0, 1500);
        (start, start + rng.millis(lo, hi))
    };
    if rng.chance(75) {
        let (on, off) = window(rng, 200, 4000);
        plan.push((on, Action::MaintenanceOn));
        plan.push((off, Action::MaintenanceOff));
        if rng.chance(50) {
            plan.push((on + rng.millis(0, 500), Action::RestartInRetryDelay));
        }
    }
    for _ in 0..rng.below(3) {
        let how = match rng.below(3) {
            0 => Restart::Term,
            1 => Restart::SvcKill,
            _ => Restart::Sigkill,
        };
        plan.push((rng.millis(0, 3000), Action::Restart(rng.gateway(), how)));
    }
    if rng.chance(20) {
        let g = rng.gateway();
        let (stop, start) = window(rng, 100, 2000);
        plan.push((stop, Action::StopKeepalived(g)));
        plan.push((start, Action::StartKeepalived(g)));
    }
    if rng.chance(25) {
        let (cut, heal) = window(rng, 200, 3000);
        plan.push((cut, Action::CutVrrp));
        plan.push((heal, Action::HealVrrp));
    }
    if rng.chance(25) {
        let g = rng.gateway();
        let (cut, heal) = window(rng, 200, 3000);
        plan.push((cut, Action::CutIsp(g)));
        plan.push((heal, Action::HealIsp(g)));
    }
    if menu == Menu::Full {
        super::faults::draw(rng, &mut plan);
    }
    if plan.is_empty() {
        plan.push((
            rng.millis(0, 1000),
            Action::Restart(rng.gateway(), Restart::Term),
        ));
    }
    plan.sort_by_key(|(t, _)| *t);
    plan
}

fn act(rig: &Rig, a: &Action) {
    match a {
        Action::MaintenanceOn => rig.maintenance(true),
        Action::MaintenanceOff => rig.maintenance(false),
        Action::Restart(g, how) => restart(rig, g, *how),
        Action::RestartInRetryDelay => {
            let end = Instant::now() + Duration::from_secs(3);
            while Instant::now() < end {
                if let Some(g) = rig.gateways.iter().find(|g| g.in_retry_delay()) {
                    g.svc("-t", "keepalived");
                    STOPS_IN_RETRY_DELAY.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Action::StopKeepalived(g) => rig.gateway(g).svc("-d", "keepalived"),
        Action::StartKeepalived(g) => rig.gateway(g).svc("-u", "keepalived"),
        // Split brain: A neither sends nor hears VRRP.
        Action::CutVrrp => {
            rig.gateway("A")
                .ns
                .cut("cut_vrrp", "ip protocol vrrp", "ip protocol vrrp")
        }
        Action::HealVrrp => rig.gateway("A").ns.heal("cut_vrrp"),
        Action::CutIsp(g) => {
            rig.gateway(g)
                .ns
                .cut("cut_isp", "iifname \"wan0\"", "oifname \"wan0\"")
        }
        Action::HealIsp(g) => rig.gateway(g).ns.heal("cut_isp"),
        Action::Upkeep(f) => super::faults::act(rig, f),
    }
}

fn restart(rig: &Rig, g: &str, how: Restart) {
    let gw = rig.gateway(g);
    match how {
        Restart::Term => gw.svc("-t", "keepalived"),
        Restart::SvcKill => gw.svc("-k", "keepalived"),
        Restart::Sigkill => {
            let pid = gw.pid_of("keepalived");
            if pid != 0 {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

/// Put everything back: the ISP out of maintenance, links healed,
/// keepalived wanted up on both. Faults end; what follows is the pair's.
fn heal_all(rig: &Rig, plan: &[(Duration, Action)]) {
    super::faults::heal(rig, plan);
    rig.maintenance(false);
    rig.gateway("A").ns.heal("cut_vrrp");
    for g in &rig.gateways {
        g.ns.heal("cut_isp");
        g.svc("-u", "keepalived");
    }
}

/// The invariant, or what breaks it.
pub fn check(rig: &Rig) -> Result<&'static str, String> {
    let masters: Vec<_> = rig.gateways.iter().filter(|g| g.is_master()).collect();
    let sessions = rig.sessions();
    let describe = || {
        let mut s = String::new();
        for g in &rig.gateways {
            s += &format!(
                "{}: states {:?} vip {} pppoe {:?}; ",
                g.label,
                g.states(),
                g.has_vip(),
                g.pppoe_processes()
            );
        }
        s + &format!("ISP sessions {sessions:?}")
    };
    let [m] = masters[..] else {
        let what = if masters.is_empty() {
            "no MASTER (both BACKUP/FAULT)"
        } else {
            "two MASTERs"
        };
        return Err(format!("{what}: {}", describe()));
    };
    let other = rig.gateways.iter().find(|g| g.label != m.label).unwrap();
    let holder_ok = match sessions[..] {
        [pid] => m
            .pppoe_processes()
            .iter()
            .any(|(p, c)| *p == pid && c == "pppd"),
        _ => false,
    };
    if !holder_ok {
        return Err(format!(
            "MASTER {} does not hold the only session: {}",
            m.label,
            describe()
        ));
    }
    if !other.pppoe_processes().is_empty() {
        return Err(format!(
            "PPPoE left running on BACKUP {}: {}",
            other.label,
            describe()
        ));
    }
    if !m.has_vip() || other.has_vip() {
        return Err(format!(
            "VIP not on MASTER {} alone: {}",
            m.label,
            describe()
        ));
    }
    Ok(m.label)
}

/// Wait until the invariant holds for SETTLE without a break; the time from
/// `from` to the start of that stretch and the MASTER, or the last
/// violation at `bound`.
pub fn converge(
    rig: &Rig,
    from: Instant,
    bound: Duration,
) -> Result<(Duration, &'static str), String> {
    let mut held_since: Option<Instant> = None;
    let mut last_err = String::new();
    loop {
        let now = Instant::now();
        match check(rig) {
            Ok(master) => {
                let since = *held_since.get_or_insert(now);
                if now.duration_since(since) >= SETTLE {
                    return Ok((since.saturating_duration_since(from), master));
                }
            }
            Err(e) => {
                held_since = None;
                last_err = e;
            }
        }
        if now.duration_since(from) > bound + SETTLE {
            return Err(last_err);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Round {
    pub faults: String,
    /// Time to converge and the MASTER, or what broke the invariant.
    pub outcome: Result<(Duration, &'static str), String>,
    /// Both gateways, every ~50 ms from the first fault to the end.
    pub samples: Vec<super::watch::Sample>,
    pub started: Instant,
    /// Where the invariant began to hold for good (converged rounds).
    pub settled: Option<Instant>,
    pub ended: Instant,
}

/// One round: draw faults, play them, heal, wait for convergence, watch a
/// while longer; both gateways sampled throughout.
pub fn round(rig: &Rig, rng: &mut Rng, bound: Duration, menu: Menu) -> Round {
    let plan = draw(rng, menu);
    let faults = plan
        .iter()
        .map(|(t, a)| format!("{}ms {a:?}", t.as_millis()))
        .collect::<Vec<_>>()
        .join(", ");
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| super::watch::sample(rig, &stop));
        for (t, a) in &plan {
            if let Some(wait) = (start + *t).checked_duration_since(Instant::now()) {
                // The fault schedule itself: the moments are the point.
                std::thread::sleep(wait);
            }
            act(rig, a);
        }
        heal_all(rig, &plan);
        let healed = Instant::now();
        let outcome = converge(rig, healed, bound);
        let settled = outcome.as_ref().ok().map(|(t, _)| healed + *t);
        if settled.is_some() {
            // The observation window: the samples are the point.
            std::thread::sleep(WATCH);
        }
        stop.store(true, Ordering::Relaxed);
        let samples = sampler.join().unwrap_or_default();
        Round {
            faults,
            outcome,
            samples,
            started: start,
            settled,
            ended: Instant::now(),
        }
    })
}
