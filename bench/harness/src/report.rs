//! Results: rows of the table, raw-sample CSVs, the markdown table, SVG charts.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::systems::{Sys, PEERS};

/// One row of the table: one figure for every system.
pub struct Row {
    /// File-name slug (chart name).
    pub id: String,
    pub label: String,
    pub unit: &'static str,
    pub lower_better: bool,
    pub vals: [Option<f64>; 4],
    /// A peer outside the three supervision suites, for the glue's rows
    /// (rp-pppoe, keepalived's own notify scripts): its name and figure.
    pub other: Option<(&'static str, f64)>,
    /// A goal upkeep's figure must meet (below it if lower is better).
    pub goal: Option<f64>,
}

impl Row {
    pub fn new(id: &str, label: &str, unit: &'static str, lower_better: bool) -> Row {
        Row {
            id: id.into(),
            label: label.into(),
            unit,
            lower_better,
            vals: [None; 4],
            other: None,
            goal: None,
        }
    }

    pub fn set_other(&mut self, name: &'static str, v: Option<f64>) {
        self.other = v.filter(|v| v.is_finite()).map(|v| (name, v));
    }

    /// "goal < 50: met" — empty for a row without a goal.
    pub fn goal_cell(&self) -> String {
        let Some(g) = self.goal else {
            return String::new();
        };
        let cmp = if g == 0.0 {
            ""
        } else if self.lower_better {
            "< "
        } else {
            "> "
        };
        let verdict = match self.vals[Sys::Upkeep.idx()] {
            None => "not measured",
            Some(u) if (self.lower_better && u < g) || (!self.lower_better && u > g) => "met",
            // Zero survivors is the goal itself, not a bound above it.
            Some(u) if g == 0.0 && u == 0.0 => "met",
            Some(_) => "**missed**",
        };
        format!("{cmp}{}: {verdict}", fmt_val(Some(g)))
    }

    pub fn set(&mut self, sys: Sys, v: Option<f64>) {
        self.vals[sys.idx()] = v.filter(|v| v.is_finite());
    }

    /// The best peer's value and name, by this row's direction.
    fn best_peer(&self) -> Option<(f64, &'static str)> {
        let mut best: Option<(f64, &'static str)> = None;
        for s in PEERS {
            if let Some(v) = self.vals[s.idx()] {
                let better = match best {
                    None => true,
                    Some((b, _)) => (self.lower_better && v < b) || (!self.lower_better && v > b),
                };
                if better {
                    best = Some((v, s.name()));
                }
            }
        }
        if let Some((name, v)) = self.other {
            let better = match best {
                None => true,
                Some((b, _)) => (self.lower_better && v < b) || (!self.lower_better && v > b),
            };
            if better {
                best = Some((v, name));
            }
        }
        best
    }

    /// "0.42× s6, ahead" — upkeep's value over the best peer's.
    pub fn ratio_cell(&self) -> String {
        let Some(u) = self.vals[Sys::Upkeep.idx()] else {
            return "n/a".into();
        };
        let Some((b, who)) = self.best_peer() else {
            return "no peer".into();
        };
        let ahead = if self.lower_better { u <= b } else { u >= b };
        let verdict = if ahead { "ahead" } else { "**behind**" };
        if b == 0.0 {
            let tie = if u == 0.0 { "tie" } else { verdict };
            return format!("best {who} = 0, {tie}");
        }
        format!("{}× {who}, {verdict}", fmt_ratio(u / b))
    }
}

fn fmt_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else if r >= 0.1 {
        format!("{r:.2}")
    } else {
        format!("{r:.3}")
    }
}

/// A value with as many digits as it deserves.
pub fn fmt_val(v: Option<f64>) -> String {
    let Some(v) = v else { return "n/a".into() };
    let a = v.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if a >= 1000.0 {
        group(v.round() as i64)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    s
}

fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Percentile `p` (0–100) of `samples`, linear between the nearest ranks.
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = p / 100.0 * (v.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

pub fn median(samples: &[f64]) -> Option<f64> {
    percentile(samples, 50.0)
}

pub fn mean(samples: &[f64]) -> Option<f64> {
    (!samples.is_empty()).then(|| samples.iter().sum::<f64>() / samples.len() as f64)
}

/// Raw samples of one figure, written as bench/results/NAME.csv.
pub struct Csv {
    name: String,
    text: String,
}

impl Csv {
    pub fn new(name: &str, header: &str) -> Csv {
        Csv {
            name: name.into(),
            text: format!("{header}\n"),
        }
    }

    pub fn row(&mut self, fields: &[&dyn std::fmt::Display]) {
        let line: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        let _ = writeln!(self.text, "{}", line.join(","));
    }

    pub fn write(&self, dir: &Path) -> Result<(), String> {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let path = dir.join(format!("{}.csv", self.name));
        fs::write(&path, &self.text).map_err(|e| format!("write {}: {e}", path.display()))
    }
}

/// The markdown table: one row per figure, one column per system.
/// The columns "other peer" and "goal" appear only when a row has one.
pub fn table(rows: &[Row]) -> String {
    let others = rows.iter().any(|r| r.other.is_some());
    let goals = rows.iter().any(|r| r.goal.is_some());
    let mut t = String::from("| figure | daemontools | runit | s6 |");
    let mut rule = String::from("|---|---:|---:|---:|");
    if others {
        t.push_str(" other peer |");
        rule.push_str("---:|");
    }
    t.push_str(" upkeep | upkeep vs best peer |");
    rule.push_str("---:|---|");
    if goals {
        t.push_str(" goal |");
        rule.push_str("---|");
    }
    let _ = writeln!(t, "\n{rule}");
    for r in rows {
        let dir = if r.lower_better { "↓" } else { "↑" };
        let _ = write!(t, "| {} ({}, {dir}) |", r.label, r.unit);
        for s in PEERS {
            let _ = write!(t, " {} |", fmt_val(r.vals[s.idx()]));
        }
        if others {
            match r.other {
                Some((name, v)) => {
                    let _ = write!(t, " {name}: {} |", fmt_val(Some(v)));
                }
                None => t.push_str(" n/a |"),
            }
        }
        let _ = write!(
            t,
            " {} | {} |",
            fmt_val(r.vals[Sys::Upkeep.idx()]),
            r.ratio_cell()
        );
        if goals {
            let _ = write!(t, " {} |", r.goal_cell());
        }
        t.push('\n');
    }
    t
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A bar chart of one row, as a standalone SVG document.
pub fn svg(row: &Row) -> String {
    const W: f64 = 640.0;
    const H: f64 = 300.0;
    const LEFT: f64 = 60.0;
    const TOP: f64 = 56.0;
    const BOTTOM: f64 = 40.0;
    let plot_h = H - TOP - BOTTOM;
    // The three peers, the other peer when the row has one, then upkeep.
    let mut bars: Vec<(&str, Option<f64>, bool)> = PEERS
        .iter()
        .map(|s| (s.name(), row.vals[s.idx()], false))
        .collect();
    if let Some((name, v)) = row.other {
        bars.push((name, Some(v), false));
    }
    bars.push(("upkeep", row.vals[Sys::Upkeep.idx()], true));
    let max = bars
        .iter()
        .filter_map(|b| b.1)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    // One outlier (a 1 s wait among sub-millisecond ones) would flatten the
    // other bars to nothing: past a 50× spread the bars go on a log scale.
    let min = bars
        .iter()
        .filter_map(|b| b.1)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let log = min.is_finite() && max / min > 50.0;
    let lo = if log { min.log10() - 1.0 } else { 0.0 };
    let height = |v: f64| -> f64 {
        if v <= 0.0 {
            0.0
        } else if log {
            (v.log10() - lo) / (max.log10() - lo) * plot_h
        } else {
            (v / max * plot_h).max(1.0)
        }
    };
    let slot = (W - LEFT - 20.0) / bars.len() as f64;
    let bar_w = slot * 0.6;
    let dir = if row.lower_better {
        "lower is better"
    } else {
        "higher is better"
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle" font-weight="bold">{}</text>"#,
        W / 2.0,
        xml_escape(&row.label)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="40" font-size="12" text-anchor="middle" fill="#555">{}{} — {dir}</text>"##,
        W / 2.0,
        xml_escape(row.unit),
        if log { ", log scale" } else { "" }
    );
    let base = TOP + plot_h;
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{base}" x2="{}" y2="{base}" stroke="#333"/>"##,
        W - 20.0
    );
    for (i, &(name, val, ours)) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let cx = x + bar_w / 2.0;
        let colour = if ours { "#d9480f" } else { "#4c6ef5" };
        match val {
            Some(v) => {
                let h = height(v);
                let y = base - h;
                let _ = writeln!(
                    s,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{colour}"/>"#
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{cx:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
                    y - 5.0,
                    xml_escape(&fmt_val(Some(v)))
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    r##"<text x="{cx:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#888">n/a</text>"##,
                    base - 5.0
                );
            }
        }
        let _ = writeln!(
            s,
            r#"<text x="{cx:.1}" y="{:.1}" font-size="13" text-anchor="middle">{}</text>"#,
            base + 18.0,
            name
        );
    }
    if let Some(g) = row
        .goal
        .filter(|&g| g > 0.0 && (!log || g > 10f64.powf(lo)))
    {
        let y = base - height(g.min(max));
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#2b8a3e" stroke-dasharray="6 4"/>"##,
            W - 20.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#2b8a3e">goal {}</text>"##,
            W - 22.0,
            y - 3.0,
            xml_escape(&fmt_val(Some(g)))
        );
    }
    s.push_str("</svg>\n");
    s
}

/// One line of a chart against N: its name and a value per x (None: it
/// could not run there).
pub struct Series {
    pub name: String,
    pub ours: bool,
    pub vals: Vec<Option<f64>>,
}

/// A line chart of cost against N (x on a log scale), as a standalone SVG.
pub fn svg_lines(title: &str, unit: &str, xs: &[f64], series: &[Series]) -> String {
    const W: f64 = 640.0;
    const H: f64 = 320.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 150.0;
    const TOP: f64 = 56.0;
    const BOTTOM: f64 = 44.0;
    const COLOURS: [&str; 5] = ["#4c6ef5", "#2b8a3e", "#ae3ec9", "#868e96", "#d9480f"];
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let max = series
        .iter()
        .flat_map(|s| s.vals.iter().flatten())
        .copied()
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let (x0, x1) = (
        xs.first().copied().unwrap_or(1.0).log10(),
        xs.last().copied().unwrap_or(10.0).log10(),
    );
    let span = (x1 - x0).max(f64::MIN_POSITIVE);
    let px = |x: f64| LEFT + (x.log10() - x0) / span * plot_w;
    let py = |v: f64| TOP + plot_h - v / max * plot_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle" font-weight="bold">{}</text>"#,
        W / 2.0,
        xml_escape(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{}" y="40" font-size="12" text-anchor="middle" fill="#555">{} against services (log scale) — lower is better, flat is linear cost</text>"##,
        W / 2.0,
        xml_escape(unit)
    );
    let base = TOP + plot_h;
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{base}" x2="{}" y2="{base}" stroke="#333"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{base}" stroke="#333"/>"##,
        LEFT + plot_w
    );
    for &x in xs {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"#,
            px(x),
            base + 18.0,
            fmt_val(Some(x))
        );
    }
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#555">{}</text>"##,
            LEFT - 6.0,
            py(v) + 4.0,
            fmt_val(Some(v))
        );
    }
    for (i, line) in series.iter().enumerate() {
        let colour = if line.ours {
            COLOURS[4]
        } else {
            COLOURS[i % 4]
        };
        let pts: Vec<(f64, f64)> = xs
            .iter()
            .zip(&line.vals)
            .filter_map(|(&x, v)| v.map(|v| (px(x), py(v))))
            .collect();
        let path: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="{}"/>"#,
            path.join(" "),
            if line.ours { 3 } else { 2 }
        );
        for (x, y) in &pts {
            let _ = writeln!(
                s,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"/>"#
            );
        }
        let ly = TOP + 14.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"#,
            W - RIGHT + 12.0,
            W - RIGHT + 32.0,
            W - RIGHT + 38.0,
            ly + 4.0,
            xml_escape(&line.name)
        );
    }
    s.push_str("</svg>\n");
    s
}
