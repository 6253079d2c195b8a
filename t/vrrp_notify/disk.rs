//! A full state dir (a small tmpfs mounted for the test) and a state dir
//! another user can reach (planted symlinks, other owners, writable by
//! others). Root only: they skip elsewhere, except with CI=true.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{
    eventually, hook_mode, lines, open_writer, setup, state_files, write_script, Reader, BIN,
};

const NOBODY: u32 = 65534;

/// A tmpfs mounted for the test, unmounted (lazily) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755")])
            .arg("tmpfs")
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the file system of `dir` up to the last byte.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    while f.write_all(&chunk[..1]).is_ok() {}
    filler
}

fn temp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".new"))
        .collect()
}

/// The state on disk: (state files, .current), which must agree.
fn consistent(state: &Path) -> Option<String> {
    let files = state_files(state, "keepalived_vrrp");
    let current = fs::read_to_string(state.join("keepalived_vrrp.current")).ok()?;
    let s = current.strip_suffix('\n')?;
    (files == [format!("keepalived_vrrp.{s}")]).then(|| s.to_string())
}

/// Run `cmd` to its end, killed (and then failing the test) after `limit`.
fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ended = eventually(limit, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(ended, "still running after {limit:?}: {cmd:?}");
    out
}

/// Hook mode with MASTER for VI_1, state files in `state`.
fn hook_mode_in(state: &Path, dir: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--state-dir")
        .arg(state)
        .arg("--hooks")
        .arg(dir.join("hooks"))
        .args(extra)
        .args(["INSTANCE", "VI_1", "MASTER", "1"]);
    c
}

#[test]
fn a_full_disk_leaves_the_old_state_or_the_new_never_a_mix() {
    if !crate::common::need_root("the full-disk test") {
        return;
    }
    let (_tmp, dir) = setup();
    let state = dir.join("state");
    let _fs = Tmpfs::mount(&state, "64k");
    let log = dir.join("hooks.log");
    for s in ["MASTER", "BACKUP", "FAULT"] {
        write_script(
            &dir.join("hooks").join(s),
            &format!("echo \"$3 $4\" >>{}", log.display()),
        );
    }
    let reader = Reader::start(&dir, &[]);
    let mut w = open_writer(&dir);
    w.write_all(b"INSTANCE \"VI_1\" MASTER 150\n").unwrap();
    assert!(eventually(Duration::from_secs(5), || lines(&log) == ["MASTER 150"]));
    // Its journal's "hooks done" too, before the disk fills (a reader
    // without a journal just goes on after this wait).
    let journal = state.join("keepalived_vrrp.event");
    let _ = eventually(Duration::from_secs(2), || {
        fs::read_to_string(&journal).is_ok_and(|j| j.contains("hooks=done"))
    });
    let filler = fill(&state);
    w.write_all(b"INSTANCE \"VI_1\" BACKUP 150\n").unwrap();
    assert!(
        eventually(Duration::from_secs(5), || reader
            .stderr()
            .contains("warning")),
        "no warning on a full disk"
    );
    // Retries happen every second meanwhile: watch the files through them.
    let watch_until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < watch_until {
        assert_eq!(consistent(&state).as_deref(), Some("MASTER"));
        std::thread::yield_now();
    }
    // A retry's temp file lives for an instant; none is left behind.
    assert!(
        eventually(Duration::from_secs(1), || temp_files(&state).is_empty()),
        "{:?}",
        temp_files(&state)
    );
    assert_eq!(
        lines(&log),
        ["MASTER 150"],
        "BACKUP's hooks ran without its state"
    );
    let err = reader.stderr();
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "reported once: {err}");
    assert!(
        warnings[0].contains("out of disk space: trying again every second"),
        "{err}"
    );
    fs::remove_file(&filler).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || consistent(&state).as_deref()
            == Some("BACKUP")
            && lines(&log) == ["MASTER 150", "BACKUP 150"]),
        "{}",
        reader.stderr()
    );
    // (The journal's "hooks done" is being written just now, maybe.)
    assert!(eventually(Duration::from_secs(1), || temp_files(&state).is_empty()));

    // The disk fills while a hook runs: its "hooks done" mark fails, then
    // the next event's files do; one report for both, both retried.
    let go = dir.join("go");
    write_script(
        &dir.join("hooks/STOP"),
        &format!(
            "echo \"$3 $4\" >>{}\nwhile [ ! -e {} ]; do sleep 0.01; done",
            log.display(),
            go.display()
        ),
    );
    w.write_all(b"INSTANCE \"VI_1\" STOP 150\n").unwrap();
    assert!(eventually(Duration::from_secs(5), || lines(&log).len() == 3));
    let filler = fill(&state);
    fs::write(&go, "").unwrap();
    assert!(eventually(Duration::from_secs(5), || reader
        .stderr()
        .lines()
        .filter(|l| l.contains("warning"))
        .count()
        == 2));
    w.write_all(b"INSTANCE \"VI_1\" MASTER 151\n").unwrap();
    let watch_until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < watch_until {
        assert_eq!(consistent(&state).as_deref(), Some("STOP"));
        std::thread::yield_now();
    }
    fs::remove_file(&filler).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || consistent(&state).as_deref()
            == Some("MASTER")
            && lines(&log).last().map(String::as_str) == Some("MASTER 151")
            && fs::read_to_string(&journal).is_ok_and(|j| j
                .contains("MASTER 151")
                && j.contains("hooks=done"))),
        "{}",
        reader.stderr()
    );
    let err = reader.stderr();
    assert_eq!(
        err.lines().filter(|l| l.contains("warning")).count(),
        2,
        "{err}"
    );
    assert!(eventually(Duration::from_secs(1), || temp_files(&state).is_empty()));
    drop(reader);

    // Hook mode: the same, retried while it waits.
    let filler = fill(&state);
    let mut child = hook_mode(&dir, &["INSTANCE", "VI_1", "FAULT", "150"], &[])
        .stderr(File::create(dir.join("hook.err")).unwrap())
        .spawn()
        .unwrap();
    let hook_err = || fs::read_to_string(dir.join("hook.err")).unwrap_or_default();
    assert!(eventually(Duration::from_secs(5), || hook_err().contains("warning")));
    assert_eq!(consistent(&state).as_deref(), Some("MASTER"));
    fs::remove_file(&filler).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", hook_err());
    assert_eq!(consistent(&state).as_deref(), Some("FAULT"));
    assert_eq!(
        lines(&log),
        [
            "MASTER 150",
            "BACKUP 150",
            "STOP 150",
            "MASTER 151",
            "FAULT 150"
        ]
    );
    assert_eq!(hook_err().matches("warning").count(), 1, "{}", hook_err());
    assert!(temp_files(&state).is_empty());
}

/// A state dir another user can write to, own or redirect is refused; in a
/// sticky shared one, a name another user planted (a symlink to a root
/// file) is never written through.
#[test]
fn planted_symlinks_and_foreign_state_dirs_are_refused() {
    if !crate::common::need_root("the planted-symlink test") {
        return;
    }
    let (_tmp, dir) = setup();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.join("hooks.log");
    write_script(
        &dir.join("hooks/MASTER"),
        &format!("echo \"$3 $4\" >>{}", log.display()),
    );
    let victim = dir.join("victim");
    fs::write(&victim, "precious\n").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();

    let writable = dir.join("writable");
    fs::create_dir(&writable).unwrap();
    fs::set_permissions(&writable, fs::Permissions::from_mode(0o777)).unwrap();
    let foreign = dir.join("foreign");
    fs::create_dir(&foreign).unwrap();
    lchown(&foreign, Some(NOBODY), Some(NOBODY)).unwrap();
    let redirected = dir.join("redirected");
    fs::create_dir(dir.join("rootdir")).unwrap();
    symlink(dir.join("rootdir"), &redirected).unwrap();
    lchown(&redirected, Some(NOBODY), Some(NOBODY)).unwrap();
    for (bad, why) in [
        (&writable, "a directory writable by others"),
        (&foreign, "a directory owned by another user"),
        (&redirected, "a symbolic link made by another user"),
    ] {
        // Fifo mode refuses to start; hook mode refuses the event.
        let fifo_out = output_within(
            Command::new(BIN)
                .arg("--fifo")
                .arg(dir.join("fifo"))
                .arg("--state-dir")
                .arg(bad)
                .arg("--hooks")
                .arg(dir.join("hooks")),
            Duration::from_secs(10),
        );
        let hook_out = hook_mode_in(bad, &dir, &["--hook-timeout", "1500ms"])
            .output()
            .unwrap();
        for out in [fifo_out, hook_out] {
            assert_eq!(out.status.code(), Some(111), "{bad:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                err.starts_with("vrrp-notify: fatal: ") && err.contains(why),
                "{bad:?}: {err}"
            );
        }
        assert!(lines(&log).is_empty(), "a hook ran: {bad:?}");
        assert_eq!(fs::read_dir(dir.join("rootdir")).unwrap().count(), 0);
    }

    // The fifo's name, a symlink another user planted (to a FIFO of root's
    // elsewhere): never opened through.
    let elsewhere = dir.join("rootdir/fifo");
    nix::unistd::mkfifo(&elsewhere, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let planted = dir.join("planted-fifo");
    symlink(&elsewhere, &planted).unwrap();
    lchown(&planted, Some(NOBODY), Some(NOBODY)).unwrap();
    let out = output_within(
        Command::new(BIN)
            .arg("--fifo")
            .arg(&planted)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--hooks")
            .arg(dir.join("hooks")),
        Duration::from_secs(10),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(111), "{err}");
    assert!(err.contains("a symbolic link"), "{err}");
    fs::remove_file(&elsewhere).unwrap();

    // Sticky and shared (as /run/lock): names another user planted are
    // left alone, and the event is not applied (nor its hooks run).
    let shared = dir.join("shared");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    for name in [
        "keepalived_vrrp.MASTER",
        "keepalived_vrrp.current",
        "keepalived_vrrp.event",
    ] {
        let p = shared.join(name);
        symlink(&victim, &p).unwrap();
        lchown(&p, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let out = hook_mode_in(&shared, &dir, &["--hook-timeout", "1500ms"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(111), "{err}");
    assert!(
        err.contains("a file of another user in a shared directory"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(lines(&log).is_empty(), "a hook ran without its state");
    assert!(temp_files(&shared).is_empty());
}
