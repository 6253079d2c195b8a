//! Network namespaces for the rig: create, link with veth, cut and heal
//! traffic with nftables, and remove — with everything running inside
//! killed first. Names carry the test process's pid, so namespaces a killed
//! run left behind are recognised and removed by the next one.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

/// Run a command that must succeed (setup); panics with its stderr.
pub fn must(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `upk-ROLE-PID`: ROLE names the machine (gwa, gwb, isp).
    pub fn create(role: &str) -> Netns {
        let name = format!("upk-{role}-{}", std::process::id());
        must(&["ip", "netns", "add", &name]);
        must(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        Netns { name }
    }

    /// `ip -n NAME ARGS...`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        let mut v = vec!["ip", "-n", self.name.as_str()];
        v.extend_from_slice(args);
        must(&v);
    }

    /// The namespace's identity as /proc/PID/ns/net shows it (`net:[INODE]`).
    pub fn inode(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(format!("/run/netns/{}", self.name))
            .map(|m| m.ino())
            .unwrap_or(0)
    }

    /// Processes whose network namespace is this one, as (pid, comm).
    pub fn processes(&self) -> Vec<(u32, String)> {
        let want = format!("net:[{}]", self.inode());
        let mut v = Vec::new();
        let Ok(rd) = fs::read_dir("/proc") else {
            return v;
        };
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let ns = fs::read_link(e.path().join("ns/net"));
            if ns.is_ok_and(|l| l.as_os_str() == want.as_str()) {
                let comm = fs::read_to_string(e.path().join("comm")).unwrap_or_default();
                v.push((pid, comm.trim().to_string()));
            }
        }
        v
    }

    /// A veth pair: `mine` here, `theirs` in `peer`.
    pub fn veth(&self, mine: &str, peer: &Netns, theirs: &str) {
        self.ip(&[
            "link", "add", mine, "type", "veth", "peer", "name", theirs, "netns", &peer.name,
        ]);
    }

    /// Give `dev` an address and bring it up.
    pub fn up(&self, dev: &str, cidr: &str) {
        self.ip(&["addr", "add", cidr, "dev", dev]);
        self.ip(&["link", "set", dev, "up"]);
    }

    /// Drop matching packets both ways until `heal(table)`: one nftables
    /// table per cut, so cuts overlap and heal independently. `input` and
    /// `output` are nft matches, e.g. `ip protocol vrrp`, `iifname "wan0"`.
    pub fn cut(&self, table: &str, input: &str, output: &str) {
        let script = format!(
            "table inet {table} {{\n\
             chain i {{ type filter hook input priority 0; {input} drop; }}\n\
             chain o {{ type filter hook output priority 0; {output} drop; }}\n}}\n"
        );
        let mut c = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft");
        use std::io::Write;
        c.stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(c.wait().unwrap().success(), "nft: {script}");
    }

    pub fn heal(&self, table: &str) {
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "nft", "delete", "table", "inet", table,
            ])
            .stderr(Stdio::null())
            .status();
    }

    /// Whether an address shows on any interface here (`198.18.0.254/`).
    pub fn has_addr(&self, prefix: &str) -> bool {
        Command::new("ip")
            .args(["-n", &self.name, "-4", "addr", "show"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(prefix))
    }
}

fn kill_all_in(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(p) = pid.parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_all_in(&self.name);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Remove namespaces of earlier runs whose test process is gone.
pub fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("upk-") else {
            continue;
        };
        let Some(tag) = rest.rsplit('-').next() else {
            continue;
        };
        if tag.parse::<u32>().is_err() || Path::new(&format!("/proc/{tag}")).exists() {
            continue;
        }
        kill_all_in(name);
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
    }
}
