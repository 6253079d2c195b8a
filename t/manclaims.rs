//! Claims of the man pages in doc/ that no other test checked: exit codes,
//! refused configuration values, what run and the services are given.
//! Each test names the page it holds to.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{read_pid, signal, wait_for, write_exec, Service, Signal, SVOK, SVSTAT};

const T: Duration = Duration::from_secs(10);

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run(program: &str, args: &[&str], dirs: &[&Path]) -> Output {
    Command::new(program)
        .args(args)
        .args(dirs)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `program args` with stdin from `input` and stdout to `out`.
fn filter(program: &str, args: &[&str], input: Stdio, out: Stdio) -> Output {
    Command::new(program)
        .args(args)
        .stdin(input)
        .stdout(out)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn dev_full() -> Stdio {
    Stdio::from(
        fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

fn a_directory() -> Stdio {
    Stdio::from(fs::File::open("/").unwrap())
}

fn bytes(text: &str) -> Stdio {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    use std::io::Seek;
    f.rewind().unwrap();
    Stdio::from(f)
}

/// svok(8): 0 running; 100 not running (a FIFO without reader, a regular
/// file or a symbolic link at supervise/ok, no supervise/ok) or usage;
/// 111 when dir cannot be opened.
#[test]
fn svok_exit_codes() {
    let s = Service::new("#!/bin/sh\nexec sleep 1201\n");
    let _sup = s.supervise();
    let t = s.tmp.path();
    assert_eq!(code(&run(SVOK, &[], &[&s.dir])), Some(0));

    let dead = t.join("dead");
    fs::create_dir_all(dead.join("supervise")).unwrap();
    nix::unistd::mkfifo(
        &dead.join("supervise/ok"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let regular = t.join("regular");
    fs::create_dir_all(regular.join("supervise")).unwrap();
    fs::write(regular.join("supervise/ok"), "").unwrap();
    // A link to a live supervise's ok: still not a FIFO at that name.
    let linked = t.join("linked");
    fs::create_dir_all(linked.join("supervise")).unwrap();
    symlink(s.path("supervise/ok"), linked.join("supervise/ok")).unwrap();
    let bare = t.join("bare");
    fs::create_dir(&bare).unwrap();
    for dir in [&dead, &regular, &linked, &bare] {
        let out = run(SVOK, &[], &[dir]);
        assert_eq!(code(&out), Some(100), "{}: {out:?}", dir.display());
    }
    let out = run(SVOK, &[], &[]);
    assert_eq!(code(&out), Some(100), "usage: {out:?}");
    assert_eq!(stderr(&out), "svok: usage: svok dir\n");
    let out = run(SVOK, &[], &[&t.join("missing")]);
    assert_eq!(code(&out), Some(111), "{out:?}");
}

/// svstat(8): exit 0 also for a dir it cannot report on, in daemontools'
/// words; 111 when standard output cannot be written.
#[test]
fn svstat_exit_codes() {
    let s = Service::new("#!/bin/sh\nexec sleep 1202\n");
    let _sup = s.supervise();
    let t = s.tmp.path();
    let bare = t.join("bare");
    fs::create_dir(&bare).unwrap();
    let dead = t.join("dead");
    fs::create_dir_all(dead.join("supervise")).unwrap();
    nix::unistd::mkfifo(
        &dead.join("supervise/ok"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let out = run(SVSTAT, &[], &[&bare, &dead, &t.join("missing")]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "{}: unable to open supervise/ok: file does not exist\n\
             {}: supervise not running\n\
             {}: unable to chdir: file does not exist\n",
            bare.display(),
            dead.display(),
            t.join("missing").display()
        )
    );
    for flags in [&[][..], &["-l"], &["--json"], &["--prom"]] {
        let out = Command::new(SVSTAT)
            .args(flags)
            .arg(&s.dir)
            .stdout(dev_full())
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(111), "{flags:?}: {out:?}");
    }
}

/// svc(8): -T takes humantime or bare milliseconds; more than 100 years
/// is a usage error (100); a time limit that runs out is 99.
#[test]
fn svc_time_limits() {
    let s = Service::new("#!/bin/sh\nexec sleep 1203\n");
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    for huge in ["101y", "300000000000y"] {
        let out = s.svc(&["-d", "-wd", "-T", huge]);
        assert_eq!(code(&out), Some(100), "{huge}: {out:?}");
        assert!(stderr(&out).contains("out of range"), "{out:?}");
    }
    assert_ne!(s.pid(), 0, "a usage error must send nothing");
    // 300 is milliseconds: a wait that cannot be met ends well before 300 s.
    let t0 = Instant::now();
    let out = s.svc(&["-wd", "-T", "300"]);
    assert_eq!(code(&out), Some(99), "{out:?}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let out = s.svc(&["-wu", "-T", "100y"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
}

/// tai64n(8), tai64nlocal(8), readproctitle(8): 0 at the end of input,
/// 111 on a read or write error; readproctitle 100, silently, on a bad
/// title.
#[test]
fn filters_exit_codes() {
    for program in [
        env!("CARGO_BIN_EXE_tai64n"),
        env!("CARGO_BIN_EXE_tai64nlocal"),
    ] {
        let out = filter(program, &[], bytes("a\nb\n"), Stdio::piped());
        assert_eq!(code(&out), Some(0), "{program}: {out:?}");
        assert_eq!(stdout(&out).lines().count(), 2, "{program}");
        let out = filter(program, &[], bytes("a\n"), dev_full());
        assert_eq!(code(&out), Some(111), "{program} to /dev/full: {out:?}");
        let out = filter(program, &[], a_directory(), Stdio::piped());
        assert_eq!(code(&out), Some(111), "{program} reading /: {out:?}");
    }
    let rpt = env!("CARGO_BIN_EXE_readproctitle");
    let out = filter(rpt, &["x", "........"], bytes("hello\n"), Stdio::piped());
    assert_eq!(code(&out), Some(0), "{out:?}");
    let out = filter(rpt, &["x", "........"], a_directory(), Stdio::piped());
    assert_eq!(code(&out), Some(111), "{out:?}");
    for args in [&[][..], &["x", "...."]] {
        let out = filter(rpt, args, bytes(""), Stdio::piped());
        assert_eq!(code(&out), Some(100), "{args:?}: {out:?}");
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

/// supervise(8): run starts with stdin /dev/null, in a session and
/// process group of its own.
#[test]
fn run_gets_dev_null_and_a_session_of_its_own() {
    let s = Service::new(
        "#!/bin/sh\nreadlink /proc/$$/fd/0 > stdin.tmp\n\
         set -- $(cat /proc/$$/stat)\necho \"$$ $5 $6\" >> stdin.tmp\n\
         mv stdin.tmp seen\nexec sleep 1204\n",
    );
    let _sup = s.supervise();
    wait_for("run to record", T, || s.path("seen").exists());
    let seen = s.read("seen");
    let mut lines = seen.lines();
    assert_eq!(lines.next(), Some("/dev/null"), "{seen}");
    let ids: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(ids[1], ids[0], "not a group leader: {seen}");
    assert_eq!(ids[2], ids[0], "not a session leader: {seen}");
}

/// supervise(8), FILES: the values each file refuses are reported once
/// and the default is used; only the first line is read; a file that is
/// not a regular file is not read (and hangs nothing).
#[test]
fn refused_config_values_get_one_line_and_the_default() {
    let s = Service::new("#!/bin/sh\necho $$ >> starts\nexec sleep 1205\n");
    write_exec(&s.path("check"), "#!/bin/sh\nexit 0\n");
    let refused = [
        ("timeout-ready", "0"),
        ("check-interval", "0"),
        ("check-failures", "4294967296"),
        ("notification-fd", "1024"),
        ("down-signal", "65"),
        ("backoff", "2s 1s"),
    ];
    for (file, value) in refused {
        fs::write(s.path(file), format!("{value}\n")).unwrap();
    }
    // A good first line, garbage after it: nothing to report.
    fs::write(s.path("timeout-kill"), "5s\nnot a duration\n").unwrap();
    nix::unistd::mkfifo(
        &s.path("check-timeout"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let mut sup = s.supervise();
    wait_for("ready with defaults", T, || {
        s.state_field("state") == "ready"
    });
    // A second start reads the files again: still one line each.
    let first = s.pid();
    let out = s.svc(&["-t", "-wR", "-T", "5s"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    assert_ne!(s.pid(), first);
    s.send("dx");
    let (exit, err) = sup.wait_exit(T);
    assert_eq!(exit, Some(0), "{err}");
    for (file, value) in refused {
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.contains(&format!("/{file}: {value}:")) && l.contains("default"))
            .collect();
        assert_eq!(lines.len(), 1, "{file} {value}: {err}");
    }
    assert!(!err.contains("timeout-kill"), "{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("/check-timeout:"))
            .count(),
        1,
        "{err}"
    );
    // check-failures 0 is refused too.
    let s = Service::new("#!/bin/sh\nexec sleep 1206\n");
    fs::write(s.path("check-failures"), "0\n").unwrap();
    let mut sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    s.send("dx");
    let (_, err) = sup.wait_exit(T);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("/check-failures: 0:") && l.contains("default"))
            .count(),
        1,
        "{err}"
    );
}

/// supervise(8): down-signal takes a name with or without SIG, or a
/// number.
#[test]
fn down_signal_by_name_or_number() {
    for (value, want) in [("SIGUSR1", "USR1"), ("12", "USR2"), ("WINCH", "WINCH")] {
        let s = Service::new(common::SIGNAL_RECORDER);
        fs::write(s.path("down-signal"), format!("{value}\n")).unwrap();
        fs::write(s.path("timeout-kill"), "200ms\n").unwrap();
        let mut sup = s.supervise();
        wait_for("run to start", T, || {
            s.read("starts").lines().count() >= 1 && s.pid() != 0
        });
        s.send("d");
        wait_for("down", T, || s.pid() == 0);
        // sh runs pending traps in signal-number order, not arrival order.
        let sigs = s.read("sigs");
        assert!(sigs.lines().any(|l| l == want), "{value}: {sigs}");
        assert!(!sigs.contains("TERM"), "{value}: {sigs}");
        s.send("x");
        let (exit, err) = sup.wait_exit(T);
        assert_eq!(exit, Some(0));
        assert!(!err.contains("down-signal"), "{value}: {err}");
    }
}

/// supervise(8): backoff "0 0" restarts at once, always.
#[test]
fn backoff_0_0_restarts_at_once() {
    let s = Service::new("#!/bin/sh\necho $$ >> starts\nexit 1\n");
    fs::write(s.path("backoff"), "0 0\n").unwrap();
    let _sup = s.supervise();
    // With the default backoff (1 s doubling) 20 starts take minutes.
    wait_for("20 starts", T, || s.read("starts").lines().count() >= 20);
}

struct Boot(Child);

impl Drop for Boot {
    fn drop(&mut self) {
        signal(self.0.id() as i32, Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

fn svscanboot(scan: &Path) -> Boot {
    Boot(
        Command::new(env!("CARGO_BIN_EXE_svscanboot"))
            .arg(scan)
            .env("MANCLAIMS_MARK", "leaked")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// svscanboot(8): services get a clean environment, only PATH.
#[test]
fn svscanboot_gives_only_path() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = tmp.path().join("service");
    fs::create_dir_all(scan.join("env")).unwrap();
    write_exec(
        &scan.join("env/run"),
        "#!/bin/sh\nenv > env.tmp\nmv env.tmp env.out\nexec sleep 1207\n",
    );
    let _boot = svscanboot(&scan);
    wait_for("env recorded", T, || scan.join("env/env.out").exists());
    let env = fs::read_to_string(scan.join("env/env.out")).unwrap();
    // What sh itself adds is not svscanboot's doing.
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(n, _)| n))
        .filter(|n| !matches!(*n, "PWD" | "OLDPWD" | "SHLVL" | "_"))
        .collect();
    assert_eq!(names, ["PATH"], "{env}");
    wait_for("service up", T, || read_pid(&scan.join("env")) != 0);
}

/// svscanboot(8): its exit status is svscan's, 128 plus the signal number
/// when svscan was killed.
#[test]
fn svscanboot_exits_with_svscans_status() {
    let tmp = tempfile::tempdir().unwrap();
    let scan = tmp.path().join("service");
    fs::create_dir(&scan).unwrap();
    let mut boot = svscanboot(&scan);
    let pid = boot.0.id();
    let mut svscan = 0;
    wait_for("svscan started", T, || {
        svscan = children(pid)
            .into_iter()
            .find(|c| comm(*c) == "svscan")
            .unwrap_or(0);
        svscan != 0
    });
    signal(svscan as i32, Signal::SIGKILL);
    let mut status = None;
    wait_for("svscanboot to exit", T, || {
        status = boot.0.try_wait().unwrap();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(128 + 9));
}

/// svscan(8): 111 when dir cannot be used.
#[test]
fn svscan_exits_111_on_an_unusable_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, "").unwrap();
    for dir in [tmp.path().join("missing"), file] {
        let out = Command::new(env!("CARGO_BIN_EXE_svscan"))
            .arg(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(code(&out), Some(111), "{}: {out:?}", dir.display());
        assert!(stderr(&out).starts_with("svscan: fatal: "), "{out:?}");
    }
}
