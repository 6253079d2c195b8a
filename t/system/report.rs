//! A round's figures (one CSV row each) and the summary of many rows: the
//! soak's pieces append rows to one CSV, and the summary is made from the
//! whole file, so a long run can be built from pieces.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::rounds::{Round, BOUND, SETTLE, WATCH};
use super::watch::{dials_from, unix_ms, IspEvent, Sample, Span};

pub const HEADER: &str = "round,seed,wiring,menu,converged,converge_ms,master,end_state,\
two_master_n,two_master_ms,both_pppoe_n,both_pppoe_ms,\
after_backup_pppoe_n,after_backup_pppoe_ms,after_backup_dials,\
after_no_master_n,after_no_master_ms,after_two_master_n,after_two_master_ms,\
isp_two_sessions,refused_a,refused_b,round_ms,faults";

#[derive(Clone, Debug, Default)]
pub struct Row {
    pub round: u64,
    pub seed: u64,
    pub wiring: String,
    pub menu: String,
    pub converge_ms: Option<u64>,
    pub master: String,
    pub end_state: String,
    /// Through the whole round (faults included).
    pub two_master: Span,
    pub both_pppoe: Span,
    /// From convergence to the end of the watch.
    pub after_backup_pppoe: Span,
    pub after_backup_dials: usize,
    pub after_no_master: Span,
    pub after_two_master: Span,
    /// The ISP's record showed two sessions at once (since the start).
    pub isp_two_sessions: bool,
    pub refused: [usize; 2],
    pub round_ms: u64,
    pub faults: String,
    /// How many samples the round had (not in the CSV).
    pub samples: usize,
}

impl Row {
    /// A round's row; `events`: the ISP's lines written during it.
    #[allow(clippy::too_many_arguments)]
    pub fn of(
        round: u64,
        seed: u64,
        wiring: &str,
        menu: &str,
        r: &Round,
        events: &[IspEvent],
        isp_two_sessions: bool,
    ) -> Row {
        let s: &[Sample] = &r.samples;
        let mut row = Row {
            round,
            seed,
            wiring: wiring.into(),
            menu: menu.into(),
            two_master: Span::of(s, r.started, |x| x.master[0] && x.master[1]),
            both_pppoe: Span::of(s, r.started, |x| x.pppoe[0] && x.pppoe[1]),
            isp_two_sessions,
            round_ms: r.ended.duration_since(r.started).as_millis() as u64,
            faults: r.faults.clone(),
            samples: s.len(),
            ..Row::default()
        };
        let start_ms = unix_ms(r.started);
        for (i, label) in ["A", "B"].iter().enumerate() {
            row.refused[i] = dials_from(events, label, start_ms, true);
        }
        match &r.outcome {
            Ok((t, master)) => {
                row.converge_ms = Some(t.as_millis() as u64);
                row.master = master.to_string();
                let settled = r.settled.unwrap_or(r.ended);
                let m = usize::from(*master == "B");
                let backup = 1 - m;
                row.after_backup_pppoe = Span::of(s, settled, |x| x.pppoe[backup]);
                row.after_no_master = Span::of(s, settled, |x| !x.master[0] && !x.master[1]);
                row.after_two_master = Span::of(s, settled, |x| x.master[0] && x.master[1]);
                let backup_label = if backup == 0 { "A" } else { "B" };
                row.after_backup_dials = dials_from(events, backup_label, unix_ms(settled), false);
            }
            Err(e) => {
                row.end_state = e.split(':').next().unwrap_or("").replace(',', ";");
            }
        }
        row
    }

    /// Any break of the invariant: not converged, or after convergence a
    /// PPPoE process or dial on the BACKUP, no MASTER or two; or two
    /// sessions at the ISP ever.
    pub fn breaks(&self) -> bool {
        self.converge_ms.is_none()
            || self.after_backup_pppoe.count > 0
            || self.after_backup_dials > 0
            || self.after_no_master.count > 0
            || self.after_two_master.count > 0
            || self.isp_two_sessions
    }

    /// The round line's figures.
    pub fn figures(&self) -> String {
        format!(
            "two MASTER {}x/{}ms, PPPoE on both {}x/{}ms; after convergence: \
             BACKUP PPPoE {}x/{}ms, BACKUP dials {}, no MASTER {}x/{}ms, \
             two MASTER {}x/{}ms; ISP refused A {} B {}; {} samples",
            self.two_master.count,
            self.two_master.ms,
            self.both_pppoe.count,
            self.both_pppoe.ms,
            self.after_backup_pppoe.count,
            self.after_backup_pppoe.ms,
            self.after_backup_dials,
            self.after_no_master.count,
            self.after_no_master.ms,
            self.after_two_master.count,
            self.after_two_master.ms,
            self.refused[0],
            self.refused[1],
            self.samples
        )
    }

    pub fn csv(&self) -> String {
        let sp = |s: Span| format!("{},{}", s.count, s.ms);
        format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},\"{}\"",
            self.round,
            self.seed,
            self.wiring,
            self.menu,
            u8::from(self.converge_ms.is_some()),
            self.converge_ms.map(|t| t.to_string()).unwrap_or_default(),
            self.master,
            self.end_state,
            sp(self.two_master),
            sp(self.both_pppoe),
            sp(self.after_backup_pppoe),
            self.after_backup_dials,
            sp(self.after_no_master),
            sp(self.after_two_master),
            u8::from(self.isp_two_sessions),
            format_args!("{},{},{}", self.refused[0], self.refused[1], self.round_ms),
            self.faults.replace('"', "'")
        )
    }

    /// A row as `csv` wrote it (None: the header or a torn line).
    pub fn parse(line: &str) -> Option<Row> {
        let (head, faults) = line.split_once(",\"")?;
        let f: Vec<&str> = head.split(',').collect();
        if f.len() != 23 {
            return None;
        }
        let n = |i: usize| f[i].parse::<u64>().ok();
        let span = |i: usize| -> Option<Span> {
            Some(Span {
                count: n(i)? as usize,
                ms: n(i + 1)?,
            })
        };
        Some(Row {
            round: n(0)?,
            seed: n(1)?,
            wiring: f[2].into(),
            menu: f[3].into(),
            converge_ms: if f[4] == "1" { n(5) } else { None },
            master: f[6].into(),
            end_state: f[7].into(),
            two_master: span(8)?,
            both_pppoe: span(10)?,
            after_backup_pppoe: span(12)?,
            after_backup_dials: n(14)? as usize,
            after_no_master: span(15)?,
            after_two_master: span(17)?,
            isp_two_sessions: f[19] == "1",
            refused: [n(20)? as usize, n(21)? as usize],
            round_ms: n(22)?,
            faults: faults.trim_end().trim_end_matches('"').into(),
            samples: 0,
        })
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The fault kinds a round's plan names (`Restart`, `KillLoop`, ...).
fn fault_kinds(faults: &str) -> Vec<String> {
    faults
        .split(", ")
        .filter_map(|a| a.split_once("ms ").map(|(_, act)| act))
        .map(|act| {
            let act = act.strip_prefix("Upkeep(").unwrap_or(act);
            act.split(['(', ')']).next().unwrap_or("").to_string()
        })
        .collect()
}

/// The round numbers as runs: `1..=700 1001..=1650`.
fn ranges(rows: &[Row]) -> String {
    let mut v: Vec<u64> = rows.iter().map(|r| r.round).collect();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(format!("{}..={}", v[i], v[j]));
        i = j + 1;
    }
    out.join(" ")
}

/// The summary of rows (any number of pieces of one wiring).
pub fn summary(rows: &[Row]) -> String {
    let mut s = String::new();
    let first = rows.first().cloned().unwrap_or_default();
    let mut seeds: Vec<String> = Vec::new();
    for r in rows {
        let piece = format!("{}", r.seed);
        if !seeds.contains(&piece) {
            seeds.push(piece);
        }
    }
    let mut times: Vec<u64> = rows.iter().filter_map(|r| r.converge_ms).collect();
    times.sort_unstable();
    let breaks = rows.iter().filter(|r| r.breaks()).count();
    let _ = writeln!(s, "wiring: {}\nfault menu: {}", first.wiring, first.menu);
    let _ = writeln!(s, "seed: {}; rounds {}", seeds.join(" "), ranges(rows));
    let _ = writeln!(s, "rounds: {}", rows.len());
    let _ = writeln!(
        s,
        "converged: {} (bound {} s after the last fault healed, invariant held {} ms, \
         then watched {} ms more)",
        times.len(),
        BOUND.as_secs(),
        SETTLE.as_millis(),
        WATCH.as_millis()
    );
    let _ = writeln!(s, "invariant breaks (rounds): {breaks}");
    let mut ends: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.converge_ms.is_none()) {
        *ends.entry(&r.end_state).or_default() += 1;
    }
    for (e, n) in ends {
        let _ = writeln!(s, "  not converged, end state \"{e}\": {n}");
    }
    let _ = writeln!(
        s,
        "convergence ms: p50 {} p90 {} p99 {} worst {}",
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(0)
    );
    let uncut: Vec<Row> = rows
        .iter()
        .filter(|r| !r.faults.contains("CutVrrp"))
        .cloned()
        .collect();
    let total_of = |rows: &[Row], f: &dyn Fn(&Row) -> Span| {
        let mut t = Span::default();
        let mut rounds = 0;
        for r in rows {
            let x = f(r);
            rounds += usize::from(x.count > 0);
            t.add(x);
        }
        format!("{} times in {rounds} rounds, {} ms", t.count, t.ms)
    };
    let total = |f: &dyn Fn(&Row) -> Span| total_of(rows, f);
    let _ = writeln!(s, "sampled every 50 ms through each round:");
    let _ = writeln!(
        s,
        "  two MASTER files (faults included): {}",
        total(&|r| r.two_master)
    );
    let _ = writeln!(
        s,
        "  PPPoE (loop or pppd) on both gateways (faults included): {}",
        total(&|r| r.both_pppoe)
    );
    let _ = writeln!(
        s,
        "  the same in the {} rounds without a split brain (no VRRP cut): two MASTER files {}; \
         PPPoE on both {}",
        uncut.len(),
        total_of(&uncut, &|r| r.two_master),
        total_of(&uncut, &|r| r.both_pppoe)
    );
    let _ = writeln!(s, "  after convergence:");
    let _ = writeln!(
        s,
        "    PPPoE on the BACKUP: {}",
        total(&|r| r.after_backup_pppoe)
    );
    let _ = writeln!(
        s,
        "    dial attempts from the BACKUP: {}",
        rows.iter().map(|r| r.after_backup_dials).sum::<usize>()
    );
    let _ = writeln!(s, "    no MASTER: {}", total(&|r| r.after_no_master));
    let _ = writeln!(s, "    two MASTERs: {}", total(&|r| r.after_two_master));
    let _ = writeln!(
        s,
        "rounds where the ISP saw two sessions at once: {}",
        rows.iter().filter(|r| r.isp_two_sessions).count()
    );
    let _ = writeln!(
        s,
        "ISP refusals: A {} B {}",
        rows.iter().map(|r| r.refused[0]).sum::<usize>(),
        rows.iter().map(|r| r.refused[1]).sum::<usize>()
    );
    let mut masters: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.converge_ms.is_some()) {
        *masters.entry(&r.master).or_default() += 1;
    }
    let _ = writeln!(s, "MASTER after the round: {masters:?}");
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows {
        for k in fault_kinds(&r.faults) {
            *kinds.entry(k).or_default() += 1;
        }
    }
    let _ = writeln!(s, "faults played: {kinds:?}");
    let _ = writeln!(
        s,
        "round time: {} s in all",
        rows.iter().map(|r| r.round_ms).sum::<u64>() / 1000
    );
    s
}

/// Rows of a CSV file (missing file: none).
pub fn read_csv(path: &str) -> Vec<Row> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(Row::parse)
        .collect()
}
