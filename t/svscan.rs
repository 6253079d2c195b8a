//! svscan: services appear, disappear, hide behind dot names, get a log/
//! later; the log pipe survives restarts; SIGTERM stops everything; idle
//! means asleep.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const SVSCAN: &str = env!("CARGO_BIN_EXE_svscan");
const T: Duration = Duration::from_secs(10);

struct Scan {
    tmp: tempfile::TempDir,
    child: Option<Child>,
}

impl Scan {
    fn new() -> Scan {
        Scan {
            tmp: tempfile::tempdir().unwrap(),
            child: None,
        }
    }
    fn root(&self) -> &Path {
        self.tmp.path()
    }
    fn dir(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }
    fn add(&self, name: &str, run: &str) {
        let d = self.dir(name);
        fs::create_dir_all(&d).unwrap();
        write_exec(&d.join("run"), run);
    }
    fn start(&mut self) {
        let child = Command::new(SVSCAN)
            .arg(self.root())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }
    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
    fn up(&self, name: &str) -> bool {
        up(&self.dir(name))
    }
    fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        signal(child.id() as i32, Signal::SIGTERM);
        exited(&mut child, T).expect("svscan did not exit").code()
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
    }
}

const SLEEPER: &str = "#!/bin/sh\nexec sleep 100\n";

#[test]
fn services_appear_disappear_and_hide() {
    let mut scan = Scan::new();
    scan.add("early", SLEEPER);
    scan.start();
    wait_for("early up", T, || scan.up("early"));
    scan.add("late", SLEEPER);
    wait_for(
        "late up (inotify, no polling)",
        Duration::from_secs(2),
        || scan.up("late"),
    );
    let late_pid = read_pid(&scan.dir("late"));
    fs::rename(scan.dir("late"), scan.dir(".late")).unwrap();
    wait_for("hidden service stopped", T, || !alive(late_pid));
    wait_for("its supervise gone", T, || {
        !Command::new(SVOK)
            .arg(scan.dir(".late"))
            .status()
            .unwrap()
            .success()
    });
    let early_pid = read_pid(&scan.dir("early"));
    fs::remove_dir_all(scan.dir("early")).unwrap();
    wait_for("removed service stopped", T, || !alive(early_pid));
    // A rename between visible names keeps the same service running.
    scan.add("third", SLEEPER);
    wait_for("third up", T, || scan.up("third"));
    let third_pid = read_pid(&scan.dir("third"));
    fs::rename(scan.dir("third"), scan.dir("renamed")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(third_pid));
    assert_eq!(read_pid(&scan.dir("renamed")), third_pid);
    assert_eq!(scan.stop(), Some(0));
    assert!(!alive(third_pid));
}

#[test]
fn a_dead_supervise_is_restarted() {
    let mut scan = Scan::new();
    scan.add("s", SLEEPER);
    scan.start();
    wait_for("up", T, || scan.up("s"));
    let out = Command::new("pgrep")
        .args(["-P", &scan.pid().to_string()])
        .output()
        .unwrap();
    let sup: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(sup.len(), 1);
    // Stop it cleanly (TERM = dx): svscan must bring supervise and service back.
    signal(sup[0].parse().unwrap(), Signal::SIGTERM);
    wait_for("supervise back and service up", T, || {
        let out = Command::new("pgrep")
            .args(["-P", &scan.pid().to_string()])
            .output()
            .unwrap();
        let now = String::from_utf8_lossy(&out.stdout).trim().to_string();
        !now.is_empty() && now != sup[0] && scan.up("s")
    });
}

#[test]
fn log_pipe_loses_nothing_across_restarts() {
    let mut scan = Scan::new();
    scan.add("w", "#!/bin/sh\nn=$(cat next 2>/dev/null || echo 1)\nwhile [ $n -le 3000 ]; do echo $n; n=$((n+1)); echo $n > next; [ $((n % 100)) = 0 ] && sleep 0.01; done\nexec sleep 100\n");
    fs::create_dir(scan.dir("w/log")).unwrap();
    write_exec(
        &scan.dir("w/log/run"),
        &format!(
            "#!/bin/sh\nexec {} s16777215 ./main\n",
            env!("CARGO_BIN_EXE_multilog")
        ),
    );
    scan.start();
    wait_for("both up", T, || scan.up("w") && scan.up("w/log"));
    let logger = scan.dir("w/log");
    for _ in 0..3 {
        let pid = read_pid(&logger);
        Command::new(SVC).arg("-t").arg(&logger).status().unwrap();
        wait_for("logger restarted", T, || {
            read_pid(&logger) != pid && read_pid(&logger) != 0
        });
        std::thread::sleep(Duration::from_millis(50));
    }
    let current = scan.dir("w/log/main/current");
    wait_for("every line logged", Duration::from_secs(60), || {
        fs::read_to_string(&current)
            .unwrap_or_default()
            .lines()
            .count()
            >= 3000
    });
    let lines: Vec<u32> = fs::read_to_string(&current)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let expected: Vec<u32> = (1..=3000).collect();
    assert_eq!(lines, expected);
}

#[test]
fn a_log_dir_added_later_gets_the_output() {
    let mut scan = Scan::new();
    scan.add("s", "#!/bin/sh\nwhile :; do echo tick; sleep 0.05; done\n");
    scan.start();
    wait_for("up", T, || scan.up("s"));
    fs::create_dir(scan.dir("s/log.tmp")).unwrap();
    write_exec(&scan.dir("s/log.tmp/run"), "#!/bin/sh\nexec cat >> out\n");
    fs::rename(scan.dir("s/log.tmp"), scan.dir("s/log")).unwrap();
    wait_for("logger up", T, || scan.up("s/log"));
    // The output moves to the pipe at the service's next start.
    Command::new(SVC)
        .arg("-t")
        .arg(scan.dir("s"))
        .status()
        .unwrap();
    wait_for("ticks in the log", T, || {
        fs::read_to_string(scan.dir("s/log/out"))
            .unwrap_or_default()
            .contains("tick")
    });
}

#[test]
fn sigterm_stops_200_services() {
    let mut scan = Scan::new();
    for i in 0..200 {
        scan.add(&format!("s{i}"), SLEEPER);
    }
    scan.start();
    wait_for("all up", Duration::from_secs(30), || {
        (0..200).all(|i| read_pid(&scan.dir(&format!("s{i}"))) != 0)
    });
    let pids: Vec<u32> = (0..200)
        .map(|i| read_pid(&scan.dir(&format!("s{i}"))))
        .collect();
    assert_eq!(scan.stop(), Some(0));
    assert!(pids.iter().all(|&p| !alive(p)), "a service outlived svscan");
    let out = Command::new("pgrep")
        .args(["-f", &scan.root().display().to_string()])
        .output()
        .unwrap();
    assert!(
        out.stdout.is_empty(),
        "leftover processes: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn context_switches(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("ctxt_switches"))
        .map(|l| l.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn idle_means_asleep() {
    let mut scan = Scan::new();
    for i in 0..3 {
        scan.add(&format!("s{i}"), SLEEPER);
    }
    scan.start();
    wait_for("all up", T, || (0..3).all(|i| scan.up(&format!("s{i}"))));
    std::thread::sleep(Duration::from_millis(200));
    let out = Command::new("pgrep")
        .args(["-P", &scan.pid().to_string()])
        .output()
        .unwrap();
    let mut pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    pids.push(scan.pid());
    let before: Vec<u64> = pids.iter().map(|&p| context_switches(p)).collect();
    // A measurement window, not synchronisation: nothing may wake up in it.
    std::thread::sleep(Duration::from_secs(5));
    let after: Vec<u64> = pids.iter().map(|&p| context_switches(p)).collect();
    assert_eq!(
        before, after,
        "svscan or a supervise woke up while idle (pids {pids:?})"
    );
}

#[test]
fn svscanboot_shows_errors_in_ps_and_stops_cleanly() {
    let scan = Scan::new();
    scan.add(
        "noisy",
        "#!/bin/sh\necho 'something broke' >&2\nexec sleep 100\n",
    );
    let mut boot = Command::new(env!("CARGO_BIN_EXE_svscanboot"))
        .arg(scan.root())
        .spawn()
        .unwrap();
    wait_for("service up", T, || scan.up("noisy"));
    let title = || {
        let out = Command::new("pgrep")
            .args(["-a", "-P", &boot.id().to_string()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    wait_for("the error in readproctitle's title", T, || {
        title().contains("something broke")
    });
    assert!(title().contains("service errors:"));
    let pid = read_pid(&scan.dir("noisy"));
    signal(boot.id() as i32, Signal::SIGTERM);
    let code = exited(&mut boot, T)
        .expect("svscanboot did not exit")
        .code();
    assert_eq!(code, Some(0));
    assert!(!alive(pid));
}

#[test]
fn a_killed_supervise_comes_back_and_adopts_its_service() {
    let mut scan = Scan::new();
    scan.add("s", "#!/bin/sh\necho $$ >> starts\nexec sleep 100\n");
    scan.start();
    wait_for("up", T, || scan.up("s"));
    let service = read_pid(&scan.dir("s"));
    let out = Command::new("pgrep")
        .args(["-P", &scan.pid().to_string()])
        .output()
        .unwrap();
    let sup: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    signal(sup, Signal::SIGKILL);
    wait_for("a new supervise", T, || {
        let out = Command::new("pgrep")
            .args(["-P", &scan.pid().to_string()])
            .output()
            .unwrap();
        let now = String::from_utf8_lossy(&out.stdout).trim().to_string();
        !now.is_empty() && now != sup.to_string() && scan.up("s")
    });
    assert_eq!(
        read_pid(&scan.dir("s")),
        service,
        "the same service, adopted"
    );
    assert!(alive(service));
    assert_eq!(
        fs::read_to_string(scan.dir("s/starts"))
            .unwrap()
            .lines()
            .count(),
        1,
        "never two copies"
    );
    assert_eq!(scan.stop(), Some(0));
    assert!(!alive(service));
}

/// Adoption (doc/DESIGN.md, supervise) under svscan, repeatedly: kill -9 of supervise never leaves
/// two copies, never changes the service's pid, and control still works.
#[test]
fn a_hundred_supervise_kills_under_svscan() {
    let rounds = rounds("UPKEEP_KILL_ROUNDS", 100);
    let mut scan = Scan::new();
    scan.add("s", "#!/bin/sh\necho $$ >> starts\nexec sleep 1000\n");
    scan.start();
    wait_for("up", T, || scan.up("s"));
    let service = read_pid(&scan.dir("s"));
    let supervisor = || -> Option<i32> {
        let out = Command::new("pgrep")
            .args(["-P", &scan.pid().to_string(), "supervise"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    for round in 0..rounds {
        let sup = supervisor().expect("a supervise");
        signal(sup, Signal::SIGKILL);
        wait_for(&format!("round {round}: supervise back"), T, || {
            supervisor().is_some_and(|p| p != sup) && scan.up("s")
        });
        assert_eq!(
            read_pid(&scan.dir("s")),
            service,
            "round {round}: the service's pid changed"
        );
        assert_eq!(
            fs::read_to_string(scan.dir("s/starts"))
                .unwrap()
                .lines()
                .count(),
            1,
            "round {round}: a second copy"
        );
    }
    let out = Command::new(SVC)
        .args(["-d", "-wd", "-T", "5s"])
        .arg(scan.dir("s"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!alive(service));
}

#[test]
fn a_dir_without_run_waits_for_one() {
    let mut scan = Scan::new();
    fs::create_dir(scan.dir("hooks")).unwrap();
    fs::write(scan.dir("hooks/adsl-lost"), "#!/bin/sh\n").unwrap();
    scan.add("s", SLEEPER);
    scan.start();
    wait_for("s up", T, || scan.up("s"));
    assert!(
        !scan.dir("hooks/supervise").exists(),
        "no supervise for a dir without run"
    );
    // A run written into it later (created, then renamed in) is noticed at once.
    write_exec(&scan.dir("hooks/run.tmp"), SLEEPER);
    fs::rename(scan.dir("hooks/run.tmp"), scan.dir("hooks/run")).unwrap();
    wait_for(
        "hooks supervised once run exists",
        Duration::from_secs(3),
        || scan.up("hooks"),
    );
}
