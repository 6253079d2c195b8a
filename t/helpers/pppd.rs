//! Stand-in pppd (this kernel has no PPP). Accepts pppd's argv (unknown
//! options: exit 2 like pppd), dials the ISP simulator (isp.rs) over its
//! socket, holds the session while alive, and exits with pppd's codes:
//! 5 after hanging up cleanly on SIGTERM/SIGINT/SIGHUP, 16 when the ISP
//! drops the line (or cannot be reached), 19 when the ISP refuses.
//!
//! Environment: PPPD_STANDIN_ISP (required: a unix socket path, or
//! `tcp:IP:PORT` to reach the ISP over a network link), PPPD_STANDIN_LOG
//! (append `UNIX_MS PID EVENT ...` lines), PPPD_STANDIN_DIAL_MS (time to
//! negotiate before asking the ISP), PPPD_STANDIN_EXIT (exit at once with
//! this code, e.g. 4 = no kernel PPP), PPPD_STANDIN_IGNORE_TERM (ignore
//! SIGTERM, to test SIGKILL escalation), PPPD_STANDIN_IP_UP /
//! PPPD_STANDIN_IP_DOWN (scripts run as pppd runs ip-up/ip-down:
//! `ifname tty speed local remote ipparam`), PPPD_STANDIN_ECHO_MS (LCP
//! echo: send `ECHO` this often while up; after three periods without a
//! word from the ISP the link is dead: exit 16, as pppd's
//! lcp-echo-failure does), PPPD_STANDIN_ARGV (write the arguments there,
//! each followed by a NUL, before anything else, so a test can check
//! exactly what pppd was given), PPPD_STANDIN_IP_UP_DAEMON (a flag file:
//! if it exists when the link comes up, start a daemon as an ip-up script
//! might — `sleep SECONDS` (the file's number, else 15) in a session of its
//! own, inheriting every descriptor pppd did not mark close-on-exec — and
//! remove the flag, so one daemon per flag). After `plugin`, a `nic-IFNAME` word is
//! accepted as rp-pppoe.so accepts it.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::conn::Conn;

use nix::sys::signal::Signal;

const WITH_ARG: &[&str] = &[
    "pty",
    "user",
    "mtu",
    "mru",
    "lcp-echo-interval",
    "lcp-echo-failure",
    "unit",
    "ipparam",
    "linkname",
    "idle",
    "holdoff",
    "maxfail",
    "plugin",
    "connect",
    "remotename",
    "name",
    "password",
    "file",
    "logfile",
    "rp_pppoe_service",
    "rp_pppoe_ac",
    "nic",
    "asyncmap",
    "ms-dns",
];
const FLAGS: &[&str] = &[
    "noipdefault",
    "noauth",
    "default-asyncmap",
    "defaultroute",
    "hide-password",
    "nodetach",
    "noaccomp",
    "nodeflate",
    "nopcomp",
    "novj",
    "novjccomp",
    "persist",
    "nopersist",
    "debug",
    "usepeerdns",
    "sync",
    "demand",
    "ktune",
    "ipcp-accept-local",
    "ipcp-accept-remote",
    "noccp",
    "nobsdcomp",
    "updetach",
    "replacedefaultroute",
    "noipv6",
    "+ipv6",
    "lock",
    "nolock",
    "kdebug",
];

fn log(line: &str) {
    if let Some(path) = std::env::var_os("PPPD_STANDIN_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis();
            let _ = writeln!(f, "{ms} {} {line}", std::process::id());
        }
    }
}

fn finish(code: i32, why: &str) -> i32 {
    log(&format!("exit {code} {why}"));
    code
}

fn script(var: &str, ipparam: &str) {
    if let Some(p) = std::env::var_os(var) {
        let _ = std::process::Command::new(p)
            .args([
                "ppp0",
                "/dev/pts/0",
                "0",
                "198.18.0.2",
                "198.18.0.1",
                ipparam,
            ])
            .status();
    }
}

/// See PPPD_STANDIN_IP_UP_DAEMON in the module's doc.
fn ip_up_daemon() {
    let Some(flag) = std::env::var_os("PPPD_STANDIN_IP_UP_DAEMON") else {
        return;
    };
    let Ok(text) = std::fs::read_to_string(&flag) else {
        return;
    };
    let _ = std::fs::remove_file(&flag);
    let secs: u32 = text.trim().parse().unwrap_or(15);
    // std opens its own descriptors close-on-exec, so the daemon gets just
    // what pppd inherited: stdio and anything its parent leaked.
    match std::process::Command::new("setsid")
        .arg("sleep")
        .arg(secs.to_string())
        .spawn()
    {
        Ok(c) => log(&format!("ip-up daemon {}", c.id())),
        Err(e) => log(&format!("ip-up daemon not started: {e}")),
    }
}

fn record_argv(args: &[String]) {
    if let Some(path) = std::env::var_os("PPPD_STANDIN_ARGV") {
        let mut all = Vec::new();
        for a in &args[1..] {
            all.extend_from_slice(a.as_bytes());
            all.push(0);
        }
        let _ = std::fs::write(path, all);
    }
}

pub fn main(args: &[String]) -> i32 {
    record_argv(args);
    let mut plugin = false;
    let mut user = String::from("nobody");
    let mut ipparam = String::new();
    let mut nodetach = false;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        if WITH_ARG.contains(&a) {
            let Some(v) = args.get(i + 1) else {
                eprintln!("pppd: option '{a}' requires an argument");
                return finish(2, "options");
            };
            match a {
                "plugin" => plugin = true,
                "user" => user = v.clone(),
                "ipparam" => ipparam = v.clone(),
                _ => {}
            }
            i += 2;
        } else if FLAGS.contains(&a) {
            nodetach |= a == "nodetach";
            i += 1;
        } else if plugin && a.starts_with("nic-") {
            i += 1;
        } else {
            eprintln!("pppd: unrecognized option '{a}'");
            return finish(2, "options");
        }
    }
    log(&format!("start user={user} nodetach={nodetach}"));
    if !nodetach {
        // pppd detaches unless told not to: run on in the background.
        let mut argv = args[1..].to_vec();
        argv.push("nodetach".into());
        let me = std::env::current_exe().unwrap();
        return match std::process::Command::new(&args[0]).args(&argv).spawn() {
            Ok(_) => finish(0, "detached"),
            Err(e) => {
                eprintln!("pppd: cannot detach ({}): {e}", me.display());
                finish(1, "detach")
            }
        };
    }
    if let Some(code) = std::env::var("PPPD_STANDIN_EXIT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return finish(code, "as told");
    }
    let mut sigs = vec![Signal::SIGINT, Signal::SIGHUP];
    if std::env::var_os("PPPD_STANDIN_IGNORE_TERM").is_some() {
        upkeep::sys::ignore_signal(libc::SIGTERM);
    } else {
        sigs.push(Signal::SIGTERM);
    }
    let sigfd = upkeep::event::signal_fd(&sigs).unwrap();
    let dial = std::env::var("PPPD_STANDIN_DIAL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or_default();
    // Discovery and negotiation take a while; a signal ends them.
    if !dial.is_zero() && upkeep::event::wait_readable(&[sigfd.as_fd()], Some(dial)).unwrap()[0] {
        return finish(5, "signal while dialing");
    }
    let Some(sock) = std::env::var_os("PPPD_STANDIN_ISP") else {
        eprintln!("pppd: stand-in needs PPPD_STANDIN_ISP");
        return finish(1, "no isp");
    };
    let sock = sock.to_string_lossy().into_owned();
    let mut s = match connect(&sock, &sigfd) {
        None => return finish(5, "signal while dialing"),
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("pppd: no answer from the access concentrator: {e}");
            return finish(16, "no isp");
        }
    };
    let _ = s.write_all(format!("DIAL {user} {}\n", std::process::id()).as_bytes());
    let mut buf = Vec::new();
    let echo = std::env::var("PPPD_STANDIN_ECHO_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis);
    let mut heard = Instant::now();
    let mut line = |s: &mut Conn, buf: &mut Vec<u8>| -> Option<Option<String>> {
        // Some(Some(line)), Some(None) = EOF or a dead link, None = signal.
        loop {
            if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let l: Vec<u8> = buf.drain(..=nl).collect();
                let l = String::from_utf8_lossy(&l).trim().to_string();
                if l == "ECHO-REPLY" {
                    continue;
                }
                return Some(Some(l));
            }
            if echo.is_some_and(|e| heard.elapsed() >= e * 3) {
                log("lcp echo timeout");
                return Some(Some("DEAD echo".into()));
            }
            let r = upkeep::event::wait_readable(&[sigfd.as_fd(), s.as_fd()], echo).unwrap();
            if r[0] {
                return None;
            }
            if !r[1] {
                let _ = s.write_all(b"ECHO\n");
                continue;
            }
            let mut chunk = [0u8; 256];
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return Some(None),
                Ok(n) => {
                    heard = Instant::now();
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    };
    match line(&mut s, &mut buf) {
        None => {
            // Terminate the half-open session too (the ISP may have granted
            // it already).
            let _ = s.write_all(b"HANGUP\n");
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut rest = String::new();
            let _ = s.read_to_string(&mut rest);
            return finish(5, "signal while dialing");
        }
        Some(None) => return finish(16, "isp closed"),
        Some(Some(l)) if l.starts_with("DEAD") => return finish(16, "link dead"),
        Some(Some(l)) if l.starts_with("GRANT") => log(&format!("up {l}")),
        Some(Some(l)) => {
            eprintln!("pppd: authentication failed ({l})");
            return finish(19, &l);
        }
    }
    script("PPPD_STANDIN_IP_UP", &ipparam);
    ip_up_daemon();
    let code = match line(&mut s, &mut buf) {
        None => {
            // Terminate the link cleanly (PADT) and wait for the ISP.
            let _ = s.write_all(b"HANGUP\n");
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut rest = String::new();
            let _ = s.read_to_string(&mut rest);
            log("hangup");
            5
        }
        Some(l) => {
            log(&format!("down {}", l.unwrap_or_else(|| "eof".into())));
            16
        }
    };
    script("PPPD_STANDIN_IP_DOWN", &ipparam);
    finish(code, "")
}

/// Connect to the ISP; a signal (a stop) ends the attempt at once: None.
fn connect(addr: &str, sigfd: &impl AsFd) -> Option<std::io::Result<Conn>> {
    // connect(2) over a cut link blocks for its whole limit, so it runs in
    // a thread and the answer comes through a socket pair poll can watch.
    let (wake, waker) = UnixStream::pair().ok()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = addr.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(Conn::connect(&addr, Duration::from_secs(3)));
        let mut waker = waker;
        let _ = waker.write_all(b"x");
    });
    let r = upkeep::event::wait_readable(&[sigfd.as_fd(), wake.as_fd()], None).unwrap();
    if r[0] {
        return None;
    }
    rx.recv().ok()
}
