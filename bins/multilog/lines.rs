//! Cutting input into lines and carrying out the actions on each, exactly as
//! daemontools: at most 1000 bytes (timestamp included) are held as "the
//! line" that patterns, `e` and `=` see; the rest of a longer line streams
//! straight to the directories that selected it.

use std::io::Write;

use super::script::{self, Action};
use super::Multilog;
use upkeep::tai64::Tai64N;

/// daemontools' line buffer.
pub const LINE_MAX: usize = 1000;
/// `e` shows this much of a line.
const ALERT_MAX: usize = 200;

impl Multilog {
    /// Process bytes of input (any amount, any cut).
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.overflow {
                // The tail of an over-long line.
                let (part, ended) = match find_newline(data) {
                    Some(i) => (&data[..i], true),
                    None => (data, false),
                };
                for d in self.dirs.iter_mut().filter(|d| d.selected) {
                    d.queue.put_bytes(part);
                    if ended {
                        d.queue.put_bytes(b"\n");
                    }
                }
                data = &data[part.len() + usize::from(ended)..];
                self.overflow = !ended;
                continue;
            }
            if self.line.is_empty() && self.script.timestamp {
                // Stamped when the line's first byte arrives.
                self.line.push(b'@');
                self.line.extend_from_slice(&Tai64N::now().hex_digits());
                self.line.push(b' ');
            }
            let room = LINE_MAX - self.line.len();
            let window = &data[..data.len().min(room)];
            match find_newline(window) {
                Some(i) => {
                    self.line.extend_from_slice(&window[..i]);
                    data = &data[i + 1..];
                    self.act();
                    self.end_line();
                }
                None => {
                    self.line.extend_from_slice(window);
                    data = &data[window.len()..];
                    if self.line.len() == LINE_MAX {
                        self.act();
                        self.overflow = true;
                        self.line.clear();
                    }
                }
            }
        }
    }

    /// End of input: a partial last line gets its newline.
    pub fn end_of_input(&mut self) {
        if self.overflow {
            for d in self.dirs.iter_mut().filter(|d| d.selected) {
                d.queue.put_bytes(b"\n");
            }
            self.overflow = false;
        } else if !self.line.is_empty() {
            self.act();
            self.end_line();
        }
    }

    /// Is a line in progress (bytes read since the last newline)?
    pub fn mid_line(&self) -> bool {
        self.overflow || !self.line.is_empty()
    }

    fn end_line(&mut self) {
        for d in self.dirs.iter_mut().filter(|d| d.selected) {
            d.queue.put_bytes(b"\n");
        }
        self.line.clear();
    }

    /// Carry out the script on the line held, and hand it to the selected
    /// directories.
    fn act(&mut self) {
        let line = &self.line[..];
        let mut selected = true;
        for action in &self.script.actions {
            match action {
                Action::Select(p) => {
                    if !selected && script::matches(p, line) {
                        selected = true;
                    }
                }
                Action::Deselect(p) => {
                    if selected && script::matches(p, line) {
                        selected = false;
                    }
                }
                Action::Alert => {
                    if selected {
                        alert(line);
                    }
                }
                Action::Status(k) => {
                    if selected {
                        self.status[*k].set(line);
                    }
                }
                Action::Dir(k) => self.dirs[*k].selected = selected,
            }
        }
        for d in self.dirs.iter_mut().filter(|d| d.selected) {
            d.queue.put(line);
        }
    }
}

/// The first newline in `data`, eight bytes at a time (the hot loop of a
/// busy logger).
pub fn find_newline(data: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut words = data.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_ne_bytes(w) ^ NEWLINES;
        // Some byte of x is zero exactly when this is non-zero.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return word.iter().position(|&c| c == b'\n').map(|i| at + i);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&c| c == b'\n')
        .map(|i| at + i)
}

/// `e`: the first 200 bytes of the line on stderr, `...` marking a cut.
/// A failing stderr must not stop logging, so errors are ignored.
fn alert(line: &[u8]) {
    let mut msg = Vec::with_capacity(ALERT_MAX + 4);
    if line.len() > ALERT_MAX {
        msg.extend_from_slice(&line[..ALERT_MAX]);
        msg.extend_from_slice(b"...\n");
    } else {
        msg.extend_from_slice(line);
        msg.push(b'\n');
    }
    let _ = std::io::stderr().write_all(&msg);
}

#[cfg(test)]
mod tests {
    use super::find_newline;

    #[test]
    fn finds_the_first_newline_anywhere() {
        for len in 0..40 {
            for at in 0..len {
                let mut v = vec![b'x'; len];
                v[at] = b'\n';
                if at + 3 < len {
                    v[at + 3] = b'\n';
                }
                assert_eq!(find_newline(&v), Some(at), "len {len} at {at}");
            }
            // Bytes with the high bit set are not newlines.
            assert_eq!(find_newline(&vec![0x8a; len]), None);
            assert_eq!(find_newline(&vec![b'x'; len]), None);
        }
    }
}
