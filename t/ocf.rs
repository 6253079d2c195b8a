//! service/ocf/upkeep, run as Pacemaker runs it (clean environment,
//! OCF_ROOT, OCF_RESKEY_*, op timeout in ms) against real supervise-managed
//! service dirs: exit codes for every state, then Debian's ocf-tester.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SUCCESS: i32 = 0;
const ERR_GENERIC: i32 = 1;
const ERR_ARGS: i32 = 2;
const ERR_UNIMPLEMENTED: i32 = 3;
const ERR_INSTALLED: i32 = 5;
const ERR_CONFIGURED: i32 = 6;
const NOT_RUNNING: i32 = 7;

const OCF_TESTER: &str = "/usr/sbin/ocf-tester";
const XMLLINT: &str = "/usr/bin/xmllint";
const RA_DATA: &str = "/usr/share/resource-agents";

fn agent_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("service/ocf/upkeep")
}

/// Where the built svc, svstat and svok are.
fn bin_dir() -> String {
    Path::new(SVC).parent().unwrap().display().to_string()
}

/// One agent invocation: exit code and stderr.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Run ACTION for `dir` as a recurring op (interval 10s) with `timeout_ms`.
fn act(action: &str, dir: &Path, timeout_ms: u32) -> Run {
    act_env(
        action,
        &[
            ("OCF_RESKEY_service_dir", &dir.display().to_string()),
            ("OCF_RESKEY_CRM_meta_timeout", &timeout_ms.to_string()),
            ("OCF_RESKEY_CRM_meta_interval", "10000"),
        ],
    )
}

/// A probe: monitor with interval 0.
fn probe(dir: &Path) -> Run {
    act_env(
        "monitor",
        &[
            ("OCF_RESKEY_service_dir", &dir.display().to_string()),
            ("OCF_RESKEY_CRM_meta_timeout", "20000"),
            ("OCF_RESKEY_CRM_meta_interval", "0"),
        ],
    )
}

fn act_env(action: &str, vars: &[(&str, &str)]) -> Run {
    let started = Instant::now();
    let mut cmd = Command::new(agent_path());
    // Pacemaker gives agents a minimal environment; upkeep's programs are
    // not on its PATH (bin_dir says where they are).
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("OCF_ROOT", "/usr/lib/ocf")
        .env("OCF_RESOURCE_INSTANCE", "svc1")
        .env("OCF_RESKEY_CRM_meta_name", action)
        .env("OCF_RESKEY_bin_dir", bin_dir())
        .arg(action);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

fn expect(run: &Run, code: i32, what: &str) {
    assert_eq!(
        run.code, code,
        "{what}: exit {} (want {code}); stderr: {}",
        run.code, run.stderr
    );
}

fn json(dir: &Path) -> String {
    let out = Command::new(SVSTAT)
        .arg("--json")
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A service dir with a `down` file, as Pacemaker-managed services have.
fn managed(run: &str) -> Service {
    let s = Service::new(run);
    fs::write(s.path("down"), "").unwrap();
    s
}

const SLEEPER: &str = "#!/bin/sh\nexec sleep 1000\n";

#[test]
fn up_and_down_as_pacemaker_drives_it() {
    let s = managed(SLEEPER);
    let _sup = s.supervise();
    expect(&probe(&s.dir), NOT_RUNNING, "probe of a down service");
    expect(&act("monitor", &s.dir, 20000), NOT_RUNNING, "monitor down");
    expect(&act("validate-all", &s.dir, 20000), SUCCESS, "validate-all");

    expect(&act("start", &s.dir, 20000), SUCCESS, "start");
    assert!(json(&s.dir).contains("\"ready\":true"));
    expect(&act("monitor", &s.dir, 20000), SUCCESS, "monitor up");
    expect(&probe(&s.dir), SUCCESS, "probe of an up service");
    let pid = s.pid();
    expect(&act("start", &s.dir, 20000), SUCCESS, "start when started");
    assert_eq!(s.pid(), pid, "a second start must not restart the service");

    expect(&act("stop", &s.dir, 20000), SUCCESS, "stop");
    assert_eq!(s.pid(), 0);
    assert!(!alive(pid), "stop returned with the service alive");
    expect(
        &act("monitor", &s.dir, 20000),
        NOT_RUNNING,
        "monitor stopped",
    );
    expect(&act("stop", &s.dir, 20000), SUCCESS, "stop when stopped");

    // Paused (svc -p) is not healthy.
    expect(&act("start", &s.dir, 20000), SUCCESS, "start again");
    s.svc(&["-p"]);
    wait_for("paused", Duration::from_secs(5), || {
        json(&s.dir).contains("\"paused\":true")
    });
    let m = act("monitor", &s.dir, 20000);
    expect(&m, ERR_GENERIC, "monitor paused");
    assert!(m.stderr.contains("ocf-exit-reason:"), "{}", m.stderr);
    s.svc(&["-c"]);
    expect(&act("stop", &s.dir, 20000), SUCCESS, "stop after continue");
}

#[test]
fn not_ready_in_time_fails_start_within_the_op_timeout() {
    // Ready only when the test writes to the gate fifo.
    let s = managed("#!/bin/sh\nread x < gate\necho >&3\nexec sleep 1000\n");
    fs::write(s.path("notification-fd"), "3").unwrap();
    nix::unistd::mkfifo(
        &s.path("gate"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let _sup = s.supervise();

    let start = act("start", &s.dir, 2000);
    expect(&start, ERR_GENERIC, "start of a service not ready in time");
    assert!(
        start.stderr.contains("ocf-exit-reason:") && start.stderr.contains("not ready"),
        "{}",
        start.stderr
    );
    // svc waited the op timeout less the margin (2 s - 1 s), and answered
    // before Pacemaker would have killed the agent.
    assert!(start.took >= Duration::from_millis(900), "{:?}", start.took);
    assert!(start.took < Duration::from_millis(2000), "{:?}", start.took);

    let m = act("monitor", &s.dir, 20000);
    expect(&m, ERR_GENERIC, "monitor up but not ready");
    assert!(m.stderr.contains("not ready"), "{}", m.stderr);

    fs::write(s.path("gate"), "go\n").unwrap();
    wait_for("ready", Duration::from_secs(5), || {
        json(&s.dir).contains("\"ready\":true")
    });
    expect(
        &act("monitor", &s.dir, 20000),
        SUCCESS,
        "monitor once ready",
    );
    expect(&act("start", &s.dir, 20000), SUCCESS, "start once ready");
    expect(&act("stop", &s.dir, 20000), SUCCESS, "stop");
}

#[test]
fn failing_health_check_is_a_failure() {
    let s = managed(SLEEPER);
    write_exec(&s.path("check"), "#!/bin/sh\n[ ! -e sick ]\n");
    fs::write(s.path("check-interval"), "50ms").unwrap();
    // supervise must not restart it during the test: Pacemaker's monitor
    // is what reports it here.
    fs::write(s.path("check-failures"), "1000").unwrap();
    let _sup = s.supervise();

    expect(
        &act("start", &s.dir, 20000),
        SUCCESS,
        "start (first check passes)",
    );
    expect(&act("monitor", &s.dir, 20000), SUCCESS, "monitor healthy");

    fs::write(s.path("sick"), "").unwrap();
    wait_for("check failed", Duration::from_secs(5), || {
        json(&s.dir).contains("\"check\":\"failed\"")
    });
    let m = act("monitor", &s.dir, 20000);
    expect(&m, ERR_GENERIC, "monitor with a failing check");
    assert!(m.stderr.contains("health check failed"), "{}", m.stderr);

    fs::remove_file(s.path("sick")).unwrap();
    wait_for("check ok", Duration::from_secs(5), || {
        json(&s.dir).contains("\"check\":\"ok\"")
    });
    expect(
        &act("monitor", &s.dir, 20000),
        SUCCESS,
        "monitor healthy again",
    );
    expect(&act("stop", &s.dir, 20000), SUCCESS, "stop");
}

#[test]
fn crash_loop_is_a_failure() {
    let s = managed("#!/bin/sh\nexit 3\n");
    fs::write(s.path("backoff"), "5s 30s").unwrap();
    let _sup = s.supervise();
    // A run that exits at once is up and ready for an instant: start may
    // catch that instant (Pacemaker's next monitor then fails it) or not.
    let start = act("start", &s.dir, 1500);
    assert!(
        start.code == ERR_GENERIC || start.code == SUCCESS,
        "start of a crashing service: exit {}; stderr: {}",
        start.code,
        start.stderr
    );
    wait_for("backoff", Duration::from_secs(5), || {
        json(&s.dir).contains("\"state\":\"backoff\"")
    });
    let m = act("monitor", &s.dir, 20000);
    expect(&m, ERR_GENERIC, "monitor in backoff");
    assert!(m.stderr.contains("crash loop"), "{}", m.stderr);
    expect(&act("stop", &s.dir, 20000), SUCCESS, "stop a crash loop");
    expect(
        &act("monitor", &s.dir, 20000),
        NOT_RUNNING,
        "monitor after stop",
    );
}

#[test]
fn missing_or_wrong_configuration() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nosuch");
    expect(
        &act("validate-all", &missing, 20000),
        ERR_INSTALLED,
        "validate missing dir",
    );
    expect(
        &act("start", &missing, 20000),
        ERR_INSTALLED,
        "start missing dir",
    );
    expect(&probe(&missing), NOT_RUNNING, "probe missing dir");
    expect(
        &act("monitor", &missing, 20000),
        ERR_INSTALLED,
        "monitor missing dir",
    );
    expect(&act("stop", &missing, 20000), SUCCESS, "stop missing dir");

    // A dir without an executable run.
    let norun = tmp.path().join("norun");
    fs::create_dir(&norun).unwrap();
    expect(
        &act("validate-all", &norun, 20000),
        ERR_INSTALLED,
        "validate dir without run",
    );
    fs::write(norun.join("run"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(norun.join("run"), fs::Permissions::from_mode(0o644)).unwrap();
    expect(
        &act("validate-all", &norun, 20000),
        ERR_INSTALLED,
        "validate run not executable",
    );

    // No service_dir, or a relative one: wrong on every node.
    for action in ["validate-all", "start", "monitor", "stop"] {
        expect(&act_env(action, &[]), ERR_CONFIGURED, "no service_dir");
        expect(
            &act_env(action, &[("OCF_RESKEY_service_dir", "svc")]),
            ERR_CONFIGURED,
            "relative service_dir",
        );
    }

    // upkeep's programs not where bin_dir says.
    let s = managed(SLEEPER);
    let v = act_env(
        "validate-all",
        &[
            ("OCF_RESKEY_service_dir", &s.dir.display().to_string()),
            ("OCF_RESKEY_bin_dir", "/nonexistent"),
        ],
    );
    expect(&v, ERR_INSTALLED, "validate without the programs");
    assert!(
        v.stderr.contains("ocf-exit-reason:/nonexistent/svc"),
        "{}",
        v.stderr
    );

    // Actions the agent does not have; no action at all.
    expect(&act("promote", &s.dir, 20000), ERR_UNIMPLEMENTED, "promote");
    expect(&act("reload", &s.dir, 20000), ERR_UNIMPLEMENTED, "reload");
    expect(&act_env("", &[]), ERR_ARGS, "no action");
}

#[test]
fn supervise_not_running() {
    // Never supervised: nothing upkeep started can be running.
    let s = managed(SLEEPER);
    expect(&probe(&s.dir), NOT_RUNNING, "probe, never supervised");
    expect(
        &act("monitor", &s.dir, 20000),
        NOT_RUNNING,
        "monitor, never supervised",
    );
    expect(
        &act("stop", &s.dir, 20000),
        SUCCESS,
        "stop, never supervised",
    );
    let start = act("start", &s.dir, 20000);
    expect(&start, ERR_GENERIC, "start without supervise");
    assert!(
        start.stderr.contains("supervise not running"),
        "{}",
        start.stderr
    );

    // Supervise stopped cleanly (svc -dx): the service went with it.
    {
        let mut sup = s.supervise();
        expect(&act("start", &s.dir, 20000), SUCCESS, "start");
        s.svc(&["-dx"]);
        sup.wait_exit(Duration::from_secs(5));
    }
    expect(
        &act("monitor", &s.dir, 20000),
        NOT_RUNNING,
        "monitor after svc -dx",
    );
    expect(&act("stop", &s.dir, 20000), SUCCESS, "stop after svc -dx");

    // Supervise SIGKILLed: its service lives on, uncontrolled. That is not
    // "not running" (Pacemaker would start a second copy elsewhere), and
    // stop cannot stop it.
    let mut sup = s.supervise();
    expect(&act("start", &s.dir, 20000), SUCCESS, "start");
    let pid = s.pid();
    signal(sup.pid(), Signal::SIGKILL);
    sup.wait_exit(Duration::from_secs(5));
    assert!(alive(pid));
    let m = act("monitor", &s.dir, 20000);
    expect(&m, ERR_GENERIC, "monitor, service alive without supervise");
    assert!(m.stderr.contains(&format!("pid {pid}")), "{}", m.stderr);
    expect(
        &probe(&s.dir),
        ERR_GENERIC,
        "probe, service alive without supervise",
    );
    expect(
        &act("stop", &s.dir, 20000),
        ERR_GENERIC,
        "stop without supervise",
    );

    // A recorded pid whose start time differs is a reused pid, not ours.
    let state = s.read("supervise/state");
    let forged: String = state
        .lines()
        .map(|l| {
            if l.starts_with("starttime=") {
                "starttime=1\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(s.path("supervise/state"), forged).unwrap();
    expect(
        &act("monitor", &s.dir, 20000),
        NOT_RUNNING,
        "monitor, pid reused",
    );
    // Without upkeep's state file (daemontools' supervise) the status
    // record's live pid cannot be told from a reused one: not stopped.
    fs::remove_file(s.path("supervise/state")).unwrap();
    expect(
        &act("monitor", &s.dir, 20000),
        ERR_GENERIC,
        "monitor, status only",
    );
    fs::write(s.path("supervise/state"), state).unwrap();

    // Once that process is gone, it is stopped.
    signal(-(pid as i32), Signal::SIGKILL);
    wait_for("orphan gone", Duration::from_secs(5), || !alive(pid));
    expect(
        &act("monitor", &s.dir, 20000),
        NOT_RUNNING,
        "monitor, orphan gone",
    );
    expect(&act("stop", &s.dir, 20000), SUCCESS, "stop, orphan gone");
}

#[test]
fn meta_data_is_ocf_1_1_and_valid() {
    let m = act_env("meta-data", &[]);
    expect(&m, SUCCESS, "meta-data");
    assert!(m.stdout.contains("<version>1.1</version>"));
    assert!(m
        .stdout
        .contains("<parameter name=\"service_dir\" unique=\"1\" required=\"1\">"));
    for action in ["start", "stop", "monitor", "meta-data", "validate-all"] {
        assert!(
            m.stdout.contains(&format!("<action name=\"{action}\"")),
            "{action}"
        );
    }
    if !have(XMLLINT) || !have(RA_DATA) {
        return;
    }
    // Against resource-agents' DTD (what ocf-tester uses) and its OCF 1.1
    // RELAX NG schema.
    for args in [
        vec!["--noout", "--valid", "-"],
        vec!["--noout", "--relaxng", "metadata.rng", "-"],
    ] {
        let mut child = Command::new(XMLLINT)
            .args(&args)
            .current_dir(RA_DATA)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(m.stdout.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "xmllint {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn ocf_tester_passes() {
    if !have(OCF_TESTER) || !have(XMLLINT) {
        return;
    }
    // ocf-tester reads the agent as nobody: a world-readable copy.
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let agent = tmp.path().join("upkeep");
    fs::copy(agent_path(), &agent).unwrap();
    fs::set_permissions(&agent, fs::Permissions::from_mode(0o755)).unwrap();

    let s = managed(SLEEPER);
    let _sup = s.supervise();
    let out = Command::new(OCF_TESTER)
        .args(["-n", "svc1", "-o"])
        .arg(format!("service_dir={}", s.dir.display()))
        .arg("-o")
        .arg(format!("bin_dir={}", bin_dir()))
        .arg(&agent)
        .env("OCF_ROOT", "/usr/lib/ocf")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("passed all tests"),
        "ocf-tester: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It left the service stopped.
    assert_eq!(s.pid(), 0);
}

/// The agent installed for Pacemaker under a provider name of its own,
/// removed again when dropped.
struct Installed {
    provider: String,
    dir: PathBuf,
}

impl Installed {
    fn new() -> Installed {
        let provider = format!("upkeep-test-{}", std::process::id());
        let dir = Path::new("/usr/lib/ocf/resource.d").join(&provider);
        fs::create_dir_all(&dir).unwrap();
        fs::copy(agent_path(), dir.join("upkeep")).unwrap();
        fs::set_permissions(dir.join("upkeep"), fs::Permissions::from_mode(0o755)).unwrap();
        Installed { provider, dir }
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn pacemaker_reads_the_metadata_and_runs_validate() {
    // Pacemaker's own crm_resource, without a cluster: it finds the agent
    // under OCF_ROOT, parses its meta-data, runs validate-all with the
    // parameters as OCF_RESKEY_*, and reports the exit reason.
    const CRM_RESOURCE: &str = "/usr/sbin/crm_resource";
    if !have(CRM_RESOURCE) {
        return;
    }
    if !common::need_root("installing under /usr/lib/ocf") {
        return;
    }
    let ra = Installed::new();
    let spec = format!("ocf:{}:upkeep", ra.provider);
    let meta = Command::new(CRM_RESOURCE)
        .arg(format!("--show-metadata={spec}"))
        .output()
        .unwrap();
    assert!(meta.status.success());
    assert!(String::from_utf8_lossy(&meta.stdout).contains("<parameter name=\"service_dir\""));

    let s = managed(SLEEPER);
    let validate = |opts: &[String]| {
        let mut cmd = Command::new(CRM_RESOURCE);
        cmd.args(["--validate", "--class", "ocf", "--provider"])
            .arg(&ra.provider)
            .args(["--agent", "upkeep"]);
        for o in opts {
            cmd.arg("--option").arg(o);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let bin = format!("bin_dir={}", bin_dir());
    let (code, text) = validate(&[format!("service_dir={}", s.dir.display()), bin.clone()]);
    assert_eq!(code, SUCCESS, "{text}");
    let (code, text) = validate(&[format!("service_dir={}/nosuch", s.dir.display()), bin]);
    assert_eq!(code, ERR_INSTALLED, "{text}");
    assert!(text.contains("not installed: service directory"), "{text}");
    let (code, text) = validate(&[]);
    assert_eq!(code, ERR_CONFIGURED, "{text}");
    assert!(text.contains("service_dir is not set"), "{text}");
}

#[test]
fn stop_that_cannot_finish_fails_within_the_op_timeout() {
    // run ignores TERM and there is no timeout-kill: stop cannot succeed,
    // and says so before Pacemaker's op timeout (which then fences).
    let s = managed("#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 1; done\n");
    let _sup = s.supervise();
    expect(&act("start", &s.dir, 20000), SUCCESS, "start");
    let stop = act("stop", &s.dir, 2000);
    expect(&stop, ERR_GENERIC, "stop of a service that ignores TERM");
    assert!(stop.stderr.contains("not down within"), "{}", stop.stderr);
    assert!(stop.took < Duration::from_millis(2000), "{:?}", stop.took);
    // With timeout-kill, the next stop succeeds.
    fs::write(s.path("timeout-kill"), "100ms").unwrap();
    s.svc(&["-K"]);
    wait_for("down after KILL", Duration::from_secs(5), || s.pid() == 0);
    expect(&act("start", &s.dir, 20000), SUCCESS, "start again");
    expect(
        &act("stop", &s.dir, 20000),
        SUCCESS,
        "stop with timeout-kill",
    );
}
