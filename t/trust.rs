//! supervise trusts nothing another user could change: the
//! service dir, supervise/ and every file run, finish, check and the
//! configuration; a regular file at supervise/control.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::started::Started;
use common::*;

const T: Duration = Duration::from_secs(10);
const SETUIDGID: &str = env!("CARGO_BIN_EXE_setuidgid");
const SVSCAN: &str = env!("CARGO_BIN_EXE_svscan");

fn need_root() -> bool {
    common::need_root("this test")
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn svstat(args: &[&str], dir: &Path) -> String {
    let out = Command::new(SVSTAT).args(args).arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_untrusted_dir_is_refused_before_anything_is_written() {
    let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 1101\n");
    chmod(&s.dir, 0o777);
    // A local user planted state.new (the old fixed temp name) and
    // supervise.new.
    let victim = s.tmp.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    chmod(&victim, 0o600);
    fs::create_dir(s.path("supervise")).unwrap();
    for name in ["state.new", "status.new", "state", "status"] {
        std::os::unix::fs::symlink(&victim, s.path("supervise").join(name)).unwrap();
    }
    let mut sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("the refusal", T, || sup.stderr().contains("refusing"));
    let err = sup.stderr();
    assert!(
        err.contains("the service directory is writable by others"),
        "{err}"
    );
    let long = svstat(&["-l"], &s.dir);
    assert!(
        long.contains("refused: the service directory is writable by others"),
        "{long}"
    );
    let json = svstat(&["--json"], &s.dir);
    assert!(
        json.contains("\"refused\":\"the service directory is writable by others\""),
        "{json}"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let names: Vec<_> = fs::read_dir(s.path("supervise")).unwrap().collect();
    assert_eq!(names.len(), 4, "nothing created in supervise/");
    assert!(s.read("starts").is_empty());
    // Fixed: it goes on by itself, the planted links replaced, not followed.
    chmod(&s.dir, 0o755);
    wait_for("started once fixed", T, || !s.read("starts").is_empty());
    wait_for("status written", T, || s.pid() != 0);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(
        sup.stderr().matches("refusing").count(),
        1,
        "{}",
        sup.stderr()
    );
    // Stopping works as ever.
    s.send("dx");
    assert!(sup.wait_exit(T).is_some_and(|st| st.success()));
}

#[test]
fn finish_check_and_config_files_are_checked_too() {
    for (file, mode, why) in [
        ("finish", 0o777, "finish is writable by others"),
        ("check", 0o757, "check is writable by others"),
        ("timeout-kill", 0o666, "timeout-kill is writable by others"),
        ("down-signal", 0o664, "down-signal is writable by its group"),
    ] {
        let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 1102\n");
        write_exec(&s.path(file), "#!/bin/sh\nexit 0\n");
        if !file.ends_with("ish") && file != "check" {
            fs::write(s.path(file), "TERM\n").unwrap();
        }
        chmod(&s.path(file), mode);
        if why.ends_with("its group") {
            // Not the owner's private group (root's own group would be
            // fine: nobody else is in it). Only root can give it away.
            if !nix::unistd::Uid::effective().is_root() {
                continue;
            }
            nix::unistd::chown(&s.path(file), None, Some(nix::unistd::Gid::from_raw(2))).unwrap();
        }
        fs::write(s.path("backoff"), "20ms 50ms").unwrap();
        let _sup = s.supervise();
        wait_for("refusals", T, || {
            s.state_field("fast_failures").parse::<u32>().unwrap_or(0) >= 2
        });
        assert!(s.read("starts").is_empty(), "{file}: run was started");
        let long = svstat(&["-l"], &s.dir);
        assert!(long.contains(&format!("refused: {why}")), "{file}: {long}");
        let json = svstat(&["--json"], &s.dir);
        assert!(
            json.contains(&format!("\"refused\":\"{why}\"")),
            "{file}: {json}"
        );
        chmod(&s.path(file), 0o755);
        wait_for("runs once fixed", T, || !s.read("starts").is_empty());
        wait_for("refusal cleared", T, || s.state_field("refused").is_empty());
    }
}

#[test]
fn a_link_out_of_the_dir_is_judged_all_the_way() {
    // check -> a file of root's, in a directory anyone can write: anyone
    // could put another file in its place.
    let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 1105\n");
    let open = s.tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    write_exec(&open.join("check"), "#!/bin/sh\nexit 0\n");
    chmod(&open, 0o777);
    std::os::unix::fs::symlink(open.join("check"), s.path("check")).unwrap();
    fs::write(s.path("backoff"), "20ms 50ms").unwrap();
    let _sup = s.supervise();
    wait_for("refusals", T, || {
        s.state_field("fast_failures").parse::<u32>().unwrap_or(0) >= 2
    });
    assert!(s.read("starts").is_empty());
    let long = svstat(&["-l"], &s.dir);
    assert!(long.contains("refused: check leads through "), "{long}");
    chmod(&open, 0o755);
    wait_for("runs once fixed", T, || !s.read("starts").is_empty());
}

#[test]
fn supervise_dir_must_be_private_but_may_be_roots_symlink() {
    // Sticky and writable by all: usable for runtime files in general, but
    // not as supervise/, where another user could plant the FIFOs.
    let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 1103\n");
    fs::create_dir(s.path("supervise")).unwrap();
    chmod(&s.path("supervise"), 0o1777);
    let sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("the refusal", T, || sup.stderr().contains("refusing"));
    assert!(
        sup.stderr().contains("supervise is writable by others"),
        "{}",
        sup.stderr()
    );
    assert_eq!(fs::read_dir(s.path("supervise")).unwrap().count(), 0);
    drop(sup);
    // A symlink into a tmpfs made by root (or by us), as runit's packaging
    // does for read-only roots, works.
    fs::remove_dir(s.path("supervise")).unwrap();
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm } else { s.tmp.path() };
    let target = tempfile::tempdir_in(base).unwrap();
    chmod(target.path(), 0o755);
    std::os::unix::fs::symlink(target.path(), s.path("supervise")).unwrap();
    let _sup = s.supervise();
    wait_for("up", T, || s.read("starts").lines().count() == 1);
    assert!(target.path().join("status").exists());
}

#[test]
fn a_fix_on_the_way_to_supervise_s_target_is_noticed() {
    // supervise -> open/sup, where open/ is writable by all: refused until
    // open/ is fixed, a change no watch on the service dir sees.
    let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 1115\n");
    let open = s.tmp.path().join("open");
    fs::create_dir_all(open.join("sup")).unwrap();
    chmod(&open, 0o777);
    std::os::unix::fs::symlink(open.join("sup"), s.path("supervise")).unwrap();
    let _sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("the refusal", T, || {
        svstat(&["-l"], &s.dir).contains("refused: supervise leads through")
    });
    assert!(s.read("starts").is_empty());
    chmod(&open, 0o755);
    wait_for("started once fixed", T, || !s.read("starts").is_empty());
}

#[test]
fn a_users_own_dir_works_for_that_user_and_is_refused_to_root() {
    if !need_root() {
        return;
    }
    let user = "games";
    let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 1104\n");
    chmod(s.tmp.path(), 0o755);
    let chown = Command::new("chown")
        .args(["-R", &format!("{user}:")])
        .arg(&s.dir)
        .status()
        .unwrap();
    assert!(chown.success());
    // Root will not run what another user can change.
    let root_sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("the refusal", T, || root_sup.stderr().contains("refusing"));
    assert!(
        root_sup
            .stderr()
            .contains("the service directory is owned by another user"),
        "{}",
        root_sup.stderr()
    );
    assert!(!s.path("supervise").exists());
    drop(root_sup);
    // The user's own supervise (as under their own svscan) runs it.
    let mut cmd = Command::new(SETUIDGID);
    cmd.args([user, SUPERVISE]).arg(&s.dir);
    let mut own = Started::spawn(&mut cmd, s.tmp.path(), Some(&s.dir));
    wait_for("up as the user", T, || {
        s.read("starts").lines().count() == 1
    });
    s.send("dx");
    assert!(own.wait_exit(T).is_some_and(|st| st.success()));
    // And under the user's own svscan, over a scan dir of theirs.
    let scan = tempfile::tempdir().unwrap();
    chmod(scan.path(), 0o755);
    fs::rename(&s.dir, scan.path().join("svc")).unwrap();
    let dir = scan.path().join("svc");
    let chown = Command::new("chown")
        .arg(format!("{user}:"))
        .arg(scan.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let mut cmd = Command::new(SETUIDGID);
    cmd.args([user, SVSCAN]).arg(scan.path());
    let _cleanup = common::marked::KillIn(scan.path().to_path_buf());
    let _svscan = Started::spawn(&mut cmd, s.tmp.path(), Some(&dir));
    wait_for("up under the user's svscan", T, || {
        fs::read_to_string(dir.join("starts"))
            .unwrap_or_default()
            .lines()
            .count()
            == 2
    });
}

/// With a umask of 002 (Debian's user private groups) a user's files are
/// group-writable; when the group is the user's own, named after it and
/// with no other member, nobody else can write them and the dir is fine.
/// Any other group's write bit is still refused.
#[test]
fn a_users_private_group_may_write_another_group_may_not() {
    if !need_root() {
        return;
    }
    // Debian's daemon: uid 1, primary group daemon (1) with no members.
    let user = "daemon";
    for (group, trusted) in [("daemon", true), ("bin", false)] {
        let s = Service::new("#!/bin/sh\necho x >> starts\nexec sleep 1105\n");
        chmod(s.tmp.path(), 0o755);
        let chown = Command::new("chown")
            .args(["-R", &format!("{user}:{group}")])
            .arg(&s.dir)
            .status()
            .unwrap();
        assert!(chown.success());
        chmod(&s.dir, 0o775);
        chmod(&s.path("run"), 0o775);
        let mut cmd = Command::new(SETUIDGID);
        cmd.args([user, SUPERVISE]).arg(&s.dir);
        let own = Started::spawn(&mut cmd, s.tmp.path(), Some(&s.dir));
        if trusted {
            wait_for("up with a private group's write bit", T, || {
                s.read("starts").lines().count() == 1
            });
        } else {
            wait_for("the refusal", T, || own.stderr().contains("refusing"));
            assert!(
                own.stderr().contains("writable by its group"),
                "{}",
                own.stderr()
            );
            assert!(!s.path("starts").exists());
        }
    }
}

// ---- supervise/control ------------------------------------------------------

fn cpu_ticks(pid: i32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime: fields 14 and 15, indexes 11 and 12 after ')'.
    let f = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    f(11) + f(12)
}

#[test]
fn a_regular_file_at_control_is_replaced_by_a_fifo() {
    let s = Service::new("#!/bin/sh\nexec sleep 1107\n");
    fs::create_dir(s.path("supervise")).unwrap();
    // `echo d > supervise/control` while the FIFO was missing.
    fs::write(s.path("supervise/control"), "d\n").unwrap();
    let sup = Started::supervise(&s.dir, s.tmp.path());
    wait_for("up", T, || s.pid() != 0);
    let ft = fs::metadata(s.path("supervise/control"))
        .unwrap()
        .file_type();
    assert!(ft.is_fifo(), "supervise/control is not a FIFO");
    assert!(
        sup.stderr().contains("replaced by a FIFO"),
        "{}",
        sup.stderr()
    );
    // A spinning supervise burns a tick every 10 ms: it gets a second.
    let before = cpu_ticks(sup.pid());
    let start = Instant::now();
    wait_for("a second", T, || start.elapsed() > Duration::from_secs(1));
    let used = cpu_ticks(sup.pid()) - before;
    assert!(
        used < 30,
        "supervise used {used} ticks in a second: spinning"
    );
    let out = s.svc(&["-d", "-wd", "-T", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn svstat_is_not_hung_by_a_fifo_planted_as_status_or_state() {
    // Another user's dir: ok has a reader (theirs), status and state are
    // FIFOs nobody writes. Root's svstat must answer all the same.
    let s = Service::new("#!/bin/sh\nexec sleep 1114\n");
    fs::create_dir(s.path("supervise")).unwrap();
    for f in ["ok", "status", "state"] {
        nix::unistd::mkfifo(
            &s.path("supervise").join(f),
            nix::sys::stat::Mode::from_bits_truncate(0o666),
        )
        .unwrap();
    }
    use std::os::unix::fs::OpenOptionsExt;
    let _reader = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(s.path("supervise/ok"))
        .unwrap();
    for args in [&[][..], &["-l"][..], &["--json"][..]] {
        let mut cmd = Command::new(SVSTAT);
        cmd.args(args).arg(&s.dir);
        let mut run = Started::spawn(&mut cmd, s.tmp.path(), None);
        let status = run.wait_exit(T);
        assert!(
            status.is_some_and(|st| st.success()),
            "svstat {args:?} hung"
        );
    }
}
