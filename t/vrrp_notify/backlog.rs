//! A backlog queued in the fifo while a hook runs is applied at once: the
//! state files jump to the newest event (never showing a superseded one),
//! and only the newest event's hooks run after the one running: a
//! superseded event's hooks never start (not even its `any` hook, once
//! its state's hook was running). Coalesced per instance or group: a sync
//! group's GROUP and INSTANCE events each have their hooks run.

use std::fs;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{eventually, lines, log_hooks, open_writer, recording_hooks, setup, Reader, STATES};

/// Stop READER, write TEXT whole into the fifo, continue it: one backlog.
fn queue_whole(reader: &Reader, w: &mut std::fs::File, text: &str) {
    let pid = nix::unistd::Pid::from_raw(reader.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    assert!(eventually(Duration::from_secs(5), || fs::read_to_string(
        format!("/proc/{pid}/stat")
    )
    .is_ok_and(|st| st
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('T')))));
    w.write_all(text.as_bytes()).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).unwrap();
}

#[test]
fn a_queued_backlog_jumps_to_the_newest_state_at_once() {
    let (_tmp, dir) = setup();
    // The first event's state hook runs long; the others only log.
    let names: Vec<&str> = STATES.iter().copied().chain(["any"]).collect();
    let log = log_hooks(&dir, &names, |n, log| {
        format!(
            "echo \"START {n}:$3 $4\" >>{log}\n[ {n}$4 = MASTER200 ] && sleep 3\necho \"END {n}:$3 $4\" >>{log}"
        )
    });
    let reader = Reader::start(&dir, &[]);
    let state = dir.join("state");
    let mut w = open_writer(&dir);
    w.write_all(b"INSTANCE \"VI_1\" MASTER 200\n").unwrap();
    assert!(eventually(Duration::from_secs(5), || lines(&log)
        == ["START MASTER:MASTER 200"]));
    // Every distinct state file content a reader polling the dir sees.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (seen, stop, state) = (seen.clone(), stop.clone(), state.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for s in STATES {
                    if let Ok(t) = fs::read_to_string(state.join(format!("keepalived_vrrp.{s}"))) {
                        let event = t.split_once(' ').map(|x| x.1.trim().to_string());
                        let mut v = seen.lock().unwrap();
                        if let Some(e) = event.filter(|e| v.last() != Some(e)) {
                            v.push(e);
                        }
                    }
                }
            }
        })
    };
    let n = 200;
    let mut backlog = String::new();
    for i in 0..n {
        backlog += &format!("INSTANCE \"VI_1\" {} {}\n", STATES[i % 4], i);
    }
    backlog += "INSTANCE \"VI_1\" BACKUP 201\n";
    // Queued whole before the reader looks (a write past PIPE_BUF may be
    // seen half-way).
    queue_whole(&reader, &mut w, &backlog);
    let last = state.join("keepalived_vrrp.BACKUP");
    assert!(
        eventually(Duration::from_secs(10), || fs::read_to_string(&last)
            .is_ok_and(|t| t.ends_with(" BACKUP 201\n"))),
        "{}",
        reader.stderr()
    );
    // The state jumped while the first hook still runs.
    let got = lines(&log);
    assert!(
        got == ["START MASTER:MASTER 200"],
        "the state files waited for hooks: {} hook lines first, beginning {:?}",
        got.len(),
        &got[..got.len().min(4)]
    );
    // Only the newest event's hooks run after the running one.
    assert!(
        eventually(Duration::from_secs(20), || lines(&log)
            .last()
            .is_some_and(|l| l == "END any:BACKUP 201")),
        "{}",
        reader.stderr()
    );
    stop.store(true, Ordering::Relaxed);
    poller.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "INSTANCE \"VI_1\" MASTER 200",
            "INSTANCE \"VI_1\" BACKUP 201"
        ],
        "a superseded event's state was written"
    );
    // MASTER 200's `any` hook was still to run when the backlog came.
    let expected = [
        "START MASTER:MASTER 200",
        "END MASTER:MASTER 200",
        "START BACKUP:BACKUP 201",
        "END BACKUP:BACKUP 201",
        "START any:BACKUP 201",
        "END any:BACKUP 201",
    ];
    assert_eq!(lines(&log), expected);
}

/// A sync group's transition in one backlog, behind an older one: with the
/// default prefix every event shares one set of state files, but each
/// instance and the group have their hooks run (in keepalived's order);
/// only the superseded BACKUP events' hooks are dropped.
#[test]
fn a_sync_groups_events_each_run_their_hooks() {
    let (_tmp, dir) = setup();
    let log = recording_hooks(&dir, &["MASTER", "BACKUP"], "0");
    let reader = Reader::start(&dir, &[]);
    let mut w = open_writer(&dir);
    queue_whole(
        &reader,
        &mut w,
        "GROUP \"G1\" BACKUP 0\nINSTANCE \"VI_1\" BACKUP 100\nGROUP \"G1\" MASTER 0\n\
         INSTANCE \"VI_1\" MASTER 150\nINSTANCE \"VI_2\" MASTER 150\n",
    );
    let expected = [
        "START MASTER GROUP G1 MASTER 0",
        "END MASTER GROUP G1 MASTER 0",
        "START MASTER INSTANCE VI_1 MASTER 150",
        "END MASTER INSTANCE VI_1 MASTER 150",
        "START MASTER INSTANCE VI_2 MASTER 150",
        "END MASTER INSTANCE VI_2 MASTER 150",
    ];
    assert!(
        eventually(Duration::from_secs(10), || lines(&log).len()
            >= expected.len()),
        "{:?}\n{}",
        lines(&log),
        reader.stderr()
    );
    assert_eq!(lines(&log), expected);
}
