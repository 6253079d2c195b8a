//! vrrp-notify (doc/DESIGN.md, "vrrp-notify"): ordering, atomic state files, hook time limits,
//! SIGTERM with pending lines, hook-mode locking; keepalived's last word
//! winning across kill -9 (kills.rs), hook-mode races (hookorder.rs), a
//! full disk and foreign state dirs (disk.rs), backlogs (backlog.rs; the
//! drain figure of bench/vrrp-drain is drain.rs); and with real keepalived
//! in two network namespaces (t/vrrp_notify/keepalived.rs).

#[path = "vrrp_notify/backlog.rs"]
mod backlog;
mod common;
#[path = "vrrp_notify/disk.rs"]
mod disk;
#[path = "vrrp_notify/drain.rs"]
mod drain;
#[path = "vrrp_notify/hookorder.rs"]
mod hookorder;
#[path = "vrrp_notify/keepalived.rs"]
mod keepalived;
#[path = "vrrp_notify/kills.rs"]
mod kills;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_vrrp-notify");
const STATES: [&str; 4] = ["MASTER", "BACKUP", "FAULT", "STOP"];

pub use common::eventually;

pub fn write_script(path: &Path, body: &str) {
    common::write_exec(path, &format!("#!/bin/sh\n{body}\n"));
}

/// A running `vrrp-notify --fifo`, killed if the test ends early.
struct Reader {
    child: Child,
    stderr: PathBuf,
}

impl Reader {
    fn start(dir: &Path, extra: &[&str]) -> Reader {
        let stderr = dir.join("stderr");
        let child = Command::new(BIN)
            .arg("--fifo")
            .arg(dir.join("fifo"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--hooks")
            .arg(dir.join("hooks"))
            .args(extra)
            .stdin(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let fifo = dir.join("fifo");
        assert!(eventually(Duration::from_secs(5), || fifo.exists()));
        Reader { child, stderr }
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn signal(&self, sig: i32) {
        let r = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(r.success());
    }

    /// SIGKILL, and reap it.
    fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Exit code, waiting up to `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        common::exited(&mut self.child, limit).map(|s| s.code().unwrap_or(-1))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    fs::create_dir(dir.join("hooks")).unwrap();
    (tmp, dir)
}

/// The hooks `names`, each running `body(name, log)` where log is
/// dir/hooks.log, the path returned.
pub fn log_hooks(dir: &Path, names: &[&str], body: impl Fn(&str, &str) -> String) -> PathBuf {
    let log = dir.join("hooks.log");
    for n in names {
        write_script(
            &dir.join("hooks").join(n),
            &body(n, &log.display().to_string()),
        );
    }
    log
}

/// Hooks that append `START id` / `END id` around a short sleep, where id is
/// `STATE PRIORITY` and the hook name.
fn recording_hooks(dir: &Path, names: &[&str], sleep: &str) -> PathBuf {
    log_hooks(dir, names, |n, log| {
        format!("echo \"START {n} $1 $2 $3 $4\" >>{log}\nsleep {sleep}\necho \"END {n} $1 $2 $3 $4\" >>{log}")
    })
}

fn open_writer(dir: &Path) -> File {
    OpenOptions::new()
        .write(true)
        .open(dir.join("fifo"))
        .unwrap()
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Which of the four state files exist, from one directory read (getdents
/// holds the directory lock, so rename and unlink cannot interleave with it).
fn state_files(dir: &Path, prefix: &str) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| STATES.iter().any(|s| *n == format!("{prefix}.{s}")))
        .collect();
    v.sort();
    v
}

/// Every START is followed by its own END before the next START.
fn assert_no_overlap(log: &[String]) {
    assert_eq!(log.len() % 2, 0, "odd log: {log:?}");
    for pair in log.chunks(2) {
        assert!(pair[0].starts_with("START "), "{log:?}");
        assert_eq!(pair[1], pair[0].replacen("START", "END", 1), "{log:?}");
    }
}

#[test]
fn events_arriving_while_hooks_run_are_handled_in_order_one_at_a_time() {
    let (_tmp, dir) = setup();
    let log = recording_hooks(&dir, &["MASTER", "BACKUP", "any"], "0.05");
    let reader = Reader::start(&dir, &[]);
    let n = 10;
    let mut w = open_writer(&dir);
    let mut expected = Vec::new();
    for i in 1..=n {
        let state = if i % 2 == 1 { "MASTER" } else { "BACKUP" };
        w.write_all(format!("INSTANCE \"VI_1\" {state} {i}\n").as_bytes())
            .unwrap();
        for hook in [state, "any"] {
            for edge in ["START", "END"] {
                expected.push(format!("{edge} {hook} INSTANCE VI_1 {state} {i}"));
            }
        }
        // The next event comes while this one's last hook runs: it waits
        // for it (one that came sooner would supersede the hooks still to
        // start, see backlog.rs).
        let start = format!("START any INSTANCE VI_1 {state} {i}");
        assert!(
            eventually(Duration::from_secs(10), || lines(&log).contains(&start)),
            "hooks ran: {:?}\n{}",
            lines(&log),
            reader.stderr()
        );
    }
    assert!(
        eventually(Duration::from_secs(10), || lines(&log).len() >= 4 * n),
        "hooks ran: {:?}\n{}",
        lines(&log),
        reader.stderr()
    );
    let got = lines(&log);
    assert_no_overlap(&got);
    assert_eq!(got, expected);
    let state = dir.join("state");
    assert_eq!(
        state_files(&state, "keepalived_vrrp"),
        ["keepalived_vrrp.BACKUP"]
    );
    assert_eq!(
        fs::read_to_string(state.join("keepalived_vrrp.current")).unwrap(),
        "BACKUP\n"
    );
    let text = fs::read_to_string(state.join("keepalived_vrrp.BACKUP")).unwrap();
    assert!(
        text.starts_with('@') && text.ends_with(&format!(" INSTANCE \"VI_1\" BACKUP {n}\n")),
        "{text}"
    );
    // Hook output goes to stderr, prefixed; none here.
    assert!(!reader.stderr().contains("warning"), "{}", reader.stderr());
}

#[test]
fn a_polling_reader_never_sees_two_state_files() {
    let (_tmp, dir) = setup();
    let reader = Reader::start(&dir, &[]);
    let state = dir.join("state");
    let stop = Arc::new(AtomicBool::new(false));
    let seen_two = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));
    let poller = {
        let (stop, seen_two, reads, state) =
            (stop.clone(), seen_two.clone(), reads.clone(), state.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if state_files(&state, "keepalived_vrrp").len() > 1 {
                    seen_two.fetch_add(1, Ordering::Relaxed);
                }
                reads.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let n = 2000;
    let mut w = open_writer(&dir);
    for i in 0..n {
        let line = format!("INSTANCE \"VI_1\" {} {}\n", STATES[i % 4], i % 256);
        w.write_all(line.as_bytes()).unwrap();
    }
    // A last line no earlier one equals, to know when all are handled.
    let last = "INSTANCE \"last\" MASTER 1\n";
    w.write_all(last.as_bytes()).unwrap();
    let last_file = state.join("keepalived_vrrp.MASTER");
    assert!(eventually(Duration::from_secs(30), || {
        fs::read_to_string(&last_file).is_ok_and(|t| t.ends_with(last))
    }));
    stop.store(true, Ordering::Relaxed);
    poller.join().unwrap();
    eprintln!(
        "{} directory reads during {n} events",
        reads.load(Ordering::Relaxed)
    );
    assert_eq!(seen_two.load(Ordering::Relaxed), 0);
    assert_eq!(state_files(&state, "keepalived_vrrp").len(), 1);
    assert!(!reader.stderr().contains("warning"), "{}", reader.stderr());
}

#[test]
fn a_hanging_hook_is_terminated_then_killed_and_the_next_event_runs() {
    let (_tmp, dir) = setup();
    let hooks = dir.join("hooks");
    // MASTER ignores TERM (as does the sleep it leaves behind): only KILL
    // ends it. FAULT dies on TERM.
    write_script(
        &hooks.join("MASTER"),
        &format!(
            "trap '' TERM\necho $$ >{}\necho hanging\nsleep 60\necho never",
            dir.join("master.pid").display()
        ),
    );
    write_script(
        &hooks.join("FAULT"),
        &format!(
            "echo $$ >{}\nexec sleep 60",
            dir.join("fault.pid").display()
        ),
    );
    let log = recording_hooks(&dir, &["BACKUP"], "0");
    let reader = Reader::start(&dir, &["--hook-timeout", "300ms"]);
    let started = Instant::now();
    let mut w = open_writer(&dir);
    // Each event arrives while the one before hangs (one queued behind a
    // running hook is not superseded).
    w.write_all(b"INSTANCE \"VI_1\" MASTER 150\n").unwrap();
    assert!(eventually(Duration::from_secs(5), || dir
        .join("master.pid")
        .exists()));
    w.write_all(b"INSTANCE \"VI_1\" FAULT 150\n").unwrap();
    assert!(eventually(Duration::from_secs(5), || dir
        .join("fault.pid")
        .exists()));
    w.write_all(b"INSTANCE \"VI_1\" BACKUP 150\n").unwrap();
    assert!(
        eventually(Duration::from_secs(10), || lines(&log).len() == 2),
        "{}",
        reader.stderr()
    );
    let took = started.elapsed();
    // 300ms + 300ms KILL grace for MASTER, 300ms for FAULT.
    assert!(took >= Duration::from_millis(850), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    for p in ["master.pid", "fault.pid"] {
        let pid = fs::read_to_string(dir.join(p)).unwrap();
        let proc_dir = format!("/proc/{}", pid.trim());
        assert!(eventually(Duration::from_secs(2), || !Path::new(&proc_dir).exists()));
    }
    let err = reader.stderr();
    assert!(
        err.contains("warning: hook MASTER timed out after 300ms: sending TERM"),
        "{err}"
    );
    assert!(
        err.contains("warning: hook MASTER still running: sending KILL"),
        "{err}"
    );
    assert!(
        err.contains("warning: hook MASTER: timed out (killed by KILL)"),
        "{err}"
    );
    assert!(
        err.contains("warning: hook FAULT: timed out (killed by TERM)"),
        "{err}"
    );
    assert!(err.contains("]: hanging"), "hook output is copied: {err}");
    assert!(!err.contains("never"), "{err}");
}

#[test]
fn sigterm_with_pending_lines_loses_none() {
    let (_tmp, dir) = setup();
    let log = recording_hooks(&dir, &["MASTER", "BACKUP", "STOP"], "0.02");
    let mut reader = Reader::start(&dir, &["--linger", "20s"]);
    let mut w = open_writer(&dir);
    let n = 12;
    let mut burst = String::new();
    for i in 1..=n {
        let state = if i % 2 == 1 { "MASTER" } else { "BACKUP" };
        burst.push_str(&format!("INSTANCE \"VI_1\" {state} {i}\n"));
    }
    w.write_all(burst.as_bytes()).unwrap();
    // As keepalived at shutdown: the reader is told to stop first ...
    reader.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(100)); // the STOP comes later
    assert!(reader.child.try_wait().unwrap().is_none(), "exited early");
    // ... and the STOP event is written after that, then keepalived exits.
    w.write_all(b"INSTANCE \"VI_1\" STOP 0\n").unwrap();
    let closed = Instant::now();
    drop(w);
    let code = reader.wait_exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", reader.stderr());
    // EOF, not the 20s linger, ended it.
    assert!(closed.elapsed() < Duration::from_secs(10));
    // The burst is one backlog: its newest event's hooks, then STOP's.
    assert_eq!(
        lines(&log),
        [
            "START BACKUP INSTANCE VI_1 BACKUP 12",
            "END BACKUP INSTANCE VI_1 BACKUP 12",
            "START STOP INSTANCE VI_1 STOP 0",
            "END STOP INSTANCE VI_1 STOP 0"
        ]
    );
    assert_eq!(
        state_files(&dir.join("state"), "keepalived_vrrp"),
        ["keepalived_vrrp.STOP"]
    );
}

#[test]
fn sigterm_lingers_while_a_writer_stays_then_exits() {
    let (_tmp, dir) = setup();
    let mut reader = Reader::start(&dir, &["--linger", "400ms"]);
    // A keepalived that stays alive: its fifo end stays open.
    let mut w = open_writer(&dir);
    reader.signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(150));
    w.write_all(b"INSTANCE \"VI_1\" MASTER 100\n").unwrap();
    let wrote = Instant::now();
    assert_eq!(reader.wait_exit(Duration::from_secs(10)), Some(0));
    let after = wrote.elapsed();
    assert!(after >= Duration::from_millis(300), "{after:?}");
    assert_eq!(
        state_files(&dir.join("state"), "keepalived_vrrp"),
        ["keepalived_vrrp.MASTER"]
    );
    // With no writer at all, TERM ends it promptly.
    drop(w);
    let (_tmp2, dir2) = setup();
    let mut reader2 = Reader::start(&dir2, &["--linger", "20s"]);
    reader2.signal(libc::SIGTERM);
    assert_eq!(reader2.wait_exit(Duration::from_secs(5)), Some(0));
}

#[test]
fn malformed_lines_are_reported_once_and_other_kinds_ignored() {
    let (_tmp, dir) = setup();
    let log = recording_hooks(&dir, &["MASTER", "BACKUP"], "0");
    let reader = Reader::start(&dir, &[]);
    let mut w = open_writer(&dir);
    let long = "x".repeat(5000);
    // Two writes, so that MASTER is not superseded by BACKUP in a backlog.
    w.write_all(b"INSTANCE \"VI_1\" MASTER 150\n").unwrap();
    assert!(eventually(Duration::from_secs(10), || lines(&log).len() == 2));
    let input = format!(
        "garbage here\nRS \"198.18.0.9:80\" UP\nINSTANCE \"VI_1\" master 1\n{long}\nINSTANCE \"VI_1\" DELETED 0\nINSTANCE \"VI_1\" BACKUP 99\n"
    );
    w.write_all(input.as_bytes()).unwrap();
    assert!(eventually(Duration::from_secs(10), || lines(&log).len() == 4));
    let err = reader.stderr();
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 3, "{err}");
    assert!(warnings[0].contains("\"garbage here\""), "{err}");
    assert!(
        warnings[1].contains("\"INSTANCE \\\"VI_1\\\" master 1\": invalid state"),
        "{err}"
    );
    assert!(warnings[2].contains("line too long"), "{err}");
    assert_eq!(
        lines(&log),
        [
            "START MASTER INSTANCE VI_1 MASTER 150",
            "END MASTER INSTANCE VI_1 MASTER 150",
            "START BACKUP INSTANCE VI_1 BACKUP 99",
            "END BACKUP INSTANCE VI_1 BACKUP 99"
        ]
    );
}

#[test]
fn prefix_with_name_keeps_instances_apart() {
    let (_tmp, dir) = setup();
    let _reader = Reader::start(&dir, &["--prefix", "gw_{name}"]);
    let mut w = open_writer(&dir);
    w.write_all(
        b"INSTANCE \"VI_1\" MASTER 150\nINSTANCE \"VI_2\" BACKUP 100\nGROUP \"G1\" FAULT 0\n",
    )
    .unwrap();
    let state = dir.join("state");
    assert!(eventually(Duration::from_secs(5), || state
        .join("gw_G1.current")
        .exists()));
    assert_eq!(state_files(&state, "gw_VI_1"), ["gw_VI_1.MASTER"]);
    assert_eq!(state_files(&state, "gw_VI_2"), ["gw_VI_2.BACKUP"]);
    assert_eq!(state_files(&state, "gw_G1"), ["gw_G1.FAULT"]);
    assert_eq!(
        fs::read_to_string(state.join("gw_VI_2.current")).unwrap(),
        "BACKUP\n"
    );
    // A second reader would take half the lines: it is refused.
    let out = Command::new(BIN)
        .arg("--fifo")
        .arg(dir.join("fifo"))
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "vrrp-notify: fatal: unable to lock {}: temporary failure\n",
            dir.join("fifo").display()
        )
    );
    // keepalived restarting closes and reopens its end: no EOF for us.
    drop(w);
    let mut w = open_writer(&dir);
    w.write_all(b"INSTANCE \"VI_2\" MASTER 100\n").unwrap();
    assert!(eventually(Duration::from_secs(5), || state_files(
        &state, "gw_VI_2"
    ) == [
        "gw_VI_2.MASTER"
    ]));
    assert_eq!(state_files(&state, "gw_VI_1"), ["gw_VI_1.MASTER"]);
}

fn hook_mode(dir: &Path, args: &[&str], extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--hooks")
        .arg(dir.join("hooks"))
        .args(extra)
        .args(args);
    c
}

#[test]
fn hook_mode_invocations_never_interleave() {
    let (_tmp, dir) = setup();
    let log = recording_hooks(&dir, &["MASTER", "BACKUP"], "0.02");
    let children: Vec<Child> = (0..20)
        .map(|i| {
            let state = if i % 2 == 0 { "MASTER" } else { "BACKUP" };
            let prio = i.to_string();
            hook_mode(&dir, &["INSTANCE", "VI_1", state, &prio], &[])
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert_eq!(c.wait().unwrap().code(), Some(0));
    }
    let got = lines(&log);
    assert_eq!(got.len(), 40, "{got:?}");
    assert_no_overlap(&got);
    let state = dir.join("state");
    let files = state_files(&state, "keepalived_vrrp");
    assert_eq!(files.len(), 1, "{files:?}");
    // The last hook to run is the state that stayed.
    let last_state = got.last().unwrap().split(' ').nth(4).unwrap().to_string();
    assert_eq!(files[0], format!("keepalived_vrrp.{last_state}"));
    assert_eq!(
        fs::read_to_string(state.join("keepalived_vrrp.current")).unwrap(),
        format!("{last_state}\n")
    );
}

#[test]
fn hook_mode_reports_failures_with_111() {
    let (_tmp, dir) = setup();
    write_script(&dir.join("hooks/MASTER"), "exec sleep 60");
    write_script(&dir.join("hooks/FAULT"), "echo broken >&2; exit 3");
    let started = Instant::now();
    let out = hook_mode(
        &dir,
        &["INSTANCE", "VI_1", "MASTER", "150"],
        &["--hook-timeout", "200ms"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(111));
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("vrrp-notify: warning: hook MASTER: timed out (killed by TERM)"),
        "{err}"
    );
    // The state file was written before the hook ran.
    assert!(dir.join("state/keepalived_vrrp.MASTER").exists());

    let out = hook_mode(&dir, &["INSTANCE", "VI_1", "FAULT", "150"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("]: broken"), "{err}");
    assert!(
        err.contains("vrrp-notify: warning: hook FAULT: exited 3"),
        "{err}"
    );

    // No hook for BACKUP: nothing to fail.
    let out = hook_mode(
        &dir,
        &["GROUP", "G1", "BACKUP", "0"],
        &["--prefix", "{name}"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(dir.join("state/G1.BACKUP").exists());

    // Usage errors are permanent (100).
    for bad in [
        &["INSTANCE", "VI_1", "MASTER"][..],
        &["VS", "VI_1", "MASTER", "1"],
        &["INSTANCE", "VI_1", "UP", "1"],
        &["INSTANCE", "../x", "MASTER", "1"],
    ] {
        let out = hook_mode(&dir, bad, &[]).output().unwrap();
        assert_eq!(out.status.code(), Some(100), "{bad:?}");
    }
}

/// Every stderr line is one write(2), hook output included: with stderr a
/// datagram socket, each write arrives as one datagram, which must be one
/// whole line.
#[test]
fn every_stderr_line_is_one_write() {
    use std::os::unix::net::UnixDatagram;
    let (_tmp, dir) = setup();
    write_script(
        &dir.join("hooks/MASTER"),
        "echo one; echo two >&2; printf 'no newline'; exit 3",
    );
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    let status = hook_mode(&dir, &["INSTANCE", "VI_1", "MASTER", "150"], &[])
        .stderr(std::os::fd::OwnedFd::from(theirs))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(111));
    ours.set_nonblocking(true).unwrap();
    let mut writes = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = ours.recv(&mut buf) {
        writes.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    for w in &writes {
        assert!(
            w.ends_with('\n') && w.matches('\n').count() == 1,
            "not one line per write: {writes:?}"
        );
    }
    let lines: Vec<&str> = writes.iter().map(|w| w.trim_end()).collect();
    for want in ["]: one", "]: two", "]: no newline"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("vrrp-notify: MASTER[") && l.ends_with(want)),
            "{lines:?}"
        );
    }
    assert!(
        lines.contains(&"vrrp-notify: warning: hook MASTER: exited 3"),
        "{lines:?}"
    );

    // A fatal error in fifo mode goes up to main: one line, exit 111.
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    let fifo = dir.join("missing/fifo");
    let status = Command::new(BIN)
        .arg("--fifo")
        .arg(&fifo)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stderr(std::os::fd::OwnedFd::from(theirs))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(111));
    let n = ours.recv(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        format!(
            "vrrp-notify: fatal: unable to open {}: file does not exist\n",
            fifo.display()
        )
    );
}
