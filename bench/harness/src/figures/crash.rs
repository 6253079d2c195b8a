//! Figure 6: how often a run that exits at once is started — the load a
//! crash loop puts on a machine.

use std::collections::HashMap;
use std::fs;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::report::{Csv, Row};
use crate::systems::{write_run, ALL};
use crate::{procs, Ctx};

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let window = Duration::from_secs(if ctx.quick { 10 } else { 60 });
    let base = ctx.dir("crash")?;
    let marks = base.join("marks");
    fs::create_dir_all(&marks).map_err(|e| format!("mkdir {}: {e}", marks.display()))?;
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| format!("inotify_init: {e}"))?;
    ino.add_watch(&marks, AddWatchFlags::IN_CLOSE_WRITE)
        .map_err(|e| format!("inotify_add_watch: {e}"))?;
    let mut children = Vec::new();
    let t0 = Instant::now();
    for sys in ALL {
        let dir = base.join(sys.name());
        // One byte per start, then a failure exit straight away.
        write_run(
            &dir,
            &format!("echo >> {}/{}\nexit 1\n", marks.display(), sys.name()),
        )?;
        let argv = ctx.bins.supervisor(sys, &dir);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        children.push(procs::start(
            &argv,
            &dir,
            &ctx.log(&format!("crash-{}", sys.name())),
        )?);
    }
    let mut csv = Csv::new("crash", "system,start,seconds_since_supervisor_started");
    let mut counts: HashMap<String, usize> = HashMap::new();
    while t0.elapsed() < window {
        let left = window.saturating_sub(t0.elapsed()).as_millis().min(1000) as u16;
        let mut fds = [PollFd::new(ino.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(left));
        let t = t0.elapsed().as_secs_f64();
        while let Ok(events) = ino.read_events() {
            for e in events {
                if let Some(name) = e.name {
                    let name = name.to_string_lossy().into_owned();
                    let c = counts.entry(name.clone()).or_default();
                    csv.row(&[&name, c, &format!("{t:.3}")]);
                    *c += 1;
                }
            }
        }
    }
    // The files are the count of record (an event could merge two writes).
    let mut starts = [None; 4];
    for sys in ALL {
        let n = fs::metadata(marks.join(sys.name()))
            .map(|m| m.len())
            .unwrap_or(0);
        starts[sys.idx()] = Some(n as f64 * 60.0 / window.as_secs_f64());
    }
    for c in &children {
        procs::kill_tree(c.id() as i32);
    }
    csv.write(&ctx.results)?;
    ctx.note(format!(
        "Crash loop: one supervisor per system on a `run` that appends a byte to a file and exits 1; starts counted over {} s (all four at once){}. upkeep backs off exponentially (1 s → 30 s), the peers restart about once a second for ever.",
        window.as_secs(),
        if window.as_secs() == 60 { String::new() } else { ", scaled to a minute (scaling overstates a backoff's rate: it slows down later)".to_string() }
    ));
    let mut r = Row::new(
        "crash-loop",
        "crash-loop starts per minute",
        "starts/min",
        true,
    );
    for sys in ALL {
        r.set(sys, starts[sys.idx()]);
    }
    Ok(vec![r])
}
