//! Differential tests of the chain-loading helpers against Debian's
//! daemontools 0.76 (/usr/bin/NAME): same stdout, stderr and exit code for
//! the same command, including what the child observes (limits, ids,
//! environment, session, descriptors).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const PROGRAMS: [&str; 8] = [
    "setuidgid",
    "envuidgid",
    "envdir",
    "softlimit",
    "setlock",
    "pgrphack",
    "fghack",
    "readproctitle",
];

fn ours(name: &str) -> &'static str {
    match name {
        "setuidgid" => env!("CARGO_BIN_EXE_setuidgid"),
        "envuidgid" => env!("CARGO_BIN_EXE_envuidgid"),
        "envdir" => env!("CARGO_BIN_EXE_envdir"),
        "softlimit" => env!("CARGO_BIN_EXE_softlimit"),
        "setlock" => env!("CARGO_BIN_EXE_setlock"),
        "pgrphack" => env!("CARGO_BIN_EXE_pgrphack"),
        "fghack" => env!("CARGO_BIN_EXE_fghack"),
        "readproctitle" => env!("CARGO_BIN_EXE_readproctitle"),
        _ => panic!("not a chain-loader: {name}"),
    }
}

fn theirs(name: &str) -> String {
    format!("/usr/bin/{name}")
}

/// Debian's daemontools must be there; skip (saying why) only outside CI.
fn have_daemontools() -> bool {
    let missing: Vec<String> = PROGRAMS
        .iter()
        .map(|p| theirs(p))
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    common::skip(&format!(
        "daemontools is missing: {missing:?} (apt-get install daemontools)"
    ))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Ours,
    Theirs,
}

impl Side {
    fn path(self, name: &str) -> String {
        match self {
            Side::Ours => ours(name).to_string(),
            Side::Theirs => theirs(name),
        }
    }
}

/// Expand `@NAME` (also inside an argument) to this side's program NAME, so nested
/// invocations (`softlimit -o 9 @softlimit -o = ...`) stay on one side.
fn expand(side: Side, args: &[&str]) -> Vec<String> {
    args.iter()
        .map(|a| {
            let mut a = a.to_string();
            for p in PROGRAMS {
                a = a.replace(&format!("@{p}"), &side.path(p));
            }
            a
        })
        .collect()
}

/// A command with a small fixed environment, so both sides see the same.
fn command(side: Side, name: &str, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(side.path(name));
    c.args(expand(side, args))
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    c
}

/// Our binary paths replaced by Debian's, so a message that names the
/// program by path compares equal.
fn normalise(bytes: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    for p in PROGRAMS {
        s = s.replace(ours(p), &theirs(p));
    }
    s
}

#[derive(Debug, PartialEq, Eq)]
struct Seen {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

fn seen(out: Output) -> Seen {
    Seen {
        stdout: normalise(&out.stdout),
        stderr: normalise(&out.stderr),
        code: out.status.code(),
    }
}

fn run(side: Side, name: &str, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Seen {
    seen(command(side, name, args, cwd, env).output().expect("spawn"))
}

/// Run NAME ARGS on both sides in `cwd`; assert they behave the same and
/// return what was seen.
fn same_env(name: &str, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Seen {
    let theirs = run(Side::Theirs, name, args, cwd, env);
    let ours = run(Side::Ours, name, args, cwd, env);
    assert_eq!(ours, theirs, "`{name} {args:?}` differs (left: ours)");
    ours
}

fn same(name: &str, args: &[&str], cwd: &Path) -> Seen {
    same_env(name, args, cwd, &[])
}

/// Each side in a fresh directory of its own, prepared by `setup`, for
/// commands that change the file system.
fn same_fresh(name: &str, args: &[&str], setup: impl Fn(&Path)) -> (Seen, [tempfile::TempDir; 2]) {
    let dirs = [tmp(), tmp()];
    setup(dirs[0].path());
    setup(dirs[1].path());
    let theirs = run(Side::Theirs, name, args, dirs[0].path(), &[]);
    let ours = run(Side::Ours, name, args, dirs[1].path(), &[]);
    assert_eq!(ours, theirs, "`{name} {args:?}` differs (left: ours)");
    (ours, dirs)
}

fn tmp() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    // Traversable by nobody, for the tests that run as nobody.
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn usage_lines_and_exit_codes() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    let cases: &[(&str, &[&str])] = &[
        ("setuidgid", &[]),
        ("setuidgid", &["nobody"]),
        ("envuidgid", &[]),
        ("envuidgid", &["nobody"]),
        ("envdir", &[]),
        ("envdir", &["."]),
        ("softlimit", &[]),
        ("softlimit", &["-o", "5"]),
        ("softlimit", &["-z", "true"]),
        ("softlimit", &["-o"]),
        ("softlimit", &["-o", "3x", "true"]),
        ("softlimit", &["-t", "-1", "true"]),
        ("softlimit", &["--"]),
        ("softlimit", &["-o5", "-z"]),
        ("setlock", &[]),
        ("setlock", &["f"]),
        ("setlock", &["-n", "f"]),
        ("setlock", &["-nz", "f", "true"]),
        ("setlock", &["-nx", "--", "f"]),
        ("pgrphack", &[]),
        ("fghack", &[]),
        ("readproctitle", &[]),
        ("readproctitle", &["abcd"]),
        ("readproctitle", &["abcdefgh", "a"]),
        ("readproctitle", &["abcde"]),
        ("readproctitle", &["x", "-", "abcdefgh"]),
    ];
    for (name, args) in cases {
        same(name, args, d.path());
    }
    // The usage line itself, and envdir's odd exit code, explicitly.
    let s = same("envdir", &[], d.path());
    assert_eq!(s.stderr, "envdir: usage: envdir dir child\n");
    assert_eq!(s.code, Some(111));
    let s = same("setlock", &["f"], d.path());
    assert_eq!(
        s.stderr,
        "setlock: usage: setlock [ -nNxX ] file program [ arg ... ]\n"
    );
    assert_eq!(s.code, Some(100));
    assert!(
        !d.path().join("f").exists(),
        "usage error must not create f"
    );
}

#[test]
fn child_that_cannot_run() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    std::fs::write(d.path().join("noexec"), "#!/bin/sh\n").unwrap();
    chmod(&d.path().join("noexec"), 0o644);
    let prefixes: &[&[&str]] = &[
        &["setuidgid", "root"],
        &["envuidgid", "root"],
        &["envdir", "."],
        &["softlimit"],
        &["softlimit", "-o", "100"],
        &["setlock", "lockfile"],
        &["pgrphack"],
        &["fghack"],
    ];
    for child in ["./nonexistent", "no-such-program-anywhere", "./noexec", "/"] {
        for p in prefixes {
            let mut args: Vec<&str> = p[1..].to_vec();
            args.push(child);
            let s = same(p[0], &args, d.path());
            assert_eq!(s.code, Some(111), "{p:?} {child}");
            assert!(s.stderr.contains("unable to run"), "{p:?}: {}", s.stderr);
        }
    }
    for name in ["setuidgid", "envuidgid"] {
        let s = same(name, &["no-such-account-here", "true"], d.path());
        assert_eq!(
            s.stderr,
            format!("{name}: fatal: unknown account no-such-account-here\n")
        );
    }
}

/// What a child can tell about its credentials and signal state.
const SHOW_PROCESS: &str = "id; grep -E '^(Uid|Gid|Groups|SigBlk|SigIgn):' /proc/self/status";

#[test]
fn setuidgid_and_envuidgid_from_inside() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    for account in ["nobody", "daemon", "root"] {
        let s = same("setuidgid", &[account, "sh", "-c", SHOW_PROCESS], d.path());
        assert_eq!(s.code, Some(0));
        if account == "nobody" {
            assert!(s.stdout.contains("groups=65534(nogroup)\n"), "{}", s.stdout);
        }
        // exec env directly: sh would reorder the environment.
        let s = same_env(
            "envuidgid",
            &[account, "env"],
            d.path(),
            &[("UID", "x"), ("A", "1"), ("Z", "2")],
        );
        assert!(s.stdout.contains("\nGID="), "{}", s.stdout);
    }
    // Chained: as nobody, setuidgid can no longer change anything.
    let s = same(
        "setuidgid",
        &["nobody", "@setuidgid", "root", "id"],
        d.path(),
    );
    assert_eq!(
        s.stderr,
        "setuidgid: fatal: unable to setgid: permission denied\n"
    );
}

#[test]
fn softlimit_every_flag_seen_from_inside() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    let show = "ulimit -a; echo hard; ulimit -Ha";
    let values = [
        ("-a", "3000000000"),
        ("-c", "12345"),
        ("-d", "2000000000"),
        ("-f", "123456789"),
        ("-l", "65536"),
        ("-m", "3000000000"),
        ("-o", "77"),
        ("-p", "333"),
        ("-r", "55555555"),
        ("-s", "4000000"),
        ("-t", "1234"),
    ];
    for (flag, value) in values {
        let s = same("softlimit", &[flag, value, "sh", "-c", show], d.path());
        assert_eq!(s.code, Some(0), "{flag}: {s:?}");
        // `=` raises the soft limit back to the hard one.
        let s = same(
            "softlimit",
            &[flag, value, "@softlimit", flag, "=", "sh", "-c", show],
            d.path(),
        );
        assert_eq!(s.code, Some(0), "{flag} =: {s:?}");
    }
    // Every flag at once, glued arguments, above the hard limit, overflow
    // wrapping, last one wins, an empty number.
    let all: Vec<&str> = values
        .iter()
        .flat_map(|(f, v)| [*f, *v])
        .chain(["sh", "-c", show])
        .collect();
    same("softlimit", &all, d.path());
    same(
        "softlimit",
        &["-o5", "-c0", "-p", "99999999999999", "sh", "-c", show],
        d.path(),
    );
    same(
        "softlimit",
        &["-t", "18446744073709551617", "sh", "-c", "ulimit -t"],
        d.path(),
    );
    same(
        "softlimit",
        &["-o", "50", "-o", "60", "--", "sh", "-c", "ulimit -n"],
        d.path(),
    );
    same("softlimit", &["-o", "", "true"], d.path());
}

#[test]
fn pgrphack_makes_a_session_leader() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    let script = r#"set -- $(cat /proc/$$/stat); [ "$5" = $$ ] && echo group-leader; [ "$6" = $$ ] && echo session-leader; exit 7"#;
    let s = same("pgrphack", &["sh", "-c", script], d.path());
    assert_eq!(s.stdout, "group-leader\nsession-leader\n");
    assert_eq!(s.code, Some(7));
}

#[test]
fn fghack_waits_for_everything_and_passes_the_code() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    let s = same("fghack", &["sh", "-c", "exit 3"], d.path());
    assert_eq!(s.code, Some(3));
    let s = same("fghack", &["sh", "-c", "kill -9 $$"], d.path());
    assert_eq!(s.stderr, "fghack: fatal: child crashed\n");
    assert_eq!(s.code, Some(111));
    // The background job keeps a copy of the pipe: fghack must wait for it
    // although its child exited long before.
    let s = same(
        "fghack",
        &["sh", "-c", "(sleep 0.3; echo late) & echo early"],
        d.path(),
    );
    assert_eq!(s.stdout, "early\nlate\n");
    // 31 copies of the write end plus stdio (and ls's own directory), and
    // nothing else leaks. The numbers differ (daemontools dups in the
    // child, we in the parent), the count does not.
    let count = |side| {
        let s = run(side, "fghack", &["ls", "/proc/self/fd"], d.path(), &[]);
        assert_eq!(s.code, Some(0));
        s.stdout.lines().count()
    };
    assert_eq!(count(Side::Ours), count(Side::Theirs));
    let baseline = Command::new("ls")
        .arg("/proc/self/fd")
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(count(Side::Ours), baseline + 31);
}

fn envdir_fixture(root: &Path) -> PathBuf {
    let e = root.join("env");
    std::fs::create_dir(&e).unwrap();
    let files: &[(&str, &[u8])] = &[
        ("PLAIN", b"value\n"),
        ("SPACES", b"value \t \t\nsecond line\n"),
        ("NULS", b"a\0b\0\n"),
        ("EMPTYLINE", b"\n"),
        ("REMOVED", b""),
        ("OVERRIDE", b"new"),
        ("LEADING", b"  lead"),
        ("EQ=SIGN", b"v"),
        (".hidden", b"x"),
        ("ABSENT", b""),
    ];
    for (n, c) in files {
        std::fs::write(e.join(n), c).unwrap();
    }
    e
}

#[test]
fn envdir_sets_and_removes_like_daemontools() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    envdir_fixture(d.path());
    let preset = [
        ("REMOVED", "gone"),
        ("OVERRIDE", "old"),
        ("KEEP", "1"),
        ("AAA", "first"),
        ("ZZZ", "last"),
    ];
    let s = same_env("envdir", &["env", "env"], d.path(), &preset);
    assert!(s.stdout.contains("NULS=a\nb\n\n"), "{}", s.stdout);
    assert!(s.stdout.contains("SPACES=value\n"));
    assert!(s.stdout.contains("EMPTYLINE=\n"));
    assert!(!s.stdout.contains("REMOVED"));
    assert!(!s.stdout.contains("hidden"));
    // The child runs where envdir was started.
    let s = same("envdir", &["env", "pwd"], d.path());
    assert_eq!(s.stdout.trim(), d.path().to_str().unwrap());
    // Symlinks to the directory and to a file work; a dangling symlink as
    // the only entry removes the variable.
    std::os::unix::fs::symlink("env", d.path().join("envlink")).unwrap();
    same_env("envdir", &["envlink", "env"], d.path(), &preset);
    let dangling = d.path().join("dangling");
    std::fs::create_dir(&dangling).unwrap();
    std::os::unix::fs::symlink("/nonexistent/x", dangling.join("KEEP")).unwrap();
    let s = same_env("envdir", &["dangling", "env"], d.path(), &preset);
    assert!(!s.stdout.contains("KEEP"));
    // A FIFO without a writer reads as empty (no hang); PATH from the
    // directory reaches the child but the child is still found through
    // the PATH envdir was started with.
    let special = d.path().join("special");
    std::fs::create_dir(&special).unwrap();
    nix::unistd::mkfifo(
        &special.join("KEEP"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    std::fs::write(special.join("PATH"), "/nonexistent\n").unwrap();
    let s = same_env("envdir", &["special", "env"], d.path(), &preset);
    assert!(!s.stdout.contains("KEEP"));
    assert!(s.stdout.contains("PATH=/nonexistent\n"));
}

#[test]
fn envdir_errors_name_the_file() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    let p = d.path();
    std::os::unix::fs::symlink("loop", p.join("loop")).unwrap();
    std::fs::write(p.join("afile"), "x").unwrap();
    std::fs::create_dir_all(p.join("withdir/sub")).unwrap();
    std::fs::create_dir(p.join("withloop")).unwrap();
    std::os::unix::fs::symlink("L", p.join("withloop/L")).unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "loop",
            "envdir: fatal: unable to switch to directory loop: symbolic link loop\n",
        ),
        (
            "missing",
            "envdir: fatal: unable to switch to directory missing: file does not exist\n",
        ),
        (
            "afile",
            "envdir: fatal: unable to switch to directory afile: not a directory\n",
        ),
        (
            "withdir",
            "envdir: fatal: unable to read withdir/sub: is a directory\n",
        ),
        (
            "withloop",
            "envdir: fatal: unable to read withloop/L: symbolic link loop\n",
        ),
    ];
    for (dir, msg) in cases {
        let s = same("envdir", &[dir, "env"], p);
        assert_eq!(&s.stderr, msg);
        assert_eq!(s.code, Some(111));
    }
}

#[test]
fn envdir_permission_errors_as_nobody() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    let p = d.path();
    std::fs::create_dir(p.join("secretfile")).unwrap();
    std::fs::write(p.join("secretfile/S"), "x").unwrap();
    chmod(&p.join("secretfile/S"), 0o000);
    std::fs::create_dir(p.join("closed")).unwrap();
    chmod(&p.join("closed"), 0o000);
    std::fs::create_dir(p.join("unlisted")).unwrap();
    chmod(&p.join("unlisted"), 0o111);
    let cases: &[(&str, &str)] = &[
        (
            "secretfile",
            "envdir: fatal: unable to read secretfile/S: access denied\n",
        ),
        (
            "closed",
            "envdir: fatal: unable to switch to directory closed: access denied\n",
        ),
        (
            "unlisted",
            "envdir: fatal: unable to read directory unlisted: access denied\n",
        ),
    ];
    for (dir, msg) in cases {
        let s = same("setuidgid", &["nobody", "@envdir", dir, "env"], p);
        assert_eq!(&s.stderr, msg);
        assert_eq!(s.code, Some(111));
    }
    // Started in a directory nobody cannot read.
    let s = same(
        "setuidgid",
        &["nobody", "@envdir", "..", "env"],
        &p.join("unlisted"),
    );
    assert_eq!(
        s.stderr,
        "envdir: fatal: unable to switch to current directory: access denied\n"
    );
}

#[test]
fn setlock_creates_never_truncates_and_hands_the_lock_on() {
    if !have_daemontools() {
        return;
    }
    let (s, _dirs) = same_fresh(
        "setlock",
        &["new", "sh", "-c", "stat -c %a new; wc -c < old"],
        |p| {
            std::fs::write(p.join("old"), "keep me").unwrap();
        },
    );
    assert_eq!(s.stdout, "600\n7\n");
    let (s, dirs) = same_fresh("setlock", &["old", "cat", "old"], |p| {
        std::fs::write(p.join("old"), "keep me").unwrap();
    });
    assert_eq!(s.stdout, "keep me");
    for d in &dirs {
        assert_eq!(std::fs::read(d.path().join("old")).unwrap(), b"keep me");
    }
    // The child holds the lock: a second setlock -n inside it fails.
    let (s, _dirs) = same_fresh(
        "setlock",
        &["f", "sh", "-c", "@setlock -n f true; echo $?"],
        |_| {},
    );
    assert_eq!(
        s.stderr,
        "setlock: fatal: unable to lock f: temporary failure\n"
    );
    assert_eq!(s.stdout, "111\n");
    // Cannot open.
    let d = tmp();
    let s = same("setlock", &["nodir/f", "true"], d.path());
    assert_eq!(
        s.stderr,
        "setlock: fatal: unable to open nodir/f: file does not exist\n"
    );
    let s = same("setlock", &[".", "true"], d.path());
    assert_eq!(
        s.stderr,
        "setlock: fatal: unable to open .: is a directory\n"
    );
    let s = same("setlock", &["-x", "nodir/f", "echo", "no"], d.path());
    assert_eq!(
        (s.stdout.as_str(), s.stderr.as_str(), s.code),
        ("", "", Some(0))
    );
}

/// A process holding the flock on `file`, until dropped.
struct Holder {
    child: Child,
}

impl Holder {
    fn start(side: Side, dir: &Path, file: &str) -> Holder {
        let mut child = command(
            side,
            "setlock",
            &[file, "sh", "-c", "echo locked; read x"],
            dir,
            &[],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn holder");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("holder did not take the lock");
        assert_eq!(line, "locked\n");
        Holder { child }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[test]
fn setlock_flags_against_a_held_lock() {
    if !have_daemontools() {
        return;
    }
    for holder_side in [Side::Theirs, Side::Ours] {
        let d = tmp();
        let holder = Holder::start(holder_side, d.path(), "f");
        let fail = "setlock: fatal: unable to lock f: temporary failure\n";
        for (flags, stderr, code) in [
            ("-n", fail, 111),
            ("-nx", "", 0),
            ("-xn", "", 0),
            ("-nxX", fail, 111),
            ("-xXn", fail, 111),
        ] {
            let s = same("setlock", &[flags, "f", "echo", "ran"], d.path());
            assert_eq!(
                (s.stdout.as_str(), s.stderr.as_str(), s.code),
                ("", stderr, Some(code)),
                "{flags} with the lock held by {holder_side:?}"
            );
        }
        // Without -n (or with -N after it) both wait for the holder.
        let waiting: Vec<Child> = [Side::Theirs, Side::Ours]
            .into_iter()
            .flat_map(|side| {
                ["-nN", "-X"].map(|flags| {
                    command(
                        side,
                        "setlock",
                        &[flags, "f", "echo", "got it"],
                        d.path(),
                        &[],
                    )
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn waiter")
                })
            })
            .collect();
        // Give them time to give up wrongly (an observation window, not a
        // synchronisation: the assertion is that nothing exits).
        std::thread::sleep(Duration::from_millis(200));
        let mut waiting = waiting;
        for w in &mut waiting {
            assert!(w.try_wait().unwrap().is_none(), "a waiter did not wait");
        }
        drop(holder);
        for w in waiting {
            let s = seen(w.wait_with_output().unwrap());
            assert_eq!(
                s,
                Seen {
                    stdout: "got it\n".into(),
                    stderr: String::new(),
                    code: Some(0)
                }
            );
        }
    }
}

/// The arguments after argv[0], as /proc shows them.
fn shown_args(pid: u32) -> Vec<u8> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    match cmdline.iter().position(|&b| b == 0) {
        Some(i) => cmdline[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

fn ps_args(pid: u32) -> String {
    let out = Command::new("ps")
        .args(["-o", "args=", "-p", &pid.to_string()])
        .output()
        .expect("ps");
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    // Drop argv[0] (the paths differ).
    s.split_once(' ').map(|(_, r)| r.to_string()).unwrap_or(s)
}

#[test]
fn readproctitle_shows_the_last_bytes_in_ps() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    let args = ["service", "errors:", "...................."];
    let mut procs: Vec<Child> = [Side::Theirs, Side::Ours]
        .iter()
        .map(|&side| {
            command(side, "readproctitle", &args, d.path(), &[])
                .stdin(Stdio::piped())
                .spawn()
                .expect("spawn readproctitle")
        })
        .collect();
    let pids: Vec<u32> = procs.iter().map(|c| c.id()).collect();
    let initial = b"service\0errors:\0....................\0".to_vec();
    for &pid in &pids {
        common::wait_for("the initial title", Duration::from_secs(10), || {
            shown_args(pid) == initial
        });
    }
    let chunks: [&[u8]; 3] = [
        b"hello\nworld",
        b"svscan: warning: unable to start x/run: file does not exist\n",
        b"0123456789abcdefghijklmnopqrstuvwxyz",
    ];
    for chunk in chunks {
        for p in &mut procs {
            p.stdin.as_mut().unwrap().write_all(chunk).unwrap();
        }
        let tail = &chunk[chunk.len().saturating_sub(10)..];
        for &pid in &pids {
            common::wait_for(
                "the new bytes in the title",
                Duration::from_secs(10),
                || {
                    let a = shown_args(pid);
                    a.len() > 1 && a[..a.len() - 1].ends_with(tail)
                },
            );
        }
        assert_eq!(
            String::from_utf8_lossy(&shown_args(pids[1])),
            String::from_utf8_lossy(&shown_args(pids[0]))
        );
        assert_eq!(ps_args(pids[1]), ps_args(pids[0]));
    }
    assert_eq!(
        shown_args(pids[1]),
        b"service\0errors:\0...jklmnopqrstuvwxyz\0".to_vec()
    );
    for mut p in procs {
        drop(p.stdin.take());
        assert_eq!(p.wait().unwrap().code(), Some(0));
    }
    // A read error (stdin is a directory) exits 111, silently.
    for side in [Side::Theirs, Side::Ours] {
        let out = command(side, "readproctitle", &["abcdefgh"], d.path(), &[])
            .stdin(std::fs::File::open(d.path()).unwrap())
            .output()
            .unwrap();
        assert_eq!((out.status.code(), out.stderr.len()), (Some(111), 0));
    }
}

/// A signal the caller ignores stays ignored through every chain-loader,
/// fghack's child included, as with daemontools (nohup, a shell's `trap ''`).
#[test]
fn chain_loaders_pass_on_signals_their_caller_ignores() {
    if !have_daemontools() {
        return;
    }
    let d = tmp();
    let show = "grep -E '^SigIgn:' /proc/self/status";
    for prefix in [&["pgrphack"][..], &["fghack"], &["envdir", "."]] {
        let outputs: Vec<String> = [ours(prefix[0]).to_string(), theirs(prefix[0])]
            .iter()
            .map(|prog| {
                let out = Command::new("sh")
                    .args(["-c", "trap '' HUP; exec \"$@\"", "sh", prog])
                    .args(&prefix[1..])
                    .args(["sh", "-c", show])
                    .current_dir(d.path())
                    .stdin(Stdio::null())
                    .output()
                    .expect("spawn");
                String::from_utf8_lossy(&out.stdout).into_owned()
            })
            .collect();
        assert_eq!(outputs[0], outputs[1], "{prefix:?} (left: ours)");
    }
}

#[test]
fn chain_loaders_leave_sigpipe_default() {
    if !have_daemontools() {
        return;
    }
    // Rust ignores SIGPIPE at startup; a chain-loader must not pass that
    // on (`yes | head` would then see EPIPE instead of dying).
    let d = tmp();
    let show = "grep -E '^Sig(Blk|Ign):' /proc/self/status";
    for prefix in [
        &["setuidgid", "root"][..],
        &["envuidgid", "root"],
        &["envdir", "."],
        &["softlimit", "-o", "99"],
        &["setlock", "f"],
        &["pgrphack"],
        &["fghack"],
    ] {
        let mut args: Vec<&str> = prefix[1..].to_vec();
        args.extend(["sh", "-c", show]);
        let s = same(prefix[0], &args, d.path());
        let ignored = s
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:\t"))
            .and_then(|m| u64::from_str_radix(m, 16).ok())
            .expect("SigIgn line");
        // SIGPIPE is 13: bit 12.
        assert_eq!(ignored & (1 << 12), 0, "{}", s.stdout);
    }
}
