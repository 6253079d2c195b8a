//! Cutting input into lines and carrying out the actions on each, exactly as
//! daemontools: at most 1000 bytes (timestamp included) are held as "the
//! line" that patterns, `e` and `=` see; the rest of a longer line streams
//! straight to the directories that selected it.

use std::io::Write;

use super::script::{self, Action};
use super::Multilog;
use crate::tai64::Tai64N;

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
                let (part, ended) = match data.iter().position(|&c| c == b'\n') {
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
                self.line
                    .extend_from_slice(Tai64N::now().to_hex().as_bytes());
                self.line.push(b' ');
            }
            let room = LINE_MAX - self.line.len();
            let window = &data[..data.len().min(room)];
            match window.iter().position(|&c| c == b'\n') {
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
