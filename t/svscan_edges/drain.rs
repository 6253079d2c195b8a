//! How svscan stops a logger: by end of file once its service is gone,
//! so the service's last lines are logged however late the logger reads
//! them; anyway when that EOF never comes; and a service back while its
//! old logger still drains gets a logger again.

use super::*;

/// svscan stopped after it was once killed: the supervisors it found
/// running are stopped main first, their logger only once main's is gone
/// and by end of file, never a signal, so the service's last words are
/// logged however late the logger gets to read them.
#[test]
fn a_found_service_is_stopped_before_its_logger() {
    let mut scan = Scan::new();
    scan.add(
        "s",
        "#!/bin/sh\ntrap 'sleep 0.3; echo goodbye; exit 0' TERM\necho hello\nwhile :; do sleep 0.05; done\n",
    );
    scan.add_log("s", "#!/bin/sh\nexec cat >> out\n");
    scan.start();
    wait_for("hello logged", T, || {
        log_has(&scan.dir("s/log/out"), "hello")
    });
    scan.kill9();
    scan.start();
    scan.wait_found("the new svscan found both", 2);
    scan.sigterm_until_exit();
    assert!(
        supervisor_of(&scan.dir("s")).is_none() && supervisor_of(&scan.dir("s/log")).is_none(),
        "svscan exited before the supervisors it was stopping"
    );
    assert!(
        log_has(&scan.dir("s/log/out"), "goodbye"),
        "the service's last line was lost"
    );
}

/// svscan's own supervisors: a service that writes a burst on its way
/// down has all of it logged, though its logger lags far behind (a shell
/// loop reading a byte at a time; `cat` is so quick that a TERM after the
/// service's exit would rarely find anything left in the pipe). The logger
/// is not signalled at all: told `ox`, it reads the pipe to EOF (svscan
/// closed its own ends), writes everything and exits.
#[test]
fn a_burst_written_on_the_way_down_is_logged_whole() {
    burst_logged_whole(Path::new("s"), |scan| {
        scan.sigterm_until_exit();
    });
}

/// The same when the dir is hidden (renamed to a dot name): the logger's
/// supervise is told through its own cwd, not the name that is gone.
#[test]
fn a_burst_from_a_hidden_service_is_logged_whole() {
    burst_logged_whole(Path::new(".s"), |scan| {
        fs::rename(scan.dir("s"), scan.dir(".s")).unwrap();
        scan.dirs = vec![scan.dir(".s"), scan.dir(".s/log")];
        wait_for("the hidden service's supervisors gone", T, || {
            scan.unsupervised(".s")
        });
    });
}

/// Service `s` writes 2,000 lines when TERMed, into a slow logger; `stop`
/// stops it for good (the service is then at `at`): all are logged.
fn burst_logged_whole(at: &Path, stop: impl FnOnce(&mut Scan)) {
    const LINES: usize = 2000;
    let mut scan = Scan::new();
    scan.add(
        "s",
        &format!(
            "#!/bin/sh\n\
             trap 'i=0; while [ $i -lt {LINES} ]; do echo \"line $i\"; i=$((i+1)); done; exit 0' TERM\n\
             echo hello\nwhile :; do sleep 0.05; done\n"
        ),
    );
    scan.add_log(
        "s",
        "#!/bin/sh\nexec >> out\nwhile IFS= read -r line; do printf '%s\\n' \"$line\"; done\n",
    );
    scan.start();
    wait_for("hello logged", T, || {
        log_has(&scan.dir("s/log/out"), "hello")
    });
    stop(&mut scan);
    let out = fs::read_to_string(scan.root().join(at).join("log/out")).unwrap();
    let burst = out.lines().filter(|l| l.starts_with("line ")).count();
    assert_eq!(
        burst,
        LINES,
        "lines of the burst lost; the log ends with {:?}",
        out.lines().last()
    );
}

/// The logger's EOF never comes (a descendant of the service escaped into
/// its own session, ignores TERM and holds the pipe's write end): svscan
/// stops the logger anyway a few seconds later, and exits.
#[test]
fn a_logger_whose_eof_never_comes_is_stopped_anyway() {
    let (mut scan, escaped) = started_with_an_escape();
    let logger = read_pid(&scan.dir("s/log"));
    scan.sigterm_until_exit();
    assert!(
        supervisor_of(&scan.dir("s/log")).is_none() && !alive(logger),
        "svscan exited before its logger was gone"
    );
    assert!(
        alive(read_pid_file(&escaped.0)),
        "the escaped process is gone: the logger saw its EOF, the fallback was not tested"
    );
}

/// A service dir hidden while its logger drains (EOF held off by an
/// escaped process) and brought back: the service gets a new pipe and the
/// logger that replaces the drained one reads it.
#[test]
fn a_service_back_while_its_logger_drains_is_logged_again() {
    let (scan, _escaped) = started_with_an_escape();
    let draining = supervisor_of(&scan.dir("s/log")).expect("log supervise");
    fs::rename(scan.dir("s"), scan.dir(".s")).unwrap();
    // Draining: the logger's supervise was told `ox` (it shows want once).
    wait_for("the hidden service's logger draining", T, || {
        fs::read_to_string(scan.dir(".s/log/supervise/state"))
            .is_ok_and(|st| st.lines().any(|l| l == "want=once"))
    });
    fs::rename(scan.dir(".s"), scan.dir("s")).unwrap();
    let hellos = || {
        fs::read_to_string(scan.dir("s/log/out"))
            .unwrap_or_default()
            .matches("hello")
            .count()
    };
    wait_for("the service's new output logged by a new logger", T, || {
        hellos() == 2 && supervisor_of(&scan.dir("s/log")).is_some_and(|p| p != draining)
    });
}

/// svscan on service `s` running ESCAPING_RUN into a `cat` logger, once
/// it said hello and its escape is made.
fn started_with_an_escape() -> (Scan, Escaped) {
    let mut scan = Scan::new();
    scan.add("s", ESCAPING_RUN);
    scan.add_log("s", "#!/bin/sh\nexec cat >> out\n");
    let escaped = Escaped(scan.dir("s/escaped"));
    scan.start();
    wait_for("hello logged and the escape made", T, || {
        log_has(&scan.dir("s/log/out"), "hello") && read_pid_file(&escaped.0) > 1
    });
    (scan, escaped)
}

/// A run that leaves behind a process in its own session, deaf to TERM,
/// holding the log pipe's write end (once per service dir).
const ESCAPING_RUN: &str = "#!/bin/sh\n\
    [ -e escaped ] || setsid sh -c 'trap \"\" TERM; echo $$ > escaped.tmp; mv escaped.tmp escaped; exec sleep 100' &\n\
    echo hello\nexec sleep 100\n";

/// The escaped process, killed whatever the outcome.
struct Escaped(PathBuf);

impl Drop for Escaped {
    fn drop(&mut self) {
        let pid = read_pid_file(&self.0);
        if pid > 1 && alive(pid) {
            signal(pid as i32, Signal::SIGKILL);
        }
    }
}

fn read_pid_file(path: &Path) -> u32 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}
