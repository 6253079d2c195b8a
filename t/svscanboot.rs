//! svscanboot installed in a directory of its own: the services' PATH starts
//! with that directory (so its multilog and svc win over daemontools'
//! namesakes in /usr/bin), and SIGHUP makes svscan rescan, not stop.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{read_pid, signal, wait_for, write_exec, Signal};

const T: Duration = Duration::from_secs(20);

use common::TermOnDrop as Boot;

/// Copies of the programs svscanboot starts, in a bin dir of their own.
fn install(bin: &Path) {
    let built = Path::new(env!("CARGO_BIN_EXE_svscanboot"))
        .parent()
        .unwrap();
    fs::create_dir_all(bin).unwrap();
    for p in ["svscanboot", "svscan", "supervise", "readproctitle"] {
        fs::copy(built.join(p), bin.join(p)).unwrap();
    }
}

#[test]
fn own_directory_first_on_path_and_hup_rescans() {
    let tmp = tempfile::tempdir().unwrap();
    let bin: PathBuf = tmp.path().join("opt/upkeep/bin");
    install(&bin);
    let scan = tmp.path().join("service");
    fs::create_dir_all(scan.join("first")).unwrap();
    write_exec(
        &scan.join("first/run"),
        "#!/bin/sh\necho \"$PATH\" > path.out\nexec sleep 100\n",
    );
    let boot = Boot(
        Command::new(bin.join("svscanboot"))
            .arg(&scan)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let first = scan.join("first");
    wait_for("first up", T, || read_pid(&first) != 0);
    wait_for("PATH recorded", T, || {
        fs::read_to_string(first.join("path.out")).is_ok_and(|p| p.ends_with('\n'))
    });
    let path = fs::read_to_string(first.join("path.out")).unwrap();
    assert!(
        path.starts_with(&format!("{}:", bin.display())),
        "PATH is {path}"
    );
    assert!(path.contains(":/usr/bin:"), "PATH is {path}");

    // SIGHUP: passed to svscan, which rescans; nothing stops.
    let pid = read_pid(&first);
    signal(boot.0.id() as i32, Signal::SIGHUP);
    fs::create_dir_all(scan.join("second")).unwrap();
    write_exec(&scan.join("second/run"), "#!/bin/sh\nexec sleep 100\n");
    wait_for("second up", T, || read_pid(&scan.join("second")) != 0);
    assert_eq!(read_pid(&first), pid, "SIGHUP restarted or stopped first");
    assert!(common::alive(boot.0.id()), "svscanboot exited on SIGHUP");
}
