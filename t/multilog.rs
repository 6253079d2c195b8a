//! multilog against Debian's daemontools multilog: the same input and
//! script must leave the same files (names with timestamps masked, modes,
//! contents), the same alerts on stderr and the same status files. Then the
//! things only a live process shows: SIGALRM, SIGTERM, locking, and a full
//! disk that must not lose a line.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::wait_for;

const OURS: &str = env!("CARGO_BIN_EXE_multilog");
const DAEMONTOOLS: &str = "/usr/bin/multilog";

/// Debian's multilog, or None (and why) when the test may skip.
fn daemontools() -> Option<&'static str> {
    if Path::new(DAEMONTOOLS).exists() {
        return Some(DAEMONTOOLS);
    }
    common::skip(&format!(
        "{DAEMONTOOLS} missing (apt-get install daemontools)"
    ));
    None
}

/// Replace every `@` + 24 hex digits with `@TS` (timestamps differ).
fn mask(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'@'
            && bytes.len() >= i + 25
            && bytes[i + 1..i + 25]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        {
            out.extend_from_slice(b"@TS");
            i += 25;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// A log directory as comparable data: old files renamed by age
/// (`@0.s`, `@1.u`, ...), then every other file, with mode and contents.
fn snapshot(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut out = BTreeMap::new();
    let mut old = 0;
    for name in names {
        let path = dir.join(&name);
        let meta = fs::metadata(&path).unwrap();
        let key = if name.starts_with('@') && name.len() == 27 {
            old += 1;
            format!("@{}{}", old - 1, &name[25..])
        } else {
            name
        };
        out.insert(
            key,
            (
                meta.permissions().mode() & 0o7777,
                mask(&fs::read(&path).unwrap()),
            ),
        );
    }
    out
}

struct Outcome {
    code: Option<i32>,
    stderr: Vec<u8>,
}

/// Run `bin script...` in `cwd` with `input` on stdin (a regular file, so
/// both programs see the same read sizes).
fn run(bin: &str, cwd: &Path, script: &[&str], input: &[u8]) -> Outcome {
    let mut stdin = tempfile::tempfile().unwrap();
    stdin.write_all(input).unwrap();
    stdin.seek(std::io::SeekFrom::Start(0)).unwrap();
    let out = Command::new(bin)
        .args(script)
        .current_dir(cwd)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    Outcome {
        code: out.status.code(),
        stderr: out.stderr,
    }
}

/// Two fresh working directories, `theirs` and `ours`.
fn pair() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let top = tempfile::tempdir().unwrap();
    let theirs = top.path().join("theirs");
    let ours = top.path().join("ours");
    fs::create_dir(&theirs).unwrap();
    fs::create_dir(&ours).unwrap();
    (top, theirs, ours)
}

/// Run both with the same script and input (possibly several times in the
/// same place), then compare every named file or directory.
fn differential(script: &[&str], inputs: &[&[u8]], compare: &[&str]) {
    let Some(dt) = daemontools() else { return };
    let (_top, theirs, ours) = pair();
    for input in inputs {
        let a = run(dt, &theirs, script, input);
        let b = run(OURS, &ours, script, input);
        assert_eq!(b.code, a.code, "exit code for {script:?}");
        assert_eq!(
            String::from_utf8_lossy(&mask(&b.stderr)),
            String::from_utf8_lossy(&mask(&a.stderr)),
            "stderr for {script:?}"
        );
    }
    for name in compare {
        let (a, b) = (theirs.join(name), ours.join(name));
        if a.is_dir() {
            let (sa, sb) = (snapshot(&a), snapshot(&b));
            assert_eq!(
                sb.keys().collect::<Vec<_>>(),
                sa.keys().collect::<Vec<_>>(),
                "file set of {name} for {script:?}"
            );
            for (k, va) in &sa {
                let vb = &sb[k];
                assert_eq!(vb.0, va.0, "mode of {name}/{k} for {script:?}");
                assert!(vb.1 == va.1, "contents of {name}/{k} differ for {script:?}");
            }
        } else {
            let ma = fs::metadata(&a).unwrap().permissions().mode() & 0o7777;
            let mb = fs::metadata(&b).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mb, ma, "mode of {name}");
            assert!(
                mask(&fs::read(&b).unwrap()) == mask(&fs::read(&a).unwrap()),
                "{name} differs"
            );
        }
    }
}

fn numbered(n: usize, text: &str) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("{i} {text}\n").into_bytes())
        .collect()
}

#[test]
fn plain_log_alert_status_and_partial_line() {
    differential(
        &["e", "=status", "./log"],
        &[b"hello\nworld\n\npartial"],
        &["log", "status"],
    );
}

#[test]
fn rotation_with_small_size_and_pruning() {
    let input = numbered(20000, "some log text here");
    differential(&["s4096", "n5", "./log"], &[&input], &["log"]);
    // Sizes out of range are clamped as daemontools clamps them.
    differential(
        &["s10", "n0", "./log", "s99999999", "./big"],
        &[&input],
        &["log", "big"],
    );
}

#[test]
fn every_rotated_file_ends_where_daemontools_ends_it() {
    // Lines of many lengths, some longer than the 1000-byte line buffer,
    // over many reads: each rotated file must match daemontools' exactly.
    let mut input = Vec::new();
    for i in 0..6000usize {
        let len = (i * 37) % 1500;
        input.extend_from_slice(format!("{i} ").as_bytes());
        input.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
        input.push(b'\n');
    }
    differential(&["s4096", "n1000", "./log"], &[&input], &["log"]);
    differential(&["s100000", "n1000", "./log"], &[&input], &["log"]);
}

#[test]
fn timestamps_and_patterns() {
    let input = b"fatal: out of memory\ninfo: fine\nSTAT 1\nnamed[135]: Cleaned cache of 3121 RRs\nSTAT 2\n";
    differential(
        &[
            "t",
            "-*",
            "+* fatal: *",
            "./main",
            "+*",
            "-*named*Cleaned*",
            "./all",
            "e",
            "-*",
            "+* STAT*",
            "=status",
        ],
        &[input],
        &["main", "all", "status"],
    );
    // `t` anywhere but first is ignored; unknown actions too.
    differential(&["e", "t", "x", "./log"], &[b"a\nb\n"], &["log"]);
}

#[test]
fn long_lines_cut_for_alerts_and_status_but_logged_whole() {
    let mut input = Vec::new();
    for len in [
        150usize, 199, 200, 201, 974, 975, 999, 1000, 1001, 3000, 20000,
    ] {
        input.extend(std::iter::repeat_n(b'x', len));
        input.push(b'\n');
    }
    input.extend(std::iter::repeat_n(b'y', 1500)); // partial, over the cap
    differential(
        &["e", "=status", "s4096", "./log"],
        &[&input],
        &["log", "status"],
    );
    differential(
        &["t", "e", "=status", "+*", "./log"],
        &[&input],
        &["log", "status"],
    );
}

#[test]
fn processor_output_becomes_the_old_file_and_state_carries_over() {
    let input = numbered(3000, "text for the processor");
    differential(
        &[
            "s4096",
            "n4",
            "!tr a-z A-Z; cat <&4 >&5; echo rotated >&5",
            "./log",
        ],
        &[&input],
        &["log"],
    );
}

#[test]
fn restart_continues_clean_current_and_recovers_unclean_one() {
    let Some(dt) = daemontools() else { return };
    // Clean restart: the same directory used twice.
    differential(
        &["s4096", "./log"],
        &[b"one\n", b"two\n", &numbered(300, "x")],
        &["log"],
    );
    // Unclean: `current` left with mode 0644 (as after a crash) becomes an
    // `.u` file; so does a leftover `previous`.
    let (_top, theirs, ours) = pair();
    for (bin, cwd) in [(dt, &theirs), (OURS, &ours)] {
        let log = cwd.join("log");
        fs::create_dir(&log).unwrap();
        fs::write(log.join("current"), "crashed\n").unwrap();
        fs::set_permissions(log.join("current"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(log.join("previous"), "half rotated\n").unwrap();
        fs::write(log.join("newstate"), "junk").unwrap();
        let o = run(bin, cwd, &["./log"], b"after\n");
        assert_eq!(o.code, Some(0));
    }
    assert_eq!(snapshot(&ours.join("log")), snapshot(&theirs.join("log")));
    assert!(snapshot(&ours.join("log")).contains_key("@1.u"));
    // A processor that finished (`processed` mode 0744) before the crash:
    // its output becomes the `.s` file and `previous` goes.
    let (_top, theirs, ours) = pair();
    for (bin, cwd) in [(dt, &theirs), (OURS, &ours)] {
        let log = cwd.join("log");
        fs::create_dir(&log).unwrap();
        fs::write(log.join("current"), "crashed\n").unwrap();
        fs::set_permissions(log.join("current"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(log.join("previous"), "raw\n").unwrap();
        fs::write(log.join("processed"), "RAW\n").unwrap();
        fs::set_permissions(log.join("processed"), fs::Permissions::from_mode(0o744)).unwrap();
        let o = run(bin, cwd, &["./log"], b"after\n");
        assert_eq!(o.code, Some(0));
    }
    let snap = snapshot(&ours.join("log"));
    assert_eq!(snap, snapshot(&theirs.join("log")));
    assert_eq!(snap["@0.s"].1, b"RAW\n");
    assert_eq!(snap["@1.u"].1, b"crashed\n");
}

#[test]
fn several_directories_and_no_actions() {
    let input = numbered(2000, "multi");
    differential(
        &[
            "s5000",
            "n3",
            "./a",
            "-*1*",
            "s4096",
            "n2",
            "./b",
            "+*7*",
            "/dev/null/../x",
        ],
        &[&input],
        &["a", "b"],
    );
    differential(&[], &[b"nothing\nat all\n"], &[]);
}

#[test]
fn errors_match_daemontools() {
    let Some(dt) = daemontools() else { return };
    let (_top, theirs, ours) = pair();
    for cwd in [&theirs, &ours] {
        fs::write(cwd.join("file"), "").unwrap();
    }
    for script in [&["./file"][..], &["=nodir/status"][..], &["./file/sub"][..]] {
        let a = run(dt, &theirs, script, b"x\n");
        let b = run(OURS, &ours, script, b"x\n");
        assert_eq!(b.code, a.code, "{script:?}");
        assert_eq!(
            String::from_utf8_lossy(&b.stderr),
            String::from_utf8_lossy(&a.stderr),
            "{script:?}"
        );
    }
}

/// A running multilog fed through a pipe we control.
struct Live {
    child: Child,
    input: Option<fs::File>,
}

fn start(bin: &str, cwd: &Path, script: &[&str]) -> Live {
    let mut child = Command::new(bin)
        .args(script)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = child
        .stdin
        .take()
        .map(|s| fs::File::from(std::os::fd::OwnedFd::from(s)));
    Live { child, input }
}

impl Live {
    fn write(&mut self, data: &[u8]) {
        self.input.as_mut().unwrap().write_all(data).unwrap();
    }
    fn signal(&self, sig: i32) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::try_from(sig).unwrap(),
        )
        .unwrap();
    }
    fn finish(mut self) -> (Option<i32>, String) {
        drop(self.input.take());
        let out = self.child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn old_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with('@'))
        .collect();
    v.sort();
    v
}

#[test]
fn sigalrm_rotates_now_and_a_clean_exit_marks_current() {
    let top = tempfile::tempdir().unwrap();
    let log = top.path().join("log");
    let mut ml = start(OURS, top.path(), &["./log"]);
    ml.write(b"first\n");
    wait_for("first line", Duration::from_secs(5), || {
        read(&log.join("current")) == "first\n"
    });
    assert_eq!(
        fs::metadata(log.join("current"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o644
    );
    ml.signal(libc::SIGALRM);
    wait_for("rotation", Duration::from_secs(5), || {
        old_files(&log).len() == 1
    });
    let old = &old_files(&log)[0];
    assert!(old.to_string_lossy().ends_with(".s"));
    assert_eq!(read(old), "first\n");
    assert_eq!(
        fs::metadata(old).unwrap().permissions().mode() & 0o777,
        0o744
    );
    // An empty current is not rotated.
    wait_for("new current", Duration::from_secs(5), || {
        log.join("current").exists()
    });
    ml.signal(libc::SIGALRM);
    ml.write(b"second\n");
    wait_for("second line", Duration::from_secs(5), || {
        read(&log.join("current")) == "second\n"
    });
    assert_eq!(old_files(&log).len(), 1);
    let (code, err) = ml.finish();
    assert_eq!((code, err.as_str()), (Some(0), ""));
    assert_eq!(
        fs::metadata(log.join("current"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o744
    );
}

#[test]
fn sigterm_finishes_the_line_and_leaves_the_rest_unread() {
    let top = tempfile::tempdir().unwrap();
    let log = top.path().join("log");
    let (reader, writer) = nix::unistd::pipe().unwrap();
    // Keep a copy of the read end to see what multilog left in the pipe.
    let spare = reader.try_clone().unwrap();
    let child = Command::new(OURS)
        .arg("./log")
        .current_dir(top.path())
        .stdin(Stdio::from(reader))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ml = Live {
        child,
        input: Some(fs::File::from(writer)),
    };
    ml.write(b"whole\npart");
    wait_for("first line", Duration::from_secs(5), || {
        read(&log.join("current")) == "whole\n"
    });
    ml.signal(libc::SIGTERM);
    // Still waiting for the end of the line.
    std::thread::sleep(Duration::from_millis(100));
    assert!(ml.child.try_wait().unwrap().is_none(), "exited mid-line");
    ml.write(b"ial\nnot read\n");
    let status = ml.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(read(&log.join("current")), "whole\npartial\n");
    nix::fcntl::fcntl(
        &spare,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut rest = [0u8; 64];
    let n = nix::unistd::read(&spare, &mut rest).unwrap();
    assert_eq!(&rest[..n], b"not read\n");
}

#[test]
fn a_locked_directory_is_refused_like_daemontools() {
    let Some(dt) = daemontools() else { return };
    // Each holds the lock while the other tries.
    for (holder, other) in [(dt, OURS), (OURS, dt), (OURS, OURS)] {
        let top = tempfile::tempdir().unwrap();
        let log = top.path().join("log");
        let ml = start(holder, top.path(), &["./log"]);
        // `current` is made after the lock is taken.
        wait_for("lock", Duration::from_secs(5), || {
            log.join("current").exists()
        });
        let o = run(other, top.path(), &["./log"], b"x\n");
        assert_eq!(o.code, Some(111));
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "multilog: fatal: unable to lock directory ./log: temporary failure\n"
        );
        assert_eq!(ml.finish().0, Some(0));
    }
}

/// Mount a small tmpfs, fill it, and feed numbered lines: multilog must
/// pause (saying so once), stop reading, and after space is freed deliver
/// every line in order.
#[test]
fn full_disk_pauses_without_losing_a_line() {
    if !common::need_root("the disk-full test (a tmpfs mount)") {
        return;
    }
    let top = tempfile::tempdir().unwrap();
    let mnt = top.path().join("mnt");
    fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount tmpfs failed");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let log = mnt.join("log");
    let mut ml = start(OURS, &mnt, &["s4096", "n100", "./log"]);
    wait_for("start", Duration::from_secs(5), || {
        log.join("state").exists()
    });
    // Fill the disk.
    let filler = mnt.join("filler");
    {
        let mut f = fs::File::create(&filler).unwrap();
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
    }
    // Less than the disk holds, more than the pipe holds.
    let lines = 1000;
    let input = numbered(lines, "line that must not be lost");
    // Feed from a thread: the pipe fills and the writer blocks while the
    // disk is full.
    let mut pipe = ml.input.take().unwrap();
    nix::fcntl::fcntl(&pipe, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
    let feeder = std::thread::spawn(move || {
        pipe.write_all(&input).unwrap();
    });
    let mut stderr = ml.child.stderr.take().unwrap();
    let mut err = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&err).contains("out of disk space") {
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&stderr),
            nix::poll::PollFlags::POLLIN,
        )];
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10_000u16)).unwrap();
        assert!(ready > 0, "no full-disk warning within 10s");
        let n = stderr.read(&mut buf).unwrap();
        assert!(n > 0, "multilog ended without reporting the full disk");
        err.extend_from_slice(&buf[..n]);
    }
    assert!(!feeder.is_finished(), "input was not held back");
    fs::remove_file(&filler).unwrap();
    feeder.join().unwrap();
    let (code, _) = ml.finish();
    assert_eq!(code, Some(0));
    stderr.read_to_end(&mut err).unwrap();
    let all = String::from_utf8_lossy(&err).into_owned();
    assert_eq!(
        all.matches("out of disk space").count(),
        1,
        "warned more than once per streak: {all}"
    );
    assert!(
        all.starts_with(
            "multilog: warning: unable to write to ./log/current, pausing: out of disk space\n"
        ),
        "{all:?}"
    );
    let mut got = String::new();
    for f in old_files(&log) {
        got.push_str(&read(&f));
    }
    got.push_str(&read(&log.join("current")));
    let want = String::from_utf8(numbered(lines, "line that must not be lost")).unwrap();
    assert!(
        got == want,
        "lines lost or reordered ({} of {} bytes)",
        got.len(),
        want.len()
    );
}

#[test]
fn a_failing_processor_is_retried_without_losing_the_file() {
    let top = tempfile::tempdir().unwrap();
    let log = top.path().join("log");
    // Fails the first time (its cwd is the log directory), then works.
    let script = [
        "s4096",
        "!if test -e ../failed; then tr a-z A-Z; else touch ../failed; exit 3; fi",
        "./log",
    ];
    let input = numbered(600, "abc");
    let o = run(OURS, top.path(), &script, &input);
    assert_eq!(o.code, Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "multilog: warning: processor failed in ./log, pausing\n"
    );
    let current = read(&log.join("current"));
    let mut got = String::new();
    for f in old_files(&log) {
        assert!(f.to_string_lossy().ends_with(".s"));
        got.push_str(&read(&f));
    }
    let want = String::from_utf8(input).unwrap();
    assert!(!got.is_empty());
    assert_eq!(got, want[..got.len()].to_uppercase());
    assert_eq!(current, want[got.len()..]);
    assert!(!log.join("previous").exists() && !log.join("processed").exists());
}

/// A multilog whose log directory is renamed while it runs keeps rotating,
/// pruning and running its processor in the renamed directory (daemontools
/// works through the directory's descriptor, never its name), and ends
/// cleanly.
#[test]
fn a_renamed_log_dir_keeps_rotating_and_pruning() {
    let mut bins = vec![OURS];
    bins.extend(daemontools());
    let plain: &[&str] = &["s4096", "n3", "./log"];
    // The processor proves where it ran: a file in its working directory.
    let processed: &[&str] = &["s4096", "n3", "!touch ran-here; cat", "./log"];
    for bin in bins {
        for script in [plain, processed] {
            renamed_log_dir(bin, script);
        }
    }
}

fn renamed_log_dir(bin: &str, script: &[&str]) {
    let top = tempfile::tempdir().unwrap();
    let log = top.path().join("log");
    let moved = top.path().join("moved");
    let ml = start(bin, top.path(), script);
    // A stalled multilog would never exit: kill it whatever happens.
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            let pid = nix::unistd::Pid::from_raw(self.0);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
    let _kill = Kill(ml.child.id() as i32);
    let mut ml = ml;
    ml.write(b"before the rename\n");
    wait_for("first line", Duration::from_secs(5), || {
        read(&log.join("current")) == "before the rename\n"
    });
    fs::rename(&log, &moved).unwrap();
    // About 25 files' worth: many rotations, each followed by pruning.
    let input = numbered(5000, "after the rename");
    ml.write(&input);
    drop(ml.input.take());
    let what = format!("{bin} {script:?}");
    wait_for(&format!("{what} to exit"), Duration::from_secs(10), || {
        ml.child.try_wait().unwrap().is_some()
    });
    let (code, err) = ml.finish();
    assert_eq!((code, err.as_str()), (Some(0), ""), "{what}");
    assert!(!log.exists(), "{what} made a new {}", log.display());
    let old = old_files(&moved);
    assert_eq!(old.len(), 2, "{what}: n3 keeps two old files: {old:?}");
    let mut kept: Vec<u8> = old.iter().flat_map(|p| fs::read(p).unwrap()).collect();
    kept.extend(fs::read(moved.join("current")).unwrap());
    let cut = input.len() - kept.len();
    assert!(
        input.ends_with(&kept) && input[cut - 1] == b'\n',
        "{what}: the files hold the input's last lines"
    );
    if script.len() == 4 {
        assert!(moved.join("ran-here").exists(), "{what}: processor's cwd");
    }
}
