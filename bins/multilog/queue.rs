//! Bytes waiting to go into a log directory, cut into the same write calls
//! daemontools makes (a 512-byte buffer per directory, flushed before every
//! read of input). Where a log file ends depends on those cuts, so keeping
//! them identical keeps rotated files identical to daemontools' own.
//!
//! Nothing leaves the queue until it is written: a failed write leaves it
//! where it was, which is how multilog never loses a line.

use std::collections::VecDeque;

/// daemontools' per-directory output buffer.
const BUFFER: usize = 512;
/// daemontools' largest single write of an oversized put.
const OUTSIZE: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Write this many bytes (the next ones in the queue), as one c_write
    /// sequence.
    Write(usize),
    /// SIGALRM: rotate now if `current` is not empty.
    Rotate,
    /// End of input: `current` to disk and mode 0744.
    Close,
}

#[derive(Default)]
pub struct OutQueue {
    data: Vec<u8>,
    /// Bytes of `data` already written.
    pos: usize,
    /// The unflushed tail of `data` (daemontools' buffer contents).
    buffered: usize,
    ops: VecDeque<Op>,
}

impl OutQueue {
    /// buffer_put: small puts collect in the buffer; one that does not fit
    /// flushes it first, and one larger than the buffer is written at once.
    pub fn put(&mut self, bytes: &[u8]) {
        if bytes.len() > BUFFER - self.buffered {
            self.flush();
            if bytes.len() > BUFFER {
                for chunk in bytes.chunks(OUTSIZE) {
                    self.data.extend_from_slice(chunk);
                    self.ops.push_back(Op::Write(chunk.len()));
                }
                return;
            }
        }
        self.data.extend_from_slice(bytes);
        self.buffered += bytes.len();
    }

    /// A run of buffer_PUTC calls: bytes go into the buffer, which is flushed
    /// whenever it is full and another byte comes.
    pub fn put_bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.buffered == BUFFER {
                self.flush();
            }
            let n = bytes.len().min(BUFFER - self.buffered);
            self.data.extend_from_slice(&bytes[..n]);
            self.buffered += n;
            bytes = &bytes[n..];
        }
    }

    pub fn flush(&mut self) {
        if self.buffered > 0 {
            self.ops.push_back(Op::Write(self.buffered));
            self.buffered = 0;
        }
    }

    pub fn push(&mut self, op: Op) {
        self.ops.push_back(op);
    }

    pub fn front(&self) -> Option<Op> {
        self.ops.front().copied()
    }

    /// The bytes of the `Write`s at the front, one slice per write call
    /// daemontools would make, up to the first `Rotate` or `Close`.
    pub fn front_writes(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = self.pos;
        self.ops.iter().map_while(move |op| match *op {
            Op::Write(n) => {
                let bytes = &self.data[at..at + n];
                at += n;
                Some(bytes)
            }
            _ => None,
        })
    }

    /// `n` bytes from the front are on disk (across `Write`s, never past
    /// a `Rotate` or `Close`).
    pub fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(Op::Write(len)) = self.ops.front_mut() else {
                break;
            };
            let k = n.min(*len);
            *len -= k;
            self.pos += k;
            n -= k;
            if *len == 0 {
                self.ops.pop_front();
            }
        }
        self.compact();
    }

    /// The next `n` queued bytes (`n` no more than the front `Write`s hold).
    pub fn front_run(&self, n: usize) -> &[u8] {
        &self.data[self.pos..(self.pos + n).min(self.data.len())]
    }

    /// Drop a finished `Rotate` or `Close`.
    pub fn pop_marker(&mut self) {
        if matches!(self.ops.front(), Some(Op::Rotate | Op::Close)) {
            self.ops.pop_front();
        }
    }

    pub fn is_idle(&self) -> bool {
        self.ops.is_empty()
    }

    fn compact(&mut self) {
        if self.ops.is_empty() && self.pos > 0 {
            self.data.drain(..self.pos);
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(q: &mut OutQueue) -> Vec<usize> {
        let mut out = Vec::new();
        while let Some(Op::Write(n)) = q.front() {
            out.push(n);
            q.consume(n);
        }
        out
    }

    #[test]
    fn cuts_like_daemontools_buffer() {
        let mut q = OutQueue::default();
        q.put(&[b'a'; 300]);
        q.put_bytes(b"\n");
        q.put(&[b'b'; 300]); // does not fit: flush 301 first
        q.put(&[b'c'; 700]); // flush 300, then written at once
        q.put_bytes(&[b'd'; 600]); // 512 fill, flush, 88 left
        q.flush();
        assert_eq!(writes(&mut q), vec![301, 300, 700, 512, 88]);
        assert!(q.is_idle());
    }
}
