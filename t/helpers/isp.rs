//! ISP simulator: grants ONE PPPoE session per account, refuses a second,
//! has a maintenance switch (drop every session, refuse new ones), and logs
//! who held the session when. Line protocol over a unix stream socket:
//!
//! - pppd: `DIAL USER PID` → `GRANT N` | `REFUSE busy|maintenance`; later
//!   `HANGUP` → `BYE` (a clean PADT); the ISP may send `DROP REASON` and
//!   close. A connection that closes without HANGUP is logged `LOST`.
//! - control: `STATUS` → `SESSIONS USER=PID ...`; `MAINT on|off`;
//!   `DROP USER` → `OK`.
//!
//! - pppd keepalive (pppd's LCP echo): `ECHO` → `ECHO-REPLY`.
//!
//! Usage: `isp SOCKET LOG [--session-ms N] [--listen tcp:IP:PORT]
//! [--dead-ms N]`: sessions end after N ms, as if the line dropped;
//! `--listen` also takes pppd connections over TCP (control stays on
//! SOCKET); `--dead-ms`: a session whose pppd sent nothing for N ms is
//! dropped as dead (its link was cut), as an access concentrator's own LCP
//! echo would. Log lines: `UNIX_MS EVENT USER PID [DETAIL]`; a DIAL's
//! answer (GRANT, REFUSE) ends with `from=PEER` (the dialler's IP, or
//! `local` over the unix socket).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;

use crate::conn::{tcp_addr, Conn};

struct Client {
    stream: Conn,
    buf: Vec<u8>,
    last_seen: Instant,
    session: Option<(String, String, Instant)>,
    closed: bool,
    /// Where the connection came from (an IP, or `local`): logged with
    /// each DIAL's answer, so a reader can tell which gateway dialled.
    peer: String,
}

pub fn main(args: &[String]) -> i32 {
    if args.len() < 3 {
        eprintln!(
            "isp: usage: isp SOCKET LOG [--session-ms N] [--listen tcp:IP:PORT] [--dead-ms N]"
        );
        return 100;
    }
    let option = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let millis = |name: &str| {
        option(name)
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    };
    let limit = millis("--session-ms");
    let dead = millis("--dead-ms");
    let tcp = match option("--listen").map(|a| (a, tcp_addr(a))) {
        None => None,
        Some((_, Some(sa))) => {
            let l = TcpListener::bind(sa).expect("bind tcp");
            l.set_nonblocking(true).unwrap();
            Some(l)
        }
        Some((a, None)) => {
            eprintln!("isp: --listen wants tcp:IP:PORT, not {a}");
            return 100;
        }
    };
    let _ = std::fs::remove_file(&args[1]);
    let listener = UnixListener::bind(&args[1]).expect("bind");
    listener.set_nonblocking(true).unwrap();
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args[2])
        .expect("log");
    let sigfd = upkeep::event::signal_fd(&[Signal::SIGTERM, Signal::SIGINT]).unwrap();
    let mut clients: Vec<Client> = Vec::new();
    let mut held: HashMap<String, usize> = HashMap::new();
    let mut maintenance = false;
    let mut next_id = 1u64;
    let mut write_log = |ev: &str, user: &str, pid: &str, detail: &str| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let _ = writeln!(log, "{ms} {ev} {user} {pid} {detail}");
    };
    loop {
        let now = Instant::now();
        let timeout = clients
            .iter()
            .filter_map(|c| {
                let s = c.session.as_ref()?;
                let ends = [limit.map(|l| s.2 + l), dead.map(|d| c.last_seen + d)];
                ends.into_iter().flatten().min()
            })
            .map(|t| t.saturating_duration_since(now))
            .min();
        let ready = {
            let mut fds = vec![sigfd.as_fd(), listener.as_fd()];
            fds.extend(tcp.as_ref().map(|l| l.as_fd()));
            fds.extend(clients.iter().map(|c| c.stream.as_fd()));
            upkeep::event::wait_readable(&fds, timeout).unwrap()
        };
        if ready[0] {
            return 0;
        }
        let first_client = if tcp.is_some() { 3 } else { 2 };
        // A session whose pppd went silent: its link is gone.
        if let Some(d) = dead {
            for c in clients.iter_mut() {
                if let Some((u, p, _)) = &c.session {
                    if c.last_seen.elapsed() >= d {
                        write_log("DROP", u, p, "dead");
                        let _ = c.stream.write_all(b"DROP dead\n");
                        held.remove(u);
                        c.session = None;
                        c.closed = true;
                    }
                }
            }
        }
        // Session time limit: the line "drops".
        if let Some(l) = limit {
            for c in clients.iter_mut() {
                if let Some((u, p, t)) = &c.session {
                    if t.elapsed() >= l {
                        write_log("DROP", u, p, "limit");
                        let _ = c.stream.write_all(b"DROP limit\n");
                        held.remove(u);
                        c.session = None;
                        c.closed = true;
                    }
                }
            }
        }
        // Existing connections before new ones: what happened before a
        // STATUS query is reflected in its answer.
        for i in 0..clients.len() {
            if !ready[first_client + i] || clients[i].closed {
                continue;
            }
            clients[i].last_seen = Instant::now();
            let mut eof = false;
            let mut chunk = [0u8; 512];
            loop {
                match clients[i].stream.read(&mut chunk) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => clients[i].buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
            while let Some(nl) = clients[i].buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = clients[i].buf.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line).trim().to_string();
                let words: Vec<&str> = line.split_whitespace().collect();
                let c = &mut clients[i];
                match words.as_slice() {
                    ["DIAL", user, pid] => {
                        if maintenance {
                            write_log("REFUSE", user, pid, &format!("maintenance from={}", c.peer));
                            let _ = c.stream.write_all(b"REFUSE maintenance\n");
                            c.closed = true;
                        } else if held.contains_key(*user) {
                            write_log("REFUSE", user, pid, &format!("busy from={}", c.peer));
                            let _ = c.stream.write_all(b"REFUSE busy\n");
                            c.closed = true;
                        } else {
                            write_log("GRANT", user, pid, &format!("{next_id} from={}", c.peer));
                            let _ = c.stream.write_all(format!("GRANT {next_id}\n").as_bytes());
                            next_id += 1;
                            held.insert(user.to_string(), i);
                            c.session = Some((user.to_string(), pid.to_string(), Instant::now()));
                        }
                    }
                    ["ECHO"] => {
                        let _ = c.stream.write_all(b"ECHO-REPLY\n");
                    }
                    ["HANGUP"] => {
                        if let Some((u, p, _)) = c.session.take() {
                            write_log("HANGUP", &u, &p, "");
                            held.remove(&u);
                        }
                        let _ = c.stream.write_all(b"BYE\n");
                        c.closed = true;
                    }
                    ["STATUS"] => {
                        let mut s = String::from("SESSIONS");
                        let mut v: Vec<_> = held.keys().cloned().collect();
                        v.sort();
                        for u in v {
                            let pid = clients_pid(&clients, held[&u]);
                            s.push_str(&format!(" {u}={pid}"));
                        }
                        s.push('\n');
                        let c = &mut clients[i];
                        let _ = c.stream.write_all(s.as_bytes());
                        c.closed = true;
                    }
                    ["MAINT", onoff] => {
                        maintenance = *onoff == "on";
                        write_log("MAINT", "-", "-", onoff);
                        if maintenance {
                            for c in clients.iter_mut() {
                                if let Some((u, p, _)) = c.session.take() {
                                    write_log("DROP", &u, &p, "maintenance");
                                    let _ = c.stream.write_all(b"DROP maintenance\n");
                                    held.remove(&u);
                                    c.closed = true;
                                }
                            }
                        }
                        let c = &mut clients[i];
                        let _ = c.stream.write_all(b"OK\n");
                        c.closed = true;
                    }
                    ["DROP", user] => {
                        if let Some(&j) = held.get(*user) {
                            if let Some((u, p, _)) = clients[j].session.take() {
                                write_log("DROP", &u, &p, "admin");
                                let _ = clients[j].stream.write_all(b"DROP admin\n");
                                clients[j].closed = true;
                            }
                            held.remove(*user);
                        }
                        let c = &mut clients[i];
                        let _ = c.stream.write_all(b"OK\n");
                        c.closed = true;
                    }
                    _ => {
                        let _ = clients[i].stream.write_all(b"ERROR\n");
                        clients[i].closed = true;
                    }
                }
            }
            if eof {
                let c = &mut clients[i];
                if let Some((u, p, _)) = c.session.take() {
                    write_log("LOST", &u, &p, "");
                    held.remove(&u);
                }
                c.closed = true;
            }
        }
        // Drop closed connections, keeping `held` indexes right.
        if clients.iter().any(|c| c.closed) {
            let mut kept = Vec::new();
            for c in clients.drain(..) {
                if !c.closed {
                    kept.push(c);
                }
            }
            clients = kept;
            held.clear();
            for (i, c) in clients.iter().enumerate() {
                if let Some((u, _, _)) = &c.session {
                    held.insert(u.clone(), i);
                }
            }
        }
        let mut accepted: Vec<(Conn, String)> = Vec::new();
        if ready[1] {
            while let Ok((s, _)) = listener.accept() {
                accepted.push((Conn::Unix(s), "local".into()));
            }
        }
        if let Some(l) = tcp.as_ref().filter(|_| ready[2]) {
            while let Ok((s, addr)) = l.accept() {
                let _ = s.set_nodelay(true);
                accepted.push((Conn::Tcp(s), addr.ip().to_string()));
            }
        }
        for (s, peer) in accepted {
            s.set_nonblocking(true).unwrap();
            clients.push(Client {
                stream: s,
                buf: Vec::new(),
                last_seen: Instant::now(),
                session: None,
                closed: false,
                peer,
            });
        }
    }
}

fn clients_pid(clients: &[Client], i: usize) -> String {
    clients
        .get(i)
        .and_then(|c| c.session.as_ref())
        .map(|s| s.1.clone())
        .unwrap_or_default()
}

/// Send one control line, return the answer line.
pub fn control(socket: &std::path::Path, line: &str) -> String {
    // The socket file exists from bind(2), a moment before listen(2): a
    // loaded machine can connect in between. Retry briefly.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        match UnixStream::connect(socket) {
            Ok(s) => break s,
            Err(e)
                if Instant::now() < deadline
                    && e.kind() != std::io::ErrorKind::PermissionDenied =>
            {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("connect to isp: {e}"),
        }
    };
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.trim().to_string()
}
