//! kill -9 of the fifo reader at random moments (right after a read, between
//! a state file and its hooks, while hooks run, with a burst queued), each
//! followed by a restart: the files and the last hook must come back to
//! the last event written, and no superseded hook may run after it.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{eventually, lines, log_hooks, setup, state_files, Reader, STATES};

/// xorshift64*: reproducible from the seed printed at the start.
pub struct Rng(u64);

impl Rng {
    pub fn from_time() -> Rng {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("rng seed {seed}");
        Rng(seed)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Hooks that log `START STATE PRIO` and `END STATE PRIO` around a sleep of
/// (PRIO % 5) * 10 ms.
pub fn logging_hooks(dir: &Path) -> std::path::PathBuf {
    log_hooks(dir, &STATES, |_, log| {
        format!("echo \"START $3 $4\" >>{log}\nsleep 0.0$(($4 % 5))\necho \"END $3 $4\" >>{log}")
    })
}

fn no_temp_files(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|rd| {
        rd.filter_map(|e| e.ok())
            .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
    })
}

/// The START lines of the log, in order.
fn starts(log: &Path) -> Vec<String> {
    lines(log)
        .into_iter()
        .filter_map(|l| l.strip_prefix("START ").map(String::from))
        .collect()
}

#[test]
fn kill_9_at_any_moment_converges_to_the_last_event() {
    let rounds: usize = std::env::var("VRRP_KILL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let (_tmp, dir) = setup();
    let log = logging_hooks(&dir);
    let state = dir.join("state");
    let mut rng = Rng::from_time();
    let mut reader = Reader::start(&dir, &[]);
    // keepalived keeps its end of the fifo open, read-write, for its whole
    // life: its lines stay in the pipe while no reader runs.
    let mut w = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("fifo"))
        .unwrap();
    let mut id: u64 = 0;
    let mut last: Option<(String, u64)> = None;
    let mut slowest = Duration::ZERO;
    let mut phases = [0usize; 5];
    for round in 0..rounds {
        // Nothing superseded ran since the last round converged.
        if let Some((s, p)) = &last {
            assert_eq!(
                starts(&log).last(),
                Some(&format!("{s} {p}")),
                "round {round}: a hook ran after the last event's"
            );
        }
        let burst = 1 + rng.below(5);
        let one_write = rng.below(2) == 0;
        let mut text = String::new();
        for _ in 0..burst {
            id += 1;
            let s = STATES[rng.below(4) as usize];
            let p = id % 250;
            let line = format!("INSTANCE \"VI_1\" {s} {p}\n");
            if one_write {
                text += &line;
            } else {
                w.write_all(line.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_micros(rng.below(2000)));
            }
            last = Some((s.to_string(), p));
        }
        if one_write {
            w.write_all(text.as_bytes()).unwrap();
        }
        // A third of the kills within a millisecond of the last write (the
        // line just read, or not yet), the rest within 40 ms.
        let within = if rng.below(3) == 0 { 1_000 } else { 40_000 };
        std::thread::sleep(Duration::from_micros(rng.below(within)));
        // Where the kill lands, as far as the files tell (a figure).
        let (s, p) = last.clone().unwrap();
        let applied = fs::read_to_string(state.join(format!("keepalived_vrrp.{s}")))
            .is_ok_and(|t| t.ends_with(&format!(" {s} {p}\n")));
        let log_now = lines(&log);
        let hook_running = log_now.last().is_some_and(|l| l.starts_with("START "));
        let last_hooked = log_now.last() == Some(&format!("END {s} {p}"));
        phases[match (applied, hook_running, last_hooked) {
            (false, false, _) => 0,
            (false, true, _) => 1,
            (true, true, _) => 2,
            (true, false, false) => 3,
            (true, false, true) => 4,
        }] += 1;
        reader.kill9();
        let killed = Instant::now();
        reader = Reader::start(&dir, &[]);
        let want_file = format!("keepalived_vrrp.{s}");
        let want_line = format!(" INSTANCE \"VI_1\" {s} {p}\n");
        let converged = eventually(Duration::from_secs(10), || {
            state_files(&state, "keepalived_vrrp") == [want_file.as_str()]
                && fs::read_to_string(state.join(&want_file)).is_ok_and(|t| t.ends_with(&want_line))
                && fs::read_to_string(state.join("keepalived_vrrp.current"))
                    .is_ok_and(|t| t == format!("{s}\n"))
                && lines(&log).last() == Some(&format!("END {s} {p}"))
                && starts(&log).last() == Some(&format!("{s} {p}"))
                // A killed writer's temp file is the restarted one's to remove.
                && no_temp_files(&state)
        });
        assert!(
            converged,
            "round {round}: last written {s} {p}; files {:?}; log tail {:?}; no temp files: {}\n{}",
            state_files(&state, "keepalived_vrrp"),
            lines(&log).iter().rev().take(6).collect::<Vec<_>>(),
            no_temp_files(&state),
            reader.stderr()
        );
        slowest = slowest.max(killed.elapsed());
    }
    eprintln!(
        "vrrp-notify: {rounds} kill -9 survived, slowest convergence after a restart {slowest:?}; \
         killed with the last event not yet applied: {} (a hook running: {}), \
         applied and a hook running: {}, applied and its hooks not yet run: {}, all done: {}",
        phases[0] + phases[1],
        phases[1],
        phases[2],
        phases[3],
        phases[4]
    );
    // The log of the hooks themselves: every END belongs to the START before it.
    let log_lines = lines(&log);
    for pair in log_lines.windows(2) {
        if let Some(end) = pair[1].strip_prefix("END ") {
            assert_eq!(pair[0], format!("START {end}"), "{log_lines:?}");
        }
    }
}

/// A reader killed while a group's hook runs, after which keepalived writes
/// an event of another instance (the default prefix: the same state files):
/// the restarted reader runs the group's unfinished hook again, then the
/// instance's, as it would have without the kill.
#[test]
fn an_unfinished_event_survives_another_instances_line() {
    let (_tmp, dir) = setup();
    let log = super::recording_hooks(&dir, &["MASTER", "BACKUP"], "1");
    let reader = Reader::start(&dir, &[]);
    let mut w = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("fifo"))
        .unwrap();
    w.write_all(b"GROUP \"G1\" MASTER 0\n").unwrap();
    let started = "START MASTER GROUP G1 MASTER 0".to_string();
    assert!(eventually(Duration::from_secs(5), || lines(&log).contains(&started)));
    reader.kill9();
    w.write_all(b"INSTANCE \"VI_2\" BACKUP 100\n").unwrap();
    let reader = Reader::start(&dir, &[]);
    let done = "END BACKUP INSTANCE VI_2 BACKUP 100".to_string();
    assert!(
        eventually(Duration::from_secs(10), || lines(&log).contains(&done)),
        "{:?}\n{}",
        lines(&log),
        reader.stderr()
    );
    assert_eq!(
        lines(&log)[1..],
        [
            "START MASTER GROUP G1 MASTER 0",
            "END MASTER GROUP G1 MASTER 0",
            "START BACKUP INSTANCE VI_2 BACKUP 100",
            "END BACKUP INSTANCE VI_2 BACKUP 100",
        ]
    );
}
