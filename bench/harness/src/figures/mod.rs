//! One module per figure. Each takes the context, writes its raw samples
//! to bench/results/NAME.csv, adds a note on its method, and returns its
//! rows of the table.

mod adopt;
mod check;
mod crash;
mod failover;
mod multilog;
mod pppoe;
mod restart;
mod scale;
mod scan;
mod vrrp;
mod wait;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::report::Row;
use crate::systems::{status_pid, Sys};
use crate::{procs, wait_for, Ctx};

pub type Figure = fn(&mut Ctx) -> Result<Vec<Row>, String>;

/// Every figure, in the order of the table.
pub const ALL: &[(&str, Figure)] = &[
    ("restart", restart::run),
    ("adopt", adopt::run),
    ("wait", wait::run),
    ("scan", scan::run),
    ("scale", scale::run),
    ("crash", crash::run),
    ("multilog", multilog::run),
    ("check", check::run),
    // The gateway glue: rp-pppoe is the only peer with an equivalent.
    ("pppoe", pppoe::run),
    ("vrrp", vrrp::run),
    ("failover", failover::run),
];

/// Starts `sys`'s supervisor on `dir` and waits until its status names a
/// running pid. Returns the supervisor and that pid.
pub fn start_supervised(
    ctx: &Ctx,
    sys: Sys,
    dir: &Path,
    tag: &str,
) -> Result<(Child, u32), String> {
    let argv = ctx.bins.supervisor(sys, dir);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let child = procs::start(&argv, dir, &ctx.log(tag))?;
    let mut pid = 0;
    if !wait_for(Duration::from_secs(10), || {
        pid = status_pid(sys, dir).unwrap_or(0);
        pid != 0
    }) {
        procs::kill_tree(child.id() as i32);
        return Err(format!(
            "{} on {}: service not up within 10 s",
            sys.name(),
            dir.display()
        ));
    }
    Ok((child, pid))
}

/// Time since `t0` in milliseconds.
pub fn ms_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1000.0
}
