//! `pppoe-stop --service` while the loop's supervise is killed and started
//! again (as svscan does): the new supervise adopts the running loop with
//! the wish the old one had, so a stop must tell it `d` too, and must not
//! sit out -T waiting for a supervise that never got the command.

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::{eventually, wait_for};
use crate::fixture::{alive, text, wait_child, Opts, World};
use crate::supervised::Supervised;
use upkeep::status::Want;

pub fn all() -> Vec<(&'static str, fn())> {
    tests![
        stop_service_tells_a_restarted_supervise,
        stop_service_with_supervise_dead_then_restarted,
        stop_service_never_trusts_a_dead_supervises_pid,
        stop_service_waits_without_spinning,
        loop_killed_mid_stop_pppd_killed_at_the_limit,
    ]
}

/// A pppoe-stop running in the background, killed if the test fails.
struct Stopping(Option<Child>);

impl Stopping {
    fn start(w: &World, args: &[&str]) -> Stopping {
        let c = w
            .cmd("pppoe-stop")
            .arg(w.conf())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Stopping(Some(c))
    }

    /// Its output once it has exited (None: still running after `limit`).
    fn finish(&mut self, limit: Duration) -> Option<Output> {
        let mut c = self.0.take()?;
        if wait_child(&mut c, limit).is_none() {
            self.0 = Some(c);
            return None;
        }
        Some(c.wait_with_output().unwrap())
    }

    /// Once it has exited with 0 (within a minute): how long since `t`.
    fn succeeded(&mut self, t: Instant) -> Duration {
        let o = self
            .finish(Duration::from_secs(60))
            .expect("pppoe-stop still running after 60 s");
        let took = t.elapsed();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        took
    }
}

impl Drop for Stopping {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A supervised loop as service/pppoe ships it: with a `down` file, so a
/// supervise started with no loop left to adopt keeps it down.
fn supervised(w: &World) -> Supervised {
    let s = Supervised::pppoe_connect(w);
    fs::write(s.dir.join("down"), "").unwrap();
    s
}

/// After the stop: down as supervise says, and it stays down (a supervise
/// that wants the loop up restarts it within a second).
fn assert_stays_down(w: &World, s: &Supervised, why: &str) {
    assert!(
        eventually(Duration::from_secs(10), || s
            .status()
            .is_some_and(|st| (st.pid, st.want) == (0, Want::Down))),
        "{why}: supervise reports {:?}",
        s.status().map(|st| (st.pid, st.want))
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(w.sessions().is_empty(), "{why}: the loop dialled again");
    assert_eq!(s.status().map(|st| st.pid), Some(0), "{why}");
}

/// The supervise is killed after the stop sent `d` and before it read it;
/// a new one adopts the loop still wanting it up. The stop tells the new
/// one `d` and is done long before -T.
fn stop_service_tells_a_restarted_supervise() {
    let w = World::new(Opts::default());
    let mut s = supervised(&w);
    let looped = s.up(&w);
    let pppd = w.pppd_pid();
    let sup = Pid::from_raw(s.sup.id() as i32);
    kill(sup, Signal::SIGSTOP).unwrap();
    let t = Instant::now();
    let mut stop = Stopping::start(&w, &["--service", s.dir.to_str().unwrap(), "-T", "30s"]);
    // The stopped supervise never reads its FIFO: take the `d` out of it,
    // so that it dies without having had it.
    let mut control = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(s.dir.join("supervise/control"))
        .unwrap();
    wait_for("the stop's d", Duration::from_secs(20), || {
        let mut b = [0u8; 8];
        matches!(control.read(&mut b), Ok(1) if b[0] == b'd')
    });
    s.restart_supervise(&w);
    let took = stop.succeeded(t);
    assert!(took < Duration::from_secs(15), "the stop took {took:?}");
    assert!(!alive(looped) && !alive(pppd));
    assert_stays_down(&w, &s, "restarted supervise");
    w.assert_all_gone("after stop --service");
}

/// The supervise is dead when the stop runs, so the stop acts on the lock
/// at once; while the loop is still stopping (its pppd ignores TERM) a new
/// supervise adopts it, wanting it up. The stop must leave that supervise
/// told `d`: once the loop is gone it must not start another.
fn stop_service_with_supervise_dead_then_restarted() {
    let w = World::with_pppd_deaf_to_term("2s");
    let mut s = supervised(&w);
    let looped = s.up(&w);
    s.kill_supervise();
    let t = Instant::now();
    let mut stop = Stopping::start(&w, &["--service", s.dir.to_str().unwrap(), "-T", "30s"]);
    wait_for("the loop stopping", Duration::from_secs(20), || {
        w.state() == "stopping"
    });
    s.restart_supervise(&w);
    let took = stop.succeeded(t);
    assert!(took < Duration::from_secs(15), "the stop took {took:?}");
    assert!(!alive(looped));
    assert_stays_down(&w, &s, "supervise restarted mid-stop");
    w.assert_all_gone("after stop --service");
}

/// A bystander process, killed when dropped.
struct Bystander(Child);

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// supervise was killed -9, then its loop died: nobody updates status and
/// state, whose pid may then be another process's. With a config it
/// cannot use, the stop finds the loop through supervise's files; it must
/// never take that other process for the loop (nor its children for
/// pppd) and KILL it.
fn stop_service_never_trusts_a_dead_supervises_pid() {
    let w = World::new(Opts::default());
    let mut s = Supervised::pppoe_connect(&w);
    let looped = s.up(&w);
    let pppd = w.pppd_pid();
    s.kill_supervise();
    kill(Pid::from_raw(looped), Signal::SIGKILL).unwrap();
    wait_for("loop and pppd gone", Duration::from_secs(20), || {
        !alive(looped) && !alive(pppd)
    });
    // The loop's pid, reused: status and state now name a bystander.
    let other = Bystander(
        std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap(),
    );
    let reused = other.0.id();
    let mut st = s.status().unwrap();
    st.pid = reused;
    fs::write(s.dir.join("supervise/status"), st.encode()).unwrap();
    let state = fs::read_to_string(s.dir.join("supervise/state")).unwrap();
    let state = state.replace(&format!("pid={looped}\n"), &format!("pid={reused}\n"));
    fs::write(s.dir.join("supervise/state"), state).unwrap();
    fs::write(
        w.conf(),
        format!("{}USER=two words\n", w.read("pppoe.conf")),
    )
    .unwrap();
    let o = w.stop(&["--service", s.dir.to_str().unwrap(), "-T", "300ms"]);
    assert!(
        alive(reused as i32),
        "a reused pid was killed: {}",
        text(&o)
    );
    assert_eq!(o.status.code(), Some(111), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("supervise is not running"),
        "{}",
        text(&o)
    );
}

/// A supervise that does not answer (stopped) is waited for up to -T, on
/// events: the waiting stop must not spin on its own looks at supervise/
/// (opening the `ok` FIFO to ask whether supervise runs is an event there).
fn stop_service_waits_without_spinning() {
    use nix::sys::resource::{getrusage, UsageWho};
    let w = World::new(Opts::default());
    let s = Supervised::pppoe_connect(&w);
    s.up(&w);
    let sup = Pid::from_raw(s.sup.id() as i32);
    kill(sup, Signal::SIGSTOP).unwrap();
    let cpu = || {
        let u = getrusage(UsageWho::RUSAGE_CHILDREN).unwrap();
        let t = |tv: nix::sys::time::TimeVal| {
            Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
        };
        t(u.user_time()) + t(u.system_time())
    };
    let before = cpu();
    let o = w.stop(&["--service", s.dir.to_str().unwrap(), "-T", "2s"]);
    let used = cpu() - before;
    kill(sup, Signal::SIGCONT).unwrap();
    assert_eq!(o.status.code(), Some(111), "{}", text(&o));
    assert!(
        used < Duration::from_millis(500),
        "the stop used {used:?} of CPU"
    );
}

/// The loop is killed -9 while it waits for a pppd that ignores TERM
/// (pppd's TERM on its parent's death is ignored too): the pppd left is
/// KILLed at -T counted from the stop's start, as for the loop, not after
/// a second -T.
fn loop_killed_mid_stop_pppd_killed_at_the_limit() {
    let w = World::with_pppd_deaf_to_term("60s");
    let s = Supervised::pppoe_connect(&w);
    let looped = s.up(&w);
    let pppd = w.pppd_pid();
    let t = Instant::now();
    let mut stop = Stopping::start(&w, &["--service", s.dir.to_str().unwrap(), "-T", "4s"]);
    wait_for("the loop stopping", Duration::from_secs(20), || {
        w.state() == "stopping"
    });
    // Most of -T gone, then the loop is killed.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(t.elapsed()));
    kill(Pid::from_raw(looped), Signal::SIGKILL).unwrap();
    let took = stop.succeeded(t);
    assert!(!alive(pppd));
    assert!(
        took < Duration::from_millis(5500),
        "pppd KILLed after {took:?}"
    );
    w.assert_all_gone("after stop --service");
}

/// `--bench-service N`: pppoe-stop --service latency, N stops with the
/// loop's supervise alive, N with it killed -9 just before (no supervise
/// started again). Figures only, for bench/; nothing asserted on time.
pub fn bench(n: usize) {
    let w = World::new(Opts::default());
    let mut s = Supervised::pppoe_connect(&w);
    for killed in [false, true] {
        let mut took = Vec::new();
        for _ in 0..n {
            if !upkeep::control::supervise_running(&s.dir).unwrap_or(false) {
                s.restart_supervise(&w);
            }
            s.up(&w);
            let _ = w.pppd_pid();
            if killed {
                s.kill_supervise();
            }
            let t = Instant::now();
            let o = w.stop(&["--service", s.dir.to_str().unwrap(), "-T", "10s"]);
            took.push(t.elapsed());
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            w.assert_all_gone("bench");
        }
        took.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "supervise {}: n={n} min {:.1} ms p50 {:.1} ms p90 {:.1} ms max {:.1} ms",
            if killed { "killed -9 before" } else { "alive" },
            ms(took[0]),
            ms(took[took.len() / 2]),
            ms(took[(took.len() * 9 / 10).min(took.len() - 1)]),
            ms(took[took.len() - 1]),
        );
    }
}
