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
//! Usage: `isp SOCKET LOG [--session-ms N]` (sessions end after N ms, as
//! if the line dropped). Log lines: `UNIX_MS EVENT USER PID [DETAIL]`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;

struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    session: Option<(String, String, Instant)>,
    closed: bool,
}

pub fn main(args: &[String]) -> i32 {
    if args.len() < 3 {
        eprintln!("isp: usage: isp SOCKET LOG [--session-ms N]");
        return 100;
    }
    let limit = args
        .iter()
        .position(|a| a == "--session-ms")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
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
        let timeout = limit.and_then(|l| {
            clients
                .iter()
                .filter_map(|c| {
                    c.session
                        .as_ref()
                        .map(|s| (s.2 + l).saturating_duration_since(now))
                })
                .min()
        });
        let ready = {
            let mut fds = vec![sigfd.as_fd(), listener.as_fd()];
            fds.extend(clients.iter().map(|c| c.stream.as_fd()));
            upkeep::event::wait_readable(&fds, timeout).unwrap()
        };
        if ready[0] {
            return 0;
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
            if !ready[2 + i] || clients[i].closed {
                continue;
            }
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
                            write_log("REFUSE", user, pid, "maintenance");
                            let _ = c.stream.write_all(b"REFUSE maintenance\n");
                            c.closed = true;
                        } else if held.contains_key(*user) {
                            write_log("REFUSE", user, pid, "busy");
                            let _ = c.stream.write_all(b"REFUSE busy\n");
                            c.closed = true;
                        } else {
                            write_log("GRANT", user, pid, &next_id.to_string());
                            let _ = c.stream.write_all(format!("GRANT {next_id}\n").as_bytes());
                            next_id += 1;
                            held.insert(user.to_string(), i);
                            c.session = Some((user.to_string(), pid.to_string(), Instant::now()));
                        }
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
        if ready[1] {
            while let Ok((s, _)) = listener.accept() {
                s.set_nonblocking(true).unwrap();
                clients.push(Client {
                    stream: s,
                    buf: Vec::new(),
                    session: None,
                    closed: false,
                });
            }
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
