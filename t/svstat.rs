//! `svstat --prom`: Prometheus text that a real parser (Python's
//! prometheus_client, from Debian's python3-prometheus-client) reads, with
//! the values svstat's other forms show.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{have, wait_for, Service, SVSTAT};

/// Parse with prometheus_client; one line per sample:
/// `family<TAB>sample<TAB>service<TAB>state<TAB>value`.
const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        print("\t".join([fam.name + ":" + fam.type, s.name, s.labels.get("service", ""),
                         s.labels.get("state", ""), repr(s.value)]))
"#;

fn parse(text: &str) -> HashMap<(String, String, String), f64> {
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client rejected:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut samples = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let value: f64 = f[4].parse().unwrap();
        samples.insert(
            (f[1].to_string(), f[2].to_string(), f[3].to_string()),
            value,
        );
    }
    samples
}

fn prom(args: &[&std::path::Path]) -> String {
    let out = Command::new(SVSTAT)
        .arg("--prom")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn prom_output_parses_and_says_what_svstat_says() {
    if !have("/usr/lib/python3/dist-packages/prometheus_client/parser.py") {
        return;
    }
    let good = Service::new("#!/bin/sh\nexec sleep 100\n");
    common::write_exec(&good.path("check"), "#!/bin/sh\nexit 0\n");
    let crashing = Service::new("#!/bin/sh\nexit 3\n");
    // Held back long enough that it is not restarted while svstat looks.
    std::fs::write(crashing.path("backoff"), "1m 1m\n").unwrap();
    // A dir name that needs escaping in a label.
    let odd_parent = tempfile::tempdir().unwrap();
    let odd = odd_parent.path().join("we\"ird\\name");
    std::fs::create_dir(&odd).unwrap();
    let missing = odd_parent.path().join("missing");

    let _g = good.supervise();
    let _c = crashing.supervise();
    wait_for("good ready", Duration::from_secs(20), || {
        good.state_field("state") == "ready"
    });
    wait_for("crashing held back", Duration::from_secs(20), || {
        crashing.state_field("state") == "backoff"
    });

    let text = prom(&[&good.dir, &crashing.dir, &odd, &missing]);
    let s = parse(&text);
    let name = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let get = |sample: &str, dir: &std::path::Path, state: &str| {
        *s.get(&(sample.to_string(), name(dir), state.to_string()))
            .unwrap_or_else(|| panic!("no {sample} for {dir:?} {state} in:\n{text}"))
    };
    assert_eq!(get("upkeep_service_supervised", &good.dir, ""), 1.0);
    assert_eq!(get("upkeep_service_up", &good.dir, ""), 1.0);
    assert_eq!(get("upkeep_service_ready", &good.dir, ""), 1.0);
    assert_eq!(get("upkeep_service_state", &good.dir, "ready"), 1.0);
    assert_eq!(get("upkeep_service_state", &good.dir, "up"), 0.0);
    assert_eq!(get("upkeep_service_check_ok", &good.dir, ""), 1.0);
    assert_eq!(get("upkeep_service_restarts_total", &good.dir, ""), 0.0);

    assert_eq!(get("upkeep_service_up", &crashing.dir, ""), 0.0);
    assert_eq!(get("upkeep_service_state", &crashing.dir, "backoff"), 1.0);
    assert_eq!(get("upkeep_service_last_exit_code", &crashing.dir, ""), 3.0);
    assert!(get("upkeep_service_backoff_failures", &crashing.dir, "") >= 1.0);
    assert!(
        get(
            "upkeep_service_backoff_next_start_seconds",
            &crashing.dir,
            ""
        ) > 30.0
    );

    // Not supervised, whatever the reason; the odd name survives escaping.
    assert_eq!(get("upkeep_service_supervised", &odd, ""), 0.0);
    assert_eq!(get("upkeep_service_supervised", &missing, ""), 0.0);
}

/// service/nagios/check_upkeep on one dir: (exit code, first word).
fn nagios(dir: &std::path::Path) -> (i32, String) {
    let plugin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("service/nagios/check_upkeep");
    let bin = std::path::Path::new(SVSTAT).parent().unwrap();
    let out = Command::new(plugin)
        .arg(dir)
        .env("UPKEEP_BIN", bin)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let word = text.split(':').next().unwrap_or("").to_string();
    (out.status.code().unwrap_or(-1), word)
}

#[test]
fn nagios_plugin_exit_codes() {
    let good = Service::new("#!/bin/sh\nexec sleep 100\n");
    common::write_exec(&good.path("check"), "#!/bin/sh\nexit 0\n");
    let sick = Service::new("#!/bin/sh\nexec sleep 100\n");
    common::write_exec(&sick.path("check"), "#!/bin/sh\nexit 1\n");
    std::fs::write(sick.path("check-failures"), "1000\n").unwrap();
    std::fs::write(sick.path("check-interval"), "100ms\n").unwrap();
    let crashing = Service::new("#!/bin/sh\nexit 3\n");
    std::fs::write(crashing.path("backoff"), "1m 1m\n").unwrap();
    let unsupervised = Service::new("#!/bin/sh\nexec sleep 100\n");

    let _g = good.supervise();
    let _s = sick.supervise();
    let _c = crashing.supervise();
    wait_for("good ready", Duration::from_secs(20), || {
        good.state_field("state") == "ready"
    });
    wait_for("sick's check failed", Duration::from_secs(20), || {
        sick.state_field("check") == "failed"
    });
    wait_for("crashing held back", Duration::from_secs(20), || {
        crashing.state_field("state") == "backoff"
    });
    assert_eq!(nagios(&good.dir), (0, "OK".into()));
    assert_eq!(nagios(&sick.dir), (1, "WARNING".into()));
    assert_eq!(nagios(&crashing.dir), (2, "CRITICAL".into()));
    assert_eq!(nagios(&unsupervised.dir), (2, "CRITICAL".into()));
    assert_eq!(nagios(&good.dir.join("nonexistent")), (3, "UNKNOWN".into()));
    // Down as the operator wants it: OK.
    assert!(good.svc(&["-d", "-wd", "-T", "10s"]).status.success());
    assert_eq!(nagios(&good.dir), (0, "OK".into()));
}
