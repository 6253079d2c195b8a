//! svc -w through supervise/event/: one FIFO per waiter, written by
//! supervise on every change; no inotify, nothing left behind, nothing
//! but a waiter's FIFO ever opened.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(5);

const SLEEPER: &str = "#!/bin/sh\nexec sleep 100\n";

/// upkeep's supervise on `s`, once the service is up.
fn supervise_up(s: &Service) -> Supervise {
    let sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    sup
}

/// A service that sleeps, up under upkeep's supervise.
fn sleeper_up() -> (Service, Supervise) {
    let s = Service::new(SLEEPER);
    let sup = supervise_up(&s);
    (s, sup)
}

/// `svc -d -wd`, then `svc -u -wu`: each done within 5 s.
fn down_and_up(s: &Service) {
    for (letters, goal) in [("-d", "-wd"), ("-u", "-wu")] {
        let out = s.svc(&[letters, goal, "-T", "5s"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
}

/// Told `dx`, supervise exits 0, having said it could not open
/// supervise/event.
fn exits_having_refused_event(s: &Service, mut sup: Supervise) {
    s.send("dx");
    let (code, err) = sup.wait_exit(T);
    assert_eq!(code, Some(0));
    assert!(
        err.contains("unable to open") && err.contains("supervise/event"),
        "{err}"
    );
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// The descriptors of process `pid`, as their targets.
fn fd_targets(pid: u32) -> Vec<PathBuf> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| fs::read_link(e.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn holds_inotify(pid: u32) -> bool {
    fd_targets(pid)
        .iter()
        .any(|t| t.as_os_str() == "anon_inode:inotify")
}

/// A waiter killed when dropped, pass or fail.
struct Waiter(std::process::Child);

impl Drop for Waiter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn waiter(dir: &Path, goal: &str) -> Waiter {
    Waiter(
        Command::new(SVC)
            .args([goal, "-T", "60s"])
            .arg(dir)
            .spawn()
            .unwrap(),
    )
}

/// Open a FIFO for reading without blocking, and without ever making the
/// pipe see EOF.
fn open_reader(path: &Path) -> fs::File {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap()
}

fn unread(f: &mut fs::File) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    match f.read(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_hundred_waiters_on_fifos_all_wake_and_leave_nothing() {
    let (s, _sup) = sleeper_up();
    let event = s.path("supervise/event");
    let mut waiters: Vec<Waiter> = (0..100).map(|_| waiter(&s.dir, "-wd")).collect();
    // Each waiter holds a FIFO in event/ once it waits, and no inotify.
    for w in &mut waiters {
        let pid = w.0.id();
        wait_for("the waiter's FIFO", T, || {
            holds_fifo_in(pid, &event) || w.0.try_wait().unwrap().is_some()
        });
        assert_eq!(w.0.try_wait().unwrap(), None, "a waiter finished before d");
        assert!(!holds_inotify(pid), "a waiter holds an inotify instance");
    }
    assert_eq!(entries(&event).len(), 100);
    s.send("d");
    for w in &mut waiters {
        let end = Instant::now() + T;
        let code = loop {
            if let Some(st) = w.0.try_wait().unwrap() {
                break st.code();
            }
            assert!(Instant::now() < end, "a waiter was not woken");
            std::thread::sleep(Duration::from_millis(2));
        };
        assert_eq!(code, Some(0));
    }
    assert_eq!(entries(&event), Vec::<PathBuf>::new(), "FIFOs left behind");
}

#[test]
fn dead_waiters_and_full_fifos_neither_block_supervise_nor_pile_up() {
    let (s, _sup) = sleeper_up();
    let event = s.path("supervise/event");
    // A waiter killed while it waits leaves its FIFO.
    let mut dead = waiter(&s.dir, "-wd");
    let pid = dead.0.id();
    wait_for("the waiter's FIFO", T, || holds_fifo_in(pid, &event));
    dead.0.kill().unwrap();
    dead.0.wait().unwrap();
    // Fifty more that nobody ever opened, and one whose reader never reads.
    for i in 0..50 {
        mkfifo(&event.join(format!("w.dead{i}")));
    }
    let full_path = event.join("w.full");
    mkfifo(&full_path);
    let mut full = open_reader(&full_path);
    while full.write(&[0u8; 4096]).is_ok() {}
    assert_eq!(entries(&event).len(), 52);
    // supervise still answers at once.
    down_and_up(&s);
    // Once they are older than the grace time, the next changes remove
    // every FIFO without a reader, and only those.
    let mut last = Instant::now();
    let mut up = true;
    wait_for(
        "dead waiters' FIFOs removed",
        Duration::from_secs(15),
        || {
            if last.elapsed() > Duration::from_millis(250) {
                s.send(if up { "d" } else { "u" });
                up = !up;
                last = Instant::now();
            }
            entries(&event) == vec![full_path.clone()]
        },
    );
}

#[test]
fn nothing_but_a_waiters_fifo_is_written_to_or_followed() {
    let (s, _sup) = sleeper_up();
    let event = s.path("supervise/event");
    let victim = s.tmp.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let elsewhere = s.tmp.path().join("elsewhere");
    let fifo = |p: &Path| {
        mkfifo(p);
        open_reader(p)
    };
    let mut mine = fifo(&event.join("w.mine"));
    let mut linked_to = fifo(&elsewhere);
    std::os::unix::fs::symlink(&victim, event.join("w.file-link")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, event.join("w.fifo-link")).unwrap();
    fs::write(event.join("w.plain"), "").unwrap();
    fs::create_dir(event.join("w.dir")).unwrap();
    let mut hard = fifo(&event.join("w.hard"));
    fs::hard_link(event.join("w.hard"), s.tmp.path().join("hard2")).unwrap();
    let foreign = if nix::unistd::geteuid().is_root() {
        let f = fifo(&event.join("w.foreign"));
        nix::unistd::chown(
            &event.join("w.foreign"),
            Some(nix::unistd::Uid::from_raw(65534)),
            None,
        )
        .unwrap();
        Some(f)
    } else {
        need_root("a FIFO of another user");
        None
    };
    down_and_up(&s);
    wait_for("the waiter's FIFO woken", T, || {
        !unread(&mut mine).is_empty()
    });
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(fs::read(event.join("w.plain")).unwrap(), b"");
    assert_eq!(unread(&mut linked_to), b"", "a symlink was followed");
    assert_eq!(unread(&mut hard), b"", "a FIFO with two links was written");
    if let Some(mut f) = foreign {
        assert_eq!(unread(&mut f), b"", "another user's FIFO was written");
    }
    for name in ["w.file-link", "w.fifo-link", "w.plain", "w.dir", "w.hard"] {
        assert!(
            fs::symlink_metadata(event.join(name)).is_ok(),
            "{name} was removed"
        );
    }
}

#[test]
fn event_dir_is_supervises_alone() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (s, _sup) = sleeper_up();
    let m = fs::symlink_metadata(s.path("supervise/event")).unwrap();
    assert!(m.is_dir());
    assert_eq!(m.permissions().mode() & 0o7777, 0o700);
    assert_eq!(m.uid(), nix::unistd::geteuid().as_raw());
}

/// supervise/event planted as a symlink to another dir before supervise
/// starts: supervise says so and serves no events, waiters fall back to
/// inotify, and nothing in the other dir is touched.
#[test]
fn a_planted_event_symlink_is_never_followed() {
    let s = Service::new(SLEEPER);
    fs::create_dir(s.path("supervise")).unwrap();
    let elsewhere = s.tmp.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    mkfifo(&elsewhere.join("w.x"));
    let mut reader = open_reader(&elsewhere.join("w.x"));
    std::os::unix::fs::symlink(&elsewhere, s.path("supervise/event")).unwrap();
    let sup = supervise_up(&s);
    down_and_up(&s);
    assert_eq!(unread(&mut reader), b"", "supervise wrote through the link");
    assert_eq!(entries(&elsewhere), vec![elsewhere.join("w.x")]);
    assert_eq!(s.state_field("events"), "0");
    exits_having_refused_event(&s, sup);
}

/// Whether process `pid` holds a file inside `dir` open (its FIFO), not
/// just `dir` itself.
fn holds_fifo_in(pid: u32, dir: &Path) -> bool {
    fd_targets(pid)
        .iter()
        .any(|t| t.starts_with(dir) && t.as_path() != dir)
}

/// A waiter ended by a signal it would die of (the TERM of timeout(1), a
/// terminal's INT or HUP) takes its FIFO with it: on a service that never
/// changes, supervise would never remove it, and `timeout 5 svc -wu` in a
/// loop would pile one up per run. The waiter still dies of the signal.
#[test]
fn a_waiter_ended_by_term_int_or_hup_leaves_no_fifo() {
    use std::os::unix::process::ExitStatusExt;
    let (s, _sup) = sleeper_up();
    let event = s.path("supervise/event");
    // Under nohup svc inherits an ignored HUP and, as documented, leaves it
    // ignored: HUP is tried only when it would kill svc.
    let hup = (!ignores("self", libc::SIGHUP)).then_some(nix::sys::signal::Signal::SIGHUP);
    for sig in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
    ]
    .into_iter()
    .chain(hup)
    {
        // Nothing is sent: the service stays up, supervise writes nothing.
        let mut w = waiter(&s.dir, "-wd");
        let pid = w.0.id();
        wait_for("the waiter's FIFO", T, || holds_fifo_in(pid, &event));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig).unwrap();
        let st = exited(&mut w.0, T).expect("the waiter did not end");
        assert_eq!(st.signal(), Some(sig as i32), "{sig:?}: {st:?}");
        assert_eq!(entries(&event), Vec::<PathBuf>::new(), "{sig:?}: FIFO left");
    }
}

/// A waiter that can set up no way to be woken (here a user allowed to
/// write supervise/control but not to read supervise/: no FIFO in event/,
/// no inotify watch) still sends the command, but says it cannot wait and
/// exits 111: never 0 as if the service had reached the state.
#[test]
fn a_wait_that_cannot_be_set_up_is_not_a_success() {
    use std::os::unix::fs::PermissionsExt;
    if !need_root("svc as another user") {
        return;
    }
    let (s, _sup) = sleeper_up();
    let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    mode(s.tmp.path(), 0o711);
    mode(&s.dir, 0o711);
    mode(&s.path("supervise"), 0o711);
    mode(&s.path("supervise/control"), 0o622);
    // No letter: the service stays up.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", SVC])
        .args(["-wd", "-T", "2s"])
        .arg(&s.dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unable to wait for"),
        "{out:?}"
    );
    // The command itself still went through.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", SVC])
        .args(["-d", "-wd", "-T", "5s"])
        .arg(&s.dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(111), "{out:?}");
    wait_for("down", T, || s.pid() == 0);
}

/// supervise/event made sticky and writable by all (as /tmp) before
/// supervise starts: waiters refuse such a dir, and any user could fill it
/// with files supervise would look at on every change. supervise says so
/// and serves no events; svc -w still works, through inotify.
#[test]
fn a_shared_event_dir_is_refused_by_supervise_too() {
    use std::os::unix::fs::PermissionsExt;
    let s = Service::new(SLEEPER);
    fs::create_dir(s.path("supervise")).unwrap();
    fs::create_dir(s.path("supervise/event")).unwrap();
    fs::set_permissions(
        s.path("supervise/event"),
        fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    let sup = supervise_up(&s);
    assert_eq!(s.state_field("events"), "0");
    down_and_up(&s);
    exits_having_refused_event(&s, sup);
}

/// One svc waiting on many dirs holds three descriptors per dir (event/,
/// its FIFO, supervise/ok): it raises its soft limit on open files to the
/// hard one rather than fall back to inotify (at most 128 instances per
/// user) or fail once the soft limit is reached.
#[test]
fn one_waiter_on_many_dirs_is_not_held_to_the_soft_fd_limit() {
    let services: Vec<Service> = (0..6).map(|_| Service::new(SLEEPER)).collect();
    let _sups: Vec<_> = services.iter().map(|s| s.supervise()).collect();
    for s in &services {
        wait_for("up", T, || s.pid() != 0);
    }
    // 16: stdin, stdout, stderr, a signalfd and four dirs' worth.
    let mut w = Waiter(
        Command::new("prlimit")
            .args(["--nofile=16:4096", SVC, "-wd", "-T", "60s"])
            .args(services.iter().map(|s| &s.dir))
            .spawn()
            .unwrap(),
    );
    let pid = w.0.id();
    let fifos = |pid: u32| {
        services
            .iter()
            .filter(|s| holds_fifo_in(pid, &s.path("supervise/event")))
            .count()
    };
    wait_for("a FIFO in every dir", T, || {
        fifos(pid) == services.len() || w.0.try_wait().unwrap().is_some()
    });
    assert_eq!(w.0.try_wait().unwrap(), None, "the waiter ended early");
    assert!(!holds_inotify(pid), "the waiter fell back to inotify");
    for s in &services {
        s.send("d");
    }
    let st = exited(&mut w.0, T).expect("the waiter was not woken");
    assert_eq!(st.code(), Some(0));
}

/// A waiter started with HUP ignored (nohup) keeps it ignored: a HUP
/// neither ends it nor takes its FIFO.
#[test]
fn a_waiter_started_with_hup_ignored_lives_on_through_a_hup() {
    use std::os::unix::process::ExitStatusExt;
    let (s, _sup) = sleeper_up();
    let event = s.path("supervise/event");
    let mut w = Waiter(
        Command::new("sh")
            .arg("-c")
            .arg(format!("trap '' HUP; exec {SVC} -wd -T 60s \"$0\""))
            .arg(&s.dir)
            .spawn()
            .unwrap(),
    );
    let pid = w.0.id();
    wait_for("the waiter's FIFO", T, || holds_fifo_in(pid, &event));
    let signal = |sig| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    // Still waiting, FIFO and all, once a TERM sent after the HUP is in.
    signal(nix::sys::signal::Signal::SIGTERM).unwrap();
    let st = exited(&mut w.0, T).expect("the waiter did not end");
    assert_eq!(st.signal(), Some(libc::SIGTERM), "{st:?}");
    assert_eq!(entries(&event), Vec::<PathBuf>::new(), "FIFO left");
}

/// A run that cannot be exec'd is never up for a waiter: `svc -u -wU`
/// and `-wR` time out (99) at every try, never exit 0.
#[test]
fn a_failed_exec_never_wakes_a_waiter_as_up() {
    let s = Service::new("#!/nonexistent/interpreter\n");
    let _sup = s.supervise();
    wait_for("backoff", T, || s.state_field("state") == "backoff");
    for goal in ["-wU", "-wR", "-wU", "-wR", "-wU"] {
        let out = s.svc(&["-u", goal, "-T", "300ms"]);
        assert_eq!(out.status.code(), Some(99), "{goal}: {out:?}");
    }
}
