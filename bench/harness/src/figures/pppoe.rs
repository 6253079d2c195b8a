//! Figure: pppoe-stop at random moments, upkeep's against rp-pppoe's
//! (Debian's pppoe package). Survivors per 10,000 stops and stop latency.
//!
//! The race itself is the one in t/pppoe/race.rs (`--bench N`), run here
//! through cargo and its output parsed: it needs the stand-in pppd and the
//! ISP simulator that live in that test binary, and one implementation of
//! the race keeps the test's proof and the bench's figure the same thing.
//! It is built with `--release` (target/release), never `--profile dist`:
//! building a test in the dist profile rebuilds target/dist's programs
//! with the test's settings under the figures that follow.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::report::{Csv, Row};
use crate::systems::Sys;
use crate::Ctx;

const RP: &str = "rp-pppoe";

/// One line of the bench's table.
#[derive(Debug, Default, Clone, Copy)]
struct Line {
    survivors: f64,
    per_10k: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `NAME  survivors  per10k  p50ms  p99ms  {codes}` → its numbers.
fn parse_line(rest: &str) -> Option<Line> {
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ms = |s: &str| s.strip_suffix("ms").and_then(|v| v.parse().ok());
    Some(Line {
        survivors: f.first()?.parse().ok()?,
        per_10k: f.get(1)?.parse().ok()?,
        p50_ms: ms(f.get(2)?)?,
        p99_ms: ms(f.get(3)?)?,
    })
}

fn parse(out: &str) -> (Option<Line>, Option<Line>) {
    let mut rp = None;
    let mut up = None;
    for l in out.lines() {
        if let Some(rest) = l.strip_prefix("rp-pppoe 3.15 (Debian)") {
            rp = parse_line(rest);
        } else if let Some(rest) = l.strip_prefix("upkeep ") {
            up = parse_line(rest);
        }
    }
    (rp, up)
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let n = if ctx.quick { 100 } else { 1000 };
    let root = ctx.bins.upkeep.parent().and_then(|p| p.parent());
    let root = root.ok_or("no repository root")?.to_path_buf();
    let cargo = |args: &[&str]| {
        Command::new("cargo")
            .args(args)
            .current_dir(&root)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cargo {}: {e}", args.join(" ")))
    };
    let t = Instant::now();
    let b = cargo(&[
        "test",
        "--release",
        "--quiet",
        "--test",
        "pppoe",
        "--no-run",
    ])?;
    if !b.status.success() {
        return Err(format!(
            "cargo test --release --test pppoe --no-run: {}",
            String::from_utf8_lossy(&b.stderr).trim()
        ));
    }
    let built = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let n_s = n.to_string();
    let o = cargo(&[
        "test",
        "--release",
        "--quiet",
        "--test",
        "pppoe",
        "--",
        "--bench",
        &n_s,
    ])?;
    let raced = t.elapsed().as_secs_f64();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    std::fs::write(ctx.log("pppoe-race"), &out).map_err(|e| format!("write log: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "pppoe --bench {n}: exit {:?}: {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    let (rp, up) = parse(&out);
    let up = up.ok_or_else(|| format!("pppoe --bench {n}: no upkeep line in:\n{out}"))?;
    let mut csv = Csv::new(
        "pppoe",
        "system,stops,survivors,survivors_per_10000,stop_p50_ms,stop_p99_ms",
    );
    for (name, l) in [(RP, rp), ("upkeep", Some(up))] {
        if let Some(l) = l {
            csv.row(&[&name, &n, &l.survivors, &l.per_10k, &l.p50_ms, &l.p99_ms]);
        }
    }
    csv.write(&ctx.results)?;
    ctx.note(format!(
        "pppoe-stop (upkeep against rp-pppoe 3.15's, Debian's pppoe package; the daemontools, runit and s6 columns n/a): the randomized race of t/pppoe/race.rs, run as `cargo test --release --test pppoe -- --bench {n}` (bench/pppoe-race; built in {built:.0} s, ran {raced:.0} s) and its output parsed. {n} stops per system, each at a random moment (0–150 ms) of a loop cycling dial 0–12 ms / up 25 ms / lost hook ~10 ms / retry delay 15 ms, against a stand-in pppd and an ISP simulator; rp-pppoe's pppoe-connect copied with its `sleep 5` scaled to the same 15 ms, its pppoe-stop as shipped. A survivor: 100 ms after pppoe-stop returned, the loop, a pppd or a session at the ISP still alive. Latency: pppoe-stop's whole run. Survivors per 10,000 are scaled from the {n} stops.{}",
        if rp.is_none() { " rp-pppoe not installed: upkeep only." } else { "" }
    ));
    let mut rows = Vec::new();
    let mut add = |id: &str, label: String, unit: &'static str, f: fn(&Line) -> f64, goal| {
        let mut r = Row::new(id, &label, unit, true);
        r.goal = goal;
        r.set(Sys::Upkeep, Some(f(&up)));
        r.set_other(RP, rp.as_ref().map(f));
        rows.push(r);
    };
    add(
        "pppoe-survivors",
        format!("pppoe-stop survivors per 10,000 stops at random moments ({n} stops)"),
        "per 10k",
        |l| l.per_10k,
        Some(0.0),
    );
    add(
        "pppoe-stop-p50",
        "pppoe-stop latency p50".into(),
        "ms",
        |l| l.p50_ms,
        None,
    );
    add(
        "pppoe-stop-p99",
        "pppoe-stop latency p99".into(),
        "ms",
        |l| l.p99_ms,
        Some(50.0),
    );
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_bench_lines() {
        let out = "rp-pppoe 3.15 (Debian)               12             4000     13.0ms     34.4ms  {0: 9, 1: 21}\n\
                   upkeep                                0                0     10.8ms     66.9ms  {0: 30}\n";
        let (rp, up) = super::parse(out);
        let (rp, up) = (rp.unwrap(), up.unwrap());
        assert_eq!(rp.per_10k, 4000.0);
        assert_eq!(up.p99_ms, 66.9);
        assert_eq!(up.survivors, 0.0);
    }
}
