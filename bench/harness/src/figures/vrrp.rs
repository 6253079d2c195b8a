//! Figure: vrrp-notify's latency per event (upkeep only: keepalived's peers
//! here have no such reader). The harness is keepalived: it writes one
//! notify_fifo line at a time into vrrp-notify's fifo and times, through
//! inotify, the state file appearing (the rename into the state dir) and
//! the hook starting (the kernel opening the hook script to exec it), then
//! waits for the hook to finish before the next line, so every event is
//! timed on an idle reader.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::ms_since;
use crate::report::{percentile, Csv, Row};
use crate::systems::Sys;
use crate::{procs, wait_for, Ctx};

const PREFIX: &str = "keepalived_vrrp";
const GIVE_UP: Duration = Duration::from_secs(10);

fn write_exec(path: &Path, body: &str) -> Result<(), String> {
    fs::write(path, body).map_err(|e| format!("write {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

/// The three moments of one event, in ms after the line was written.
struct Event {
    state_ms: f64,
    hook_ms: f64,
    done_ms: f64,
}

struct Watches {
    ino: Inotify,
    state: WatchDescriptor,
    hooks: WatchDescriptor,
    done: WatchDescriptor,
}

/// Waits until `state`'s file is in place, its hook started and finished.
fn one_event(w: &Watches, fifo: &mut File, state: &str, prio: u32) -> Result<Event, String> {
    let file = format!("{PREFIX}.{state}");
    let line = format!("INSTANCE \"VI_1\" {state} {prio}\n");
    while w.ino.read_events().is_ok() {}
    let t0 = Instant::now();
    fifo.write_all(line.as_bytes())
        .map_err(|e| format!("write fifo: {e}"))?;
    let (mut st, mut hook, mut done) = (None, None, None);
    while done.is_none() || st.is_none() || hook.is_none() {
        if t0.elapsed() > GIVE_UP {
            return Err(format!(
                "{state}: state file {st:?}, hook {hook:?}, done {done:?} after {} s",
                GIVE_UP.as_secs()
            ));
        }
        let mut fds = [PollFd::new(w.ino.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(100u8));
        while let Ok(events) = w.ino.read_events() {
            let now = ms_since(t0);
            for e in events {
                let name = e.name.map(|n| n.to_string_lossy().into_owned());
                let name = name.as_deref().unwrap_or("");
                if e.wd == w.state && name == file && st.is_none() {
                    st = Some(now);
                } else if e.wd == w.hooks && name == state && hook.is_none() {
                    hook = Some(now);
                } else if e.wd == w.done && name == state && done.is_none() {
                    done = Some(now);
                }
            }
        }
    }
    Ok(Event {
        state_ms: st.unwrap_or_default(),
        hook_ms: hook.unwrap_or_default(),
        done_ms: done.unwrap_or_default(),
    })
}

/// The floor for the hook: the harness itself starting the same script,
/// from its spawn until the kernel opens it (the same inotify watch).
fn floor(w: &Watches, hooks: &Path, n: usize) -> Result<Vec<f64>, String> {
    let mut out = Vec::new();
    for _ in 0..n {
        while w.ino.read_events().is_ok() {}
        let t0 = Instant::now();
        let mut c = std::process::Command::new(hooks.join("MASTER"))
            .args(["INSTANCE", "VI_1", "MASTER", "150"])
            .current_dir(hooks)
            .env_clear()
            .env("PATH", procs::PATH)
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("start hook: {e}"))?;
        let mut seen = None;
        while seen.is_none() && t0.elapsed() < GIVE_UP {
            let mut fds = [PollFd::new(w.ino.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(100u8));
            while let Ok(events) = w.ino.read_events() {
                let now = ms_since(t0);
                if seen.is_none() && events.iter().any(|e| e.wd == w.hooks) {
                    seen = Some(now);
                }
            }
        }
        let _ = c.wait();
        out.extend(seen);
    }
    Ok(out)
}

pub fn run(ctx: &mut Ctx) -> Result<Vec<Row>, String> {
    let n = if ctx.quick { 300 } else { 2000 };
    let base = ctx.dir("vrrp")?;
    let (fifo_p, states, hooks, done) = (
        base.join("fifo"),
        base.join("state"),
        base.join("hooks"),
        base.join("done"),
    );
    for d in [&states, &hooks, &done] {
        fs::create_dir_all(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
    }
    // The hook marks its end; its start is the kernel's open for exec.
    let body = format!("#!/bin/sh\n: > {}/\"$3\"\n", done.display());
    for s in ["MASTER", "BACKUP"] {
        write_exec(&hooks.join(s), &body)?;
    }
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| format!("inotify_init: {e}"))?;
    let add = |p: &Path, m: AddWatchFlags| {
        ino.add_watch(p, m)
            .map_err(|e| format!("inotify_add_watch {}: {e}", p.display()))
    };
    let w = Watches {
        state: add(
            &states,
            AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CREATE,
        )?,
        hooks: add(&hooks, AddWatchFlags::IN_OPEN)?,
        done: add(&done, AddWatchFlags::IN_CLOSE_WRITE)?,
        ino,
    };
    let prog = ctx.bins.upkeep_prog("vrrp-notify");
    let argv = [
        prog.as_str(),
        "--fifo",
        &fifo_p.to_string_lossy(),
        "--state-dir",
        &states.to_string_lossy(),
        "--hooks",
        &hooks.to_string_lossy(),
    ]
    .map(str::to_string);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let child = procs::start(&argv, &base, &ctx.log("vrrp-notify"))?;
    let result = (|| {
        if !wait_for(GIVE_UP, || {
            fs::symlink_metadata(&fifo_p).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_fifo()
            })
        }) {
            return Err(format!("vrrp-notify made no fifo at {}", fifo_p.display()));
        }
        // Non-blocking open fails until the reader is there; it holds the
        // fifo read-write, so this succeeds once it runs.
        let mut fifo = None;
        wait_for(GIVE_UP, || {
            fifo = OpenOptions::new()
                .write(true)
                .custom_flags(libc_o_nonblock())
                .open(&fifo_p)
                .ok();
            fifo.is_some()
        });
        let mut fifo = fifo.ok_or("cannot open the fifo for writing")?;
        let mut events = Vec::new();
        // A first pair not timed: page cache, first exec of the hooks.
        for (i, s) in ["MASTER", "BACKUP"].iter().cycle().take(n + 2).enumerate() {
            let e = one_event(&w, &mut fifo, s, if *s == "MASTER" { 150 } else { 100 })?;
            if i >= 2 {
                events.push((s.to_string(), e));
            }
        }
        let fl = floor(&w, &hooks, (n / 4).max(50))?;
        Ok((events, fl))
    })();
    procs::kill_tree(child.id() as i32);
    let (events, fl) = result?;
    let mut csv = Csv::new(
        "vrrp",
        "kind,state,state_file_ms,hook_start_ms,hook_done_ms",
    );
    for (s, e) in &events {
        csv.row(&[
            &"vrrp-notify",
            s,
            &format!("{:.3}", e.state_ms),
            &format!("{:.3}", e.hook_ms),
            &format!("{:.3}", e.done_ms),
        ]);
    }
    for f in &fl {
        csv.row(&[
            &"floor: harness spawns the hook",
            &"MASTER",
            &"",
            &format!("{f:.3}"),
            &"",
        ]);
    }
    csv.write(&ctx.results)?;
    let col = |f: fn(&Event) -> f64| events.iter().map(|(_, e)| f(e)).collect::<Vec<_>>();
    let state = col(|e| e.state_ms);
    let hook = col(|e| e.hook_ms);
    ctx.note(format!(
        "vrrp-notify (upkeep only): `vrrp-notify --fifo F --state-dir D --hooks H` (defaults otherwise); the harness writes one keepalived notify_fifo line at a time (`INSTANCE \"VI_1\" MASTER 150`, then BACKUP 100, alternating; {n} events after 2 untimed) and times from its write(2) until the state file is renamed into D (inotify IN_MOVED_TO/IN_CREATE of `{PREFIX}.STATE`) and until the hook H/STATE starts (inotify IN_OPEN on it: the kernel opening the `#!/bin/sh` script to exec it); the next line goes once the hook has finished (it truncates a marker file, seen through inotify), so vrrp-notify is idle for every event. The floor, the harness itself spawning the same hook (Command::spawn until the same IN_OPEN): p50 {:.2} ms, p99 {:.2} ms over {} spawns.",
        percentile(&fl, 50.0).unwrap_or(f64::NAN),
        percentile(&fl, 99.0).unwrap_or(f64::NAN),
        fl.len()
    ));
    let mut rows = Vec::new();
    for (id, label, v, p, goal) in [
        (
            "vrrp-state-p50",
            "vrrp-notify: fifo line → state file, p50",
            &state,
            50.0,
            None,
        ),
        (
            "vrrp-state-p99",
            "vrrp-notify: fifo line → state file, p99",
            &state,
            99.0,
            Some(5.0),
        ),
        (
            "vrrp-hook-p50",
            "vrrp-notify: fifo line → hook started, p50",
            &hook,
            50.0,
            None,
        ),
        (
            "vrrp-hook-p99",
            "vrrp-notify: fifo line → hook started, p99",
            &hook,
            99.0,
            Some(5.0),
        ),
    ] {
        let mut r = Row::new(id, label, "ms", true);
        r.goal = goal;
        r.set(Sys::Upkeep, percentile(v, p));
        rows.push(r);
    }
    Ok(rows)
}

fn libc_o_nonblock() -> i32 {
    nix::fcntl::OFlag::O_NONBLOCK.bits()
}
