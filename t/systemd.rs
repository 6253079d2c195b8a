//! service/systemd/upkeep.service: `systemd-analyze verify` accepts it
//! (ExecStart pointed at the built svscanboot, Documentation= resolved
//! against doc/), it keeps the settings INSTALL explains, and INSTALL shows
//! it verbatim.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const ANALYZE: &str = "/usr/bin/systemd-analyze";
const MAN: &str = "/usr/bin/man";
const INSTALLED_EXEC: &str = "/usr/local/bin/svscanboot";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn unit_text() -> String {
    fs::read_to_string(repo().join("service/systemd/upkeep.service")).unwrap()
}

/// A man tree (MANPATH) holding doc/'s pages, so Documentation=man:...
/// is checked against the pages we ship, not whatever is installed.
fn man_tree(root: &Path) -> PathBuf {
    let man = root.join("man");
    for e in fs::read_dir(repo().join("doc")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(section) = name.rsplit('.').next().filter(|s| s.len() == 1) {
            let dir = man.join(format!("man{section}"));
            fs::create_dir_all(&dir).unwrap();
            fs::copy(&p, dir.join(&name)).unwrap();
        }
    }
    man
}

/// Run `systemd-analyze verify` on `text` saved as upkeep.service;
/// returns (success, the diagnostics about our unit).
fn verify(text: &str) -> (bool, String) {
    let tmp = tempfile::tempdir().unwrap();
    let unit = tmp.path().join("upkeep.service");
    fs::write(&unit, text).unwrap();
    let man = man_tree(tmp.path());
    let out = Command::new(ANALYZE)
        .arg("verify")
        .arg(&unit)
        .env("MANPATH", &man)
        .env("SYSTEMD_LOG_LEVEL", "info")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // Other units on the host may draw warnings of their own; only ours count.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("upkeep.service"))
        .collect();
    (out.status.success() && ours.is_empty(), stderr)
}

/// The unit as it would be installed, but running the svscanboot just built
/// (verify insists that ExecStart's program exists and is executable).
fn unit_for_here() -> String {
    let text = unit_text();
    assert!(text.contains(&format!("ExecStart={INSTALLED_EXEC} /service")));
    text.replace(INSTALLED_EXEC, env!("CARGO_BIN_EXE_svscanboot"))
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    if !common::have(ANALYZE) || !common::have(MAN) {
        return;
    }
    let (ok, stderr) = verify(&unit_for_here());
    assert!(ok, "systemd-analyze verify complained:\n{stderr}");
}

#[test]
fn verify_catches_a_broken_unit() {
    // The check above can fail: a misspelt key, a bad value, a missing
    // program and an unknown man page are each reported.
    if !common::have(ANALYZE) || !common::have(MAN) {
        return;
    }
    let good = unit_for_here();
    let broken = [
        good.replace("KillMode=mixed", "KillMod=mixed"),
        good.replace("Type=simple", "Type=simpel"),
        good.replace(env!("CARGO_BIN_EXE_svscanboot"), "/nonexistent/svscanboot"),
        good.replace("man:svscan(8)", "man:upkeep-no-such-page(8)"),
    ];
    for text in broken {
        let (ok, _) = verify(&text);
        assert!(!ok, "verify accepted a broken unit:\n{text}");
    }
}

#[test]
fn unit_has_the_settings_install_explains() {
    let text = unit_text();
    let service: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "[Service]")
        .take_while(|l| *l != "[Install]")
        .map(str::trim)
        .collect();
    for want in [
        "Type=simple",
        "KillMode=mixed",
        "Restart=always",
        "ExecStart=/usr/local/bin/svscanboot /service",
    ] {
        assert!(service.contains(&want), "[Service] lacks {want}");
    }
    assert!(text.contains("WantedBy=multi-user.target"));
}

#[test]
fn install_shows_the_unit_verbatim() {
    let install = fs::read_to_string(repo().join("INSTALL")).unwrap();
    let indented: String = unit_text()
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("    {l}\n")
            }
        })
        .collect();
    assert!(
        install.contains(&indented),
        "INSTALL must show service/systemd/upkeep.service exactly (indented 4 spaces)"
    );
}
