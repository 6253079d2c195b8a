//! The two line filters around TAI64N labels: `tai64n` puts `@label ` in
//! front of every line, `tai64nlocal` turns such labels back into local
//! time (`YYYY-MM-DD HH:MM:SS.NNNNNNNNN`), exactly as daemontools prints it.

use std::io::{self, Read, Write};

use crate::sys;
use crate::tai64::Tai64N;

/// Output is flushed before every read, so a slow writer's lines come out
/// at once while a fast one gets big writes.
const CHUNK: usize = 65536;

fn read_some(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Which side failed, for the `unable to read input` / `unable to write
/// output` messages.
#[derive(Debug)]
pub enum FilterError {
    Read(io::Error),
    Write(io::Error),
}

/// tai64n: copy `input` to `output`, each line prefixed with `@`, the TAI64N
/// label of the moment its first byte was read, and a space. A partial last
/// line is copied as it is.
pub fn stamp_lines(
    input: &mut impl Read,
    output: &mut impl Write,
    mut now: impl FnMut() -> Tai64N,
) -> Result<(), FilterError> {
    let mut inbuf = vec![0u8; CHUNK];
    let mut out = Vec::with_capacity(CHUNK * 2);
    let mut line_start = true;
    loop {
        emit(output, &mut out)?;
        let n = read_some(input, &mut inbuf).map_err(FilterError::Read)?;
        if n == 0 {
            return Ok(());
        }
        let mut data = &inbuf[..n];
        while !data.is_empty() {
            if line_start {
                out.push(b'@');
                out.extend_from_slice(now().to_hex().as_bytes());
                out.push(b' ');
            }
            match data.iter().position(|&c| c == b'\n') {
                Some(i) => {
                    out.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    line_start = true;
                }
                None => {
                    out.extend_from_slice(data);
                    data = &[];
                    line_start = false;
                }
            }
        }
    }
}

/// daemontools' arithmetic for an `@` label of any number of lowercase hex
/// digits: the last 8 are nanoseconds, the rest seconds (wrapping).
#[derive(Default)]
struct Label {
    secs: u64,
    nanos: u32,
    digits: Vec<u8>,
}

impl Label {
    fn push(&mut self, digit: u8, value: u32) {
        self.secs = (self.secs << 4).wrapping_add(u64::from(self.nanos >> 28));
        self.nanos = ((self.nanos & 0x0fff_ffff) << 4) + value;
        self.digits.push(digit);
    }

    /// The local time, or the label itself when it names no representable
    /// time (daemontools would crash there).
    fn render(&self, out: &mut Vec<u8>) {
        // 2^62 + 10: daemontools' TAI label offset.
        let unix = (self.secs as i64).wrapping_sub((1 << 62) + 10);
        match sys::localtime(unix) {
            Some(t) => {
                let text = format!(
                    "{}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
                    t.year, t.month, t.day, t.hour, t.minute, t.second, self.nanos
                );
                out.extend_from_slice(text.as_bytes());
            }
            None => {
                out.push(b'@');
                out.extend_from_slice(&self.digits);
            }
        }
    }
}

fn hex_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'a'..=b'f' => Some(u32::from(c - b'a') + 10),
        _ => None,
    }
}

enum LocalState {
    LineStart,
    InLabel(Label),
    Copy,
}

/// Write and flush what has been converted so far, then start afresh:
/// each chunk reaches the reader as soon as it is read, as a filter should.
fn emit(output: &mut impl Write, out: &mut Vec<u8>) -> Result<(), FilterError> {
    if !out.is_empty() {
        output.write_all(out).map_err(FilterError::Write)?;
        output.flush().map_err(FilterError::Write)?;
        out.clear();
    }
    Ok(())
}

/// tai64nlocal: copy `input` to `output`, replacing an `@` label at the
/// start of a line with the local time it names. A label cut off by the end
/// of input is still converted (daemontools drops it).
pub fn localize(input: &mut impl Read, output: &mut impl Write) -> Result<(), FilterError> {
    let mut inbuf = vec![0u8; CHUNK];
    let mut out = Vec::with_capacity(CHUNK * 2);
    let mut state = LocalState::LineStart;
    loop {
        emit(output, &mut out)?;
        let n = read_some(input, &mut inbuf).map_err(FilterError::Read)?;
        if n == 0 {
            if let LocalState::InLabel(label) = &state {
                label.render(&mut out);
                emit(output, &mut out)?;
            }
            return Ok(());
        }
        let mut data = &inbuf[..n];
        while let Some((&c, rest)) = data.split_first() {
            match &mut state {
                LocalState::LineStart if c == b'@' => {
                    state = LocalState::InLabel(Label::default());
                    data = rest;
                }
                LocalState::InLabel(label) => {
                    if let Some(v) = hex_value(c) {
                        label.push(c, v);
                        data = rest;
                    } else {
                        label.render(&mut out);
                        state = LocalState::Copy;
                    }
                }
                _ => {
                    // Copy through the end of the line in one go.
                    match data.iter().position(|&b| b == b'\n') {
                        Some(i) => {
                            out.extend_from_slice(&data[..=i]);
                            data = &data[i + 1..];
                            state = LocalState::LineStart;
                        }
                        None => {
                            out.extend_from_slice(data);
                            data = &[];
                            state = LocalState::Copy;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_each_line_once() {
        let t = Tai64N {
            secs: 0x4000_0000_6000_0000,
            nanos: 5,
        };
        let mut out = Vec::new();
        stamp_lines(&mut &b"a\n\nb"[..], &mut out, || t).unwrap();
        let l = "@400000006000000000000005 ";
        assert_eq!(String::from_utf8(out).unwrap(), format!("{l}a\n{l}\n{l}b"));
    }

    #[test]
    fn label_arithmetic_matches_daemontools() {
        let mut l = Label::default();
        for &c in b"4000000060000000000000ff" {
            l.push(c, hex_value(c).unwrap());
        }
        assert_eq!(l.secs, 0x4000_0000_6000_0000);
        assert_eq!(l.nanos, 0xff);
    }
}
