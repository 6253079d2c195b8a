//! The invariant, continuously: both gateways sampled every ~50 ms through
//! a round (MASTER files, PPPoE loops and pppds), and the ISP's record read
//! as it grows (who dialled, who was refused, how many sessions at once).

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::rig::Rig;

pub const PERIOD: Duration = Duration::from_millis(50);

/// Each gateway's address as the ISP sees it (rig.rs's wan0 addresses).
pub const WAN_IP: [(&str, &str); 2] = [("A", "198.18.2.2"), ("B", "198.18.3.2")];

#[derive(Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// By gateway, in rig order (A, B).
    pub master: [bool; 2],
    /// Any pppoe-connect or pppd running.
    pub pppoe: [bool; 2],
}

/// Sample until `stop`.
pub fn sample(rig: &Rig, stop: &AtomicBool) -> Vec<Sample> {
    let mut v = Vec::new();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let at = Instant::now();
        let mut s = Sample {
            at,
            master: [false; 2],
            pppoe: [false; 2],
        };
        for (i, g) in rig.gateways.iter().enumerate().take(2) {
            s.master[i] = g.is_master();
            s.pppoe[i] = !g.pppoe_processes().is_empty();
        }
        v.push(s);
        next += PERIOD;
        match next.checked_duration_since(Instant::now()) {
            // The sampling period itself, not a synchronisation.
            Some(wait) => std::thread::sleep(wait),
            None => next = Instant::now(),
        }
    }
    v
}

/// Episodes and total time a condition held, over samples from `from` on
/// (each sample counts until the next one).
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct Span {
    pub count: usize,
    pub ms: u64,
}

impl Span {
    pub fn of(samples: &[Sample], from: Instant, cond: impl Fn(&Sample) -> bool) -> Span {
        let mut span = Span::default();
        let mut was = false;
        for w in samples.windows(2) {
            if w[0].at < from {
                continue;
            }
            let now = cond(&w[0]);
            if now {
                if !was {
                    span.count += 1;
                }
                span.ms += w[1].at.duration_since(w[0].at).as_millis() as u64;
            }
            was = now;
        }
        span
    }

    pub fn add(&mut self, o: Span) {
        self.count += o.count;
        self.ms += o.ms;
    }
}

/// One line of the ISP's record: `UNIX_MS EVENT USER PID [DETAIL] [from=IP]`.
pub struct IspEvent {
    pub line: String,
    pub ms: u64,
    pub event: String,
    pub from: Option<String>,
}

/// Reads isp.log as it grows and tracks open sessions across reads.
#[derive(Default)]
pub struct IspRecord {
    offset: u64,
    partial: String,
    open: HashSet<String>,
    pub most_at_once: usize,
}

impl IspRecord {
    /// The lines written since the last call.
    pub fn read_new(&mut self, rig: &Rig) -> Vec<IspEvent> {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(rig.path("isp.log")) {
            if f.seek(SeekFrom::Start(self.offset)).is_ok() {
                let _ = f.read_to_string(&mut text);
            }
        }
        self.offset += text.len() as u64;
        let mut text = std::mem::take(&mut self.partial) + &text;
        // A line still being written waits for the next read.
        if let Some(cut) = text.rfind('\n') {
            self.partial = text.split_off(cut + 1);
        } else {
            self.partial = std::mem::take(&mut text);
        }
        let mut out = Vec::new();
        for line in text.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.get(1..4) {
                Some(["GRANT", _, pid]) => {
                    self.open.insert(pid.to_string());
                }
                Some(["HANGUP" | "DROP" | "LOST", _, pid]) => {
                    self.open.remove(*pid);
                }
                _ => {}
            }
            self.most_at_once = self.most_at_once.max(self.open.len());
            out.push(IspEvent {
                line: line.to_string(),
                ms: w.first().and_then(|m| m.parse().ok()).unwrap_or(0),
                event: w.get(1).unwrap_or(&"").to_string(),
                from: w
                    .iter()
                    .find_map(|x| x.strip_prefix("from="))
                    .map(String::from),
            });
        }
        out
    }
}

/// An Instant as the ISP's clock (unix ms) shows it.
pub fn unix_ms(at: Instant) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    now.saturating_sub(Instant::now().saturating_duration_since(at).as_millis() as u64)
}

/// Dial answers (GRANT or REFUSE) to `label`'s address at or after `from_ms`.
pub fn dials_from(events: &[IspEvent], label: &str, from_ms: u64, refused_only: bool) -> usize {
    let ip = WAN_IP.iter().find(|(l, _)| *l == label).map(|(_, ip)| *ip);
    events
        .iter()
        .filter(|e| e.ms >= from_ms && e.from.as_deref() == ip)
        .filter(|e| e.event == "REFUSE" || (!refused_only && e.event == "GRANT"))
        .count()
}
