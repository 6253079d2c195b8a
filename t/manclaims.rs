//! Claims of the man pages in doc/ that no other test checked (svscan,
//! svscanboot and pppoe-start: t/manclaims_scan.rs): exit codes,
//! refused configuration values, what run and the services are given.
//! Each test names the page it holds to.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    code, run_on, signal, stderr, stdout, wait_for, write_exec, Service, Signal, SVC, SVOK, SVSTAT,
};

const T: Duration = Duration::from_secs(10);

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
    assert_eq!(code(&run_on(SVOK, &[], &[&s.dir])), Some(0));

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
        let out = run_on(SVOK, &[], &[dir]);
        assert_eq!(code(&out), Some(100), "{}: {out:?}", dir.display());
    }
    let out = run_on(SVOK, &[], &[]);
    assert_eq!(code(&out), Some(100), "usage: {out:?}");
    assert_eq!(stderr(&out), "svok: usage: svok dir\n");
    let out = run_on(SVOK, &[], &[&t.join("missing")]);
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
    let out = run_on(SVSTAT, &[], &[&bare, &dead, &t.join("missing")]);
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
/// process group of its own; s6's nosetsid file is not read.
#[test]
fn run_gets_dev_null_and_a_session_of_its_own() {
    let s = Service::new(
        "#!/bin/sh\nreadlink /proc/$$/fd/0 > stdin.tmp\n\
         set -- $(cat /proc/$$/stat)\necho \"$$ $5 $6\" >> stdin.tmp\n\
         mv stdin.tmp seen\nexec sleep 1204\n",
    );
    fs::write(s.path("nosetsid"), "").unwrap();
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

/// supervise/control made by hand, opened read and write: svc finds a
/// reader, and our read never waits for a writer.
fn control_fifo(control: &std::path::Path) -> fs::File {
    nix::unistd::mkfifo(control, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(control)
        .unwrap()
}

/// svc(8): the options go out in the order given, each once.
#[test]
fn svc_sends_each_letter_once_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    fs::create_dir_all(dir.join("supervise")).unwrap();
    let control = dir.join("supervise/control");
    let mut fifo = control_fifo(&control);
    let out = run_on(SVC, &["-uduhhtuK", "-x", "-t"], &[&dir]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    let mut got = [0u8; 64];
    let n = std::io::Read::read(&mut fifo, &mut got).unwrap();
    assert_eq!(&got[..n], b"udhtKx");
}

/// supervise(8): letters already waiting in supervise/control are obeyed
/// before anything starts: a waiting `d` means run never starts.
#[test]
fn letters_waiting_in_control_come_first() {
    let s = Service::new("#!/bin/sh\necho $$ >> starts\nexec sleep 1208\n");
    fs::create_dir(s.path("supervise")).unwrap();
    let control = s.path("supervise/control");
    let mut fifo = control_fifo(&control);
    fifo.write_all(b"d").unwrap();
    let mut sup = s.supervise();
    wait_for("want down", T, || s.state_field("want") == "down");
    drop(fifo);
    assert_eq!(s.state_field("state"), "down");
    assert_eq!(s.state_field("last_exit"), "", "run was started");
    assert!(!s.path("starts").exists(), "run was started");
    // And the service still comes up when told.
    let out = s.svc(&["-u", "-wu", "-T", "5s"]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    s.send("dx");
    assert_eq!(sup.wait_exit(T).0, Some(0));
}

/// supervise(8): finish gets `-1 0` when the exit status is unknown (an
/// adopted run, not supervise's child, died), and run's process group.
#[test]
fn finish_of_an_adopted_run_gets_minus_1_and_0() {
    let s = Service::new("#!/bin/sh\nexec sleep 1209\n");
    write_exec(&s.path("finish"), "#!/bin/sh\necho \"$@\" >> finished\n");
    let mut first = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    let pid = s.pid();
    signal(first.pid(), Signal::SIGKILL);
    let _ = first.wait_exit(T);
    let mut second = s.supervise();
    wait_for("adopted", T, || {
        s.pid() == pid && s.state_field("state") == "ready"
    });
    signal(pid as i32, Signal::SIGKILL);
    wait_for("finish ran", T, || s.read("finished").ends_with('\n'));
    let expected = format!("-1 0 svc {pid}");
    assert_eq!(s.read("finished").lines().next(), Some(expected.as_str()));
    s.send("dx");
    assert_eq!(second.wait_exit(T).0, Some(0));
}

/// supervise(8): finish's time limit is 5 seconds by default.
#[test]
fn timeout_finish_defaults_to_5_seconds() {
    let s = Service::new("#!/bin/sh\nexec sleep 1210\n");
    write_exec(
        &s.path("finish"),
        "#!/bin/sh\necho $$ > finish.pid\nexec sleep 1211\n",
    );
    let _sup = s.supervise();
    wait_for("up", T, || s.pid() != 0);
    s.send("d");
    wait_for("finish running", T, || s.read("finish.pid").ends_with('\n'));
    let started = Instant::now();
    let fpid: u32 = s.read("finish.pid").trim().parse().unwrap();
    wait_for("finish killed", T, || !common::alive(fpid));
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(4), "killed after {took:?}");
    wait_for("down", T, || s.state_field("state") == "down");
}

/// supervise(8): check-failures defaults to 3.
#[test]
fn check_failures_defaults_to_3() {
    let s = Service::new("#!/bin/sh\nexec sleep 1214\n");
    write_exec(
        &s.path("check"),
        "#!/bin/sh\nif [ -e healthy ]; then rm healthy; exit 0; fi\necho x >> failures\nexit 1\n",
    );
    fs::write(s.path("healthy"), "").unwrap();
    fs::write(s.path("check-interval"), "50ms").unwrap();
    let _sup = s.supervise();
    wait_for("ready", T, || s.state_field("state") == "ready");
    let pid = s.pid();
    wait_for("restart after the failures", T, || {
        s.pid() != 0 && s.pid() != pid
    });
    assert_eq!(s.read("failures").lines().count(), 3);
}

/// supervise(8): check-timeout and check-interval default to 10 seconds.
#[test]
fn check_timeout_and_interval_default_to_10_seconds() {
    let s = Service::new("#!/bin/sh\nexec sleep 1215\n");
    // The first check passes, the second hangs.
    write_exec(
        &s.path("check"),
        "#!/bin/sh\necho $$ >> calls\n[ -e hang ] && exec sleep 1216\ntouch hang\nexit 0\n",
    );
    let _sup = s.supervise();
    wait_for("ready", T, || s.state_field("state") == "ready");
    let first = Instant::now();
    let long = Duration::from_secs(25);
    wait_for("the second check", long, || {
        s.read("calls").lines().count() >= 2
    });
    let interval = first.elapsed();
    let hung: u32 = s.read("calls").lines().nth(1).unwrap().parse().unwrap();
    let second = Instant::now();
    wait_for("the hanging check killed", long, || !common::alive(hung));
    let timeout = second.elapsed();
    // Generous bounds: what is checked is 10 s, neither 1 s nor a minute.
    for (what, took) in [("interval", interval), ("timeout", timeout)] {
        assert!(
            took >= Duration::from_secs(8) && took <= Duration::from_secs(20),
            "{what} {took:?}"
        );
    }
    wait_for("the timeout recorded", T, || {
        s.state_field("check") == "timeout"
    });
}

/// supervise(8): after run exits, what is left of its process group gets
/// TERM and, after timeout-kill, KILL.
#[test]
fn leftovers_of_runs_group_are_killed_after_timeout_kill() {
    let s = Service::new(
        "#!/bin/sh\n[ -e once ] && exec sleep 1217\ntouch once\n\
         sh -c 'trap \"\" TERM; echo $$ > stubborn; exec sleep 1218' &\n\
         while [ ! -s stubborn ]; do sleep 0.01; done\nexit 0\n",
    );
    fs::write(s.path("timeout-kill"), "300ms\n").unwrap();
    let _sup = s.supervise();
    wait_for("stubborn child", T, || s.read("stubborn").ends_with('\n'));
    let stubborn: u32 = s.read("stubborn").trim().parse().unwrap();
    let _guard = KillOnDrop(stubborn);
    wait_for("the stubborn leftover killed", T, || {
        !common::alive(stubborn)
    });
}

/// SIGKILL to a process a test made immune to TERM, pass or fail.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if common::alive(self.0) {
            signal(self.0 as i32, Signal::SIGKILL);
        }
    }
}

/// supervise(8): a regular file found at supervise/ok (written while the
/// FIFO was missing) is replaced by a FIFO.
#[test]
fn a_regular_file_at_ok_is_replaced_by_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let s = Service::new("#!/bin/sh\nexec sleep 1222\n");
    fs::create_dir(s.path("supervise")).unwrap();
    fs::write(s.path("supervise/ok"), "").unwrap();
    // supervise() waits for svok, which counts only a FIFO with a reader.
    let _sup = s.supervise();
    let ft = fs::symlink_metadata(s.path("supervise/ok"))
        .unwrap()
        .file_type();
    assert!(ft.is_fifo(), "supervise/ok is {ft:?}");
}

/// svstat(8): --json has every documented field; next_start_in in
/// backoff; supervise null and an error for a dir it cannot read.
#[test]
fn svstat_json_has_the_documented_fields() {
    let up = Service::new("#!/bin/sh\nexec sleep 1223\n");
    let _up = up.supervise();
    let failing = Service::new("#!/bin/sh\nexit 1\n");
    fs::write(failing.path("backoff"), "1m 1m\n").unwrap();
    let _failing = failing.supervise();
    wait_for("up", T, || up.state_field("state") == "ready");
    // Settled: supervise replaces status, then state, so wait until a
    // reader sees both say so.
    wait_for("backoff, in state and status", T, || {
        stdout(&run_on(SVSTAT, &["--json"], &[&failing.dir])).contains("\"state\":\"backoff\"")
    });
    let missing = up.tmp.path().join("missing");
    let out = run_on(SVSTAT, &["--json"], &[&up.dir, &failing.dir, &missing]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let has = |line: &str, key: &str| line.contains(&format!("\"{key}\":"));
    for key in [
        "dir",
        "supervise",
        "up",
        "pid",
        "seconds",
        "normally_up",
        "paused",
        "want",
        "state",
        "ready",
        "last_exit",
        "restarts",
        "fast_failures",
        "check",
        "check_failures",
    ] {
        assert!(has(lines[0], key) && has(lines[1], key), "{key}: {text}");
    }
    assert!(!has(lines[0], "next_start_in"), "{text}");
    assert!(has(lines[1], "next_start_in"), "{text}");
    assert!(lines[2].contains("\"supervise\":null"), "{text}");
    assert!(has(lines[2], "error"), "{text}");
}

/// supervise(8): notification-fd 0 or 2 puts the pipe in place of run's
/// stdin or stderr, as s6 does.
#[test]
fn notification_fd_0_and_2_replace_stdin_and_stderr() {
    for fd in ["0", "2"] {
        let s = Service::new(&format!(
            "#!/bin/sh\nwhile [ ! -e go ]; do sleep 0.01; done\necho >&{fd}\nexec sleep 1224\n"
        ));
        fs::write(s.path("notification-fd"), format!("{fd}\n")).unwrap();
        let _sup = s.supervise();
        wait_for("up", T, || s.state_field("state") == "up");
        fs::write(s.path("go"), "").unwrap();
        wait_for("ready through the pipe", T, || {
            s.state_field("state") == "ready"
        });
    }
}

/// supervise(8), Trust: while dir cannot be trusted, SIGTERM, SIGINT or
/// SIGHUP make supervise exit 0, having started nothing.
#[test]
fn an_untrusted_supervise_exits_0_on_term_int_hup() {
    use std::os::unix::fs::PermissionsExt;
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 1225\n");
        fs::set_permissions(&s.dir, fs::Permissions::from_mode(0o777)).unwrap();
        let mut sup = common::started::Started::supervise(&s.dir, s.tmp.path());
        wait_for("the refusal", T, || sup.stderr().contains("refusing"));
        signal(sup.pid(), sig);
        let status = sup.wait_exit(T).expect("supervise exits");
        assert_eq!(status.code(), Some(0), "{sig:?}: {}", sup.stderr());
        assert!(!s.path("starts").exists(), "{sig:?}: run was started");
    }
}
