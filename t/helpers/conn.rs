//! A stream to or from the ISP simulator: a unix socket (one machine) or TCP
//! (the gateway rig, over the ISP link, so that cutting the link cuts it).
//! Addresses: a path, or `tcp:IP:PORT`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

pub enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

/// `tcp:IP:PORT` → the socket address; anything else is a unix socket path.
pub fn tcp_addr(addr: &str) -> Option<SocketAddr> {
    addr.strip_prefix("tcp:").and_then(|a| a.parse().ok())
}

impl Conn {
    /// Connect, giving up after `limit` (a SYN into a cut link is never
    /// answered).
    pub fn connect(addr: &str, limit: Duration) -> std::io::Result<Conn> {
        match tcp_addr(addr) {
            Some(sa) => {
                let s = TcpStream::connect_timeout(&sa, limit)?;
                s.set_nodelay(true)?;
                Ok(Conn::Tcp(s))
            }
            None => UnixStream::connect(addr).map(Conn::Unix),
        }
    }

    pub fn set_nonblocking(&self, on: bool) -> std::io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_nonblocking(on),
            Conn::Tcp(s) => s.set_nonblocking(on),
        }
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(t),
            Conn::Tcp(s) => s.set_read_timeout(t),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Conn::Unix(s) => s.as_fd(),
            Conn::Tcp(s) => s.as_fd(),
        }
    }
}
