//! A test world: a temp dir with a config, the stand-in pppd, an ISP
//! simulator, a lost hook that logs its arguments, and checks on them.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/debug/deps/pppoe-HASH → target/debug/NAME
    exe.parent().unwrap().parent().unwrap().join(name)
}

use crate::common::{eventually, write_exec};

pub struct World {
    pub dir: tempfile::TempDir,
    pub isp: Child,
    pub extra_env: Vec<(String, String)>,
}

pub struct Opts {
    pub retry_delay: &'static str,
    pub stop_timeout: &'static str,
    /// The ISP drops sessions after this many ms (None: never).
    pub session_ms: Option<u64>,
    /// The lost hook sleeps this long (shell `sleep` argument) after logging.
    pub hook_sleep: Option<&'static str>,
    pub extra_conf: &'static str,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            retry_delay: "50ms",
            stop_timeout: "2s",
            session_ms: None,
            hook_sleep: None,
            extra_conf: "",
        }
    }
}

impl World {
    pub fn new(o: Opts) -> World {
        let dir = tempfile::Builder::new()
            .prefix("upkeep-pppoe")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let me = std::env::current_exe().unwrap();
        std::os::unix::fs::symlink(&me, d.join("pppd")).unwrap();
        std::os::unix::fs::symlink(&me, d.join("isp")).unwrap();
        let mut isp = Command::new(d.join("isp"));
        isp.arg(d.join("isp.sock")).arg(d.join("isp.log"));
        if let Some(ms) = o.session_ms {
            isp.arg("--session-ms").arg(ms.to_string());
        }
        let isp = isp.spawn().unwrap();
        // Listening, not just bound: the file exists a moment before listen(2).
        assert!(eventually(Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(d.join("isp.sock")).is_ok()
        }));
        let sleep = o
            .hook_sleep
            .map(|s| format!("sleep {s}\n"))
            .unwrap_or_default();
        write_exec(
            &d.join("hook"),
            &format!(
                "#!/bin/sh\necho \"$1 $2\" >> {}/hook.log\n{sleep}",
                d.display()
            ),
        );
        fs::write(
            d.join("pppoe.conf"),
            format!(
                "# test config\nETH=eth0\nUSER=acct\nPIDFILE={d}/pppoe.pid\nPPPD={d}/pppd\n\
                 RETRY_DELAY={}\nSTOP_TIMEOUT={}\nLOST_HOOK={d}/hook\n{}",
                o.retry_delay,
                o.stop_timeout,
                o.extra_conf,
                d = d.display()
            ),
        )
        .unwrap();
        World {
            dir,
            isp,
            extra_env: Vec::new(),
        }
    }

    /// A world whose pppd ignores TERM (only KILL ends it), under a loop
    /// that waits `stop_timeout` for it.
    pub fn with_pppd_deaf_to_term(stop_timeout: &'static str) -> World {
        let mut w = World::new(Opts {
            stop_timeout,
            ..Opts::default()
        });
        w.extra_env
            .push(("PPPD_STANDIN_IGNORE_TERM".into(), "1".into()));
        w
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn conf(&self) -> PathBuf {
        self.path("pppoe.conf")
    }

    pub fn cmd(&self, prog: &str) -> Command {
        self.env_cmd(bin(prog))
    }

    /// Any program, with the stand-in's environment.
    pub fn env_cmd(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(prog);
        c.env("PPPD_STANDIN_ISP", self.path("isp.sock"))
            .env("PPPD_STANDIN_LOG", self.path("pppd.log"))
            .stdin(Stdio::null());
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    /// pppoe-connect CONFIG as our child, stderr to `connect.err`.
    pub fn connect(&self) -> Child {
        let err = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path("connect.err"))
            .unwrap();
        self.cmd("pppoe-connect")
            .arg(self.conf())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap()
    }

    pub fn stop(&self, extra: &[&str]) -> Output {
        self.cmd("pppoe-stop")
            .arg(self.conf())
            .args(extra)
            .output()
            .unwrap()
    }

    pub fn isp(&self, line: &str) -> String {
        crate::isp::control(&self.path("isp.sock"), line)
    }

    /// Accounts with a session, as `acct=PID` words.
    pub fn sessions(&self) -> Vec<String> {
        self.isp("STATUS")
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect()
    }

    pub fn read(&self, name: &str) -> String {
        fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    pub fn state(&self) -> String {
        self.read("pppoe.pid.state").trim().to_string()
    }

    pub fn hook_lines(&self) -> Vec<String> {
        self.read("hook.log").lines().map(str::to_string).collect()
    }

    /// Live (not zombie) processes whose argv[0] is this world's pppd.
    pub fn live_pppds(&self) -> Vec<i32> {
        let me = self.path("pppd");
        live_with_argv0(me.to_str().unwrap())
    }

    /// pppd's pid, once the loop has written it.
    pub fn pppd_pid(&self) -> i32 {
        let mut pid = 0;
        assert!(eventually(Duration::from_secs(20), || {
            pid = self.read("pppoe.pid.pppd").trim().parse().unwrap_or(0);
            pid > 0
        }));
        pid
    }

    pub fn wait_session(&self) -> bool {
        eventually(Duration::from_secs(20), || !self.sessions().is_empty())
    }

    /// Everything a completed stop promises: no loop, no pppd, no pid
    /// files, lock free, no session at the ISP.
    pub fn assert_all_gone(&self, why: &str) {
        let pid = self.path("pppoe.pid");
        assert!(
            !upkeep::lock::is_held(&pid).unwrap(),
            "{why}: lock still held"
        );
        for f in ["pppoe.pid", "pppoe.pid.pppd", "pppoe.pid.state"] {
            assert!(!self.path(f).exists(), "{why}: {f} left behind");
        }
        assert_eq!(
            self.live_pppds(),
            Vec::<i32>::new(),
            "{why}: pppd left running"
        );
        assert_eq!(
            self.sessions(),
            Vec::<String>::new(),
            "{why}: ISP still has a session"
        );
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // A failed test may leave a loop behind: do not let it outlive us.
        for p in live_loops(self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        for p in self.live_pppds() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.isp.kill();
        let _ = self.isp.wait();
    }
}

/// Is pid alive and not a zombie?
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit(')').next().unwrap_or("").split_whitespace().next();
            !matches!(state, Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

pub fn live_with_argv0(argv0: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let first = cmd.split(|&b| b == 0).next().unwrap_or(&[]);
        if first == argv0.as_bytes() && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Wait for a child with a deadline; its exit code (None: still running).
pub fn wait_child(c: &mut Child, limit: Duration) -> Option<i32> {
    crate::common::exited(c, limit).map(|s| s.code().unwrap_or(-1))
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?} stdout {:?} stderr {:?}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Loops for this world's config that are alive (also those started
/// detached). A loop's child between fork and exec still looks like a
/// loop: not counted.
pub fn live_loops(w: &World) -> Vec<i32> {
    let conf = w.conf().display().to_string();
    let found: Vec<i32> = live_with_argv0(bin("pppoe-connect").to_str().unwrap())
        .into_iter()
        .filter(|p| {
            fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&conf))
                .unwrap_or(false)
        })
        .collect();
    let ppid = |p: i32| crate::common::ppid(p as u32) as i32;
    found
        .iter()
        .copied()
        .filter(|p| !found.contains(&ppid(*p)))
        .collect()
}
