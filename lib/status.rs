//! supervise/status (daemontools' 18-byte record) and supervise/state
//! (upkeep's extended `key=value` text), and how to read them back.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::runtimefile;
use crate::tai64::Tai64N;

const STATUS_LEN: usize = 18;

/// What `want` byte 17 holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Up,
    Down,
    /// After `o`: run once, do not restart (byte 0).
    Once,
}

impl Want {
    fn byte(self) -> u8 {
        match self {
            Want::Up => b'u',
            Want::Down => b'd',
            Want::Once => 0,
        }
    }
    fn from_byte(b: u8) -> Want {
        match b {
            b'u' => Want::Up,
            b'd' => Want::Down,
            _ => Want::Once,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Want::Up => "up",
            Want::Down => "down",
            Want::Once => "once",
        }
    }
}

/// The daemontools status record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Time of the last pid change (start or exit of run).
    pub since: Tai64N,
    /// pid of run, 0 when down.
    pub pid: u32,
    pub paused: bool,
    pub want: Want,
}

impl Status {
    pub fn encode(&self) -> [u8; STATUS_LEN] {
        let mut b = [0u8; STATUS_LEN];
        b[..12].copy_from_slice(&self.since.to_bytes());
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        // daemontools reports paused only while there is a process.
        b[16] = u8::from(self.paused && self.pid != 0);
        b[17] = self.want.byte();
        b
    }

    fn decode(b: &[u8]) -> Option<Status> {
        if b.len() < STATUS_LEN {
            return None;
        }
        let mut t = [0u8; 12];
        t.copy_from_slice(&b[..12]);
        Some(Status {
            since: Tai64N::from_bytes(&t),
            pid: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            paused: b[16] != 0,
            want: Want::from_byte(b[17]),
        })
    }
}

/// supervise's phases, as named in the `state` file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Down,
    Starting,
    Up,
    Ready,
    Stopping,
    Finishing,
    Backoff,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Down => "down",
            Phase::Starting => "starting",
            Phase::Up => "up",
            Phase::Ready => "ready",
            Phase::Stopping => "stopping",
            Phase::Finishing => "finishing",
            Phase::Backoff => "backoff",
        }
    }
    fn from_name(s: &str) -> Option<Phase> {
        Some(match s {
            "down" => Phase::Down,
            "starting" => Phase::Starting,
            "up" => Phase::Up,
            "ready" => Phase::Ready,
            "stopping" => Phase::Stopping,
            "finishing" => Phase::Finishing,
            "backoff" => Phase::Backoff,
            _ => return None,
        })
    }
    /// run is alive in this phase.
    pub fn has_process(self) -> bool {
        matches!(
            self,
            Phase::Starting | Phase::Up | Phase::Ready | Phase::Stopping
        )
    }
}

/// upkeep's extended state (`supervise/state`). Readers ignore keys they do
/// not know, so new keys can be added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub phase: Phase,
    pub pid: u32,
    pub pgid: u32,
    pub since: Tai64N,
    pub want: Want,
    pub paused: bool,
    /// `CODE`, `signal:NAME`, `unknown`, or empty before the first exit.
    pub last_exit: String,
    pub restarts: u64,
    pub fast_failures: u32,
    pub next_start: Option<Tai64N>,
    /// ok | failed | timeout | none
    pub check: String,
    pub check_failures: u32,
    /// /proc start time of pid (clock ticks since boot), for adoption.
    pub starttime: u64,
    /// Why run is not started (a file that cannot be trusted), or empty.
    pub refused: String,
    /// This supervise wakes waiters through supervise/event/ (an older
    /// one, or none, leaves the key out).
    pub events: bool,
    /// The boot this supervise runs in (/proc/sys/kernel/random/boot_id).
    pub boot: String,
    /// Told to exit (`x`, or TERM): its want is no longer the operator's
    /// word for a successor.
    pub exiting: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            phase: Phase::Down,
            pid: 0,
            pgid: 0,
            since: Tai64N::default(),
            want: Want::Up,
            paused: false,
            last_exit: String::new(),
            restarts: 0,
            fast_failures: 0,
            next_start: None,
            check: "none".into(),
            check_failures: 0,
            starttime: 0,
            refused: String::new(),
            events: false,
            boot: String::new(),
            exiting: false,
        }
    }
}

impl State {
    pub fn encode(&self) -> String {
        let mut s = String::with_capacity(256);
        self.encode_into(&mut s);
        s
    }

    /// [`State::encode`] into `s` (cleared first): supervise reuses one
    /// buffer, so a restart allocates nothing here.
    pub fn encode_into(&self, s: &mut String) {
        // Hex digits are ASCII: from_utf8 cannot fail.
        let hex = |t: Tai64N| t.hex_digits();
        s.clear();
        let _ = writeln!(s, "state={}", self.phase.name());
        let _ = writeln!(s, "pid={}", self.pid);
        let _ = writeln!(s, "pgid={}", self.pgid);
        let since = hex(self.since);
        let _ = writeln!(
            s,
            "since={}",
            std::str::from_utf8(&since).unwrap_or_default()
        );
        let _ = writeln!(s, "want={}", self.want.name());
        let _ = writeln!(s, "paused={}", u8::from(self.paused));
        let _ = writeln!(s, "last_exit={}", self.last_exit);
        let _ = writeln!(s, "restarts={}", self.restarts);
        let _ = writeln!(s, "fast_failures={}", self.fast_failures);
        s.push_str("next_start=");
        if let Some(t) = self.next_start {
            s.push_str(std::str::from_utf8(&hex(t)).unwrap_or_default());
        }
        s.push('\n');
        let _ = writeln!(s, "check={}", self.check);
        let _ = writeln!(s, "check_failures={}", self.check_failures);
        let _ = writeln!(s, "starttime={}", self.starttime);
        // One line: a reason never holds a newline, but make sure.
        s.push_str("refused=");
        s.extend(
            self.refused
                .chars()
                .map(|c| if c == '\n' { ' ' } else { c }),
        );
        s.push('\n');
        let _ = writeln!(s, "events={}", u8::from(self.events));
        let _ = writeln!(s, "boot={}", self.boot);
        let _ = writeln!(s, "exiting={}", u8::from(self.exiting));
    }

    /// Parse a state file; `None` when it is not one (no valid `state=`).
    /// Unknown keys and bad values of optional keys are ignored.
    fn decode(text: &str) -> Option<State> {
        let mut st = State::default();
        let mut have_phase = false;
        for (k, v) in runtimefile::parse_key_values(text) {
            match k {
                "state" => {
                    st.phase = Phase::from_name(v)?;
                    have_phase = true;
                }
                "pid" => st.pid = v.parse().unwrap_or(0),
                "pgid" => st.pgid = v.parse().unwrap_or(0),
                "since" => st.since = Tai64N::from_hex(v).unwrap_or_default(),
                "want" => {
                    st.want = match v {
                        "up" => Want::Up,
                        "down" => Want::Down,
                        _ => Want::Once,
                    }
                }
                "paused" => st.paused = v == "1",
                "last_exit" => st.last_exit = v.to_string(),
                "restarts" => st.restarts = v.parse().unwrap_or(0),
                "fast_failures" => st.fast_failures = v.parse().unwrap_or(0),
                "next_start" => st.next_start = Tai64N::from_hex(v),
                "check" => st.check = v.to_string(),
                "check_failures" => st.check_failures = v.parse().unwrap_or(0),
                "starttime" => st.starttime = v.parse().unwrap_or(0),
                "refused" => st.refused = v.to_string(),
                "events" => st.events = v == "1",
                "boot" => st.boot = v.to_string(),
                "exiting" => st.exiting = v == "1",
                _ => {}
            }
        }
        have_phase.then_some(st)
    }
}

/// A status or state file's bytes (at most `limit`): only a regular file,
/// opened without blocking, is read. svstat and svc run as root on any
/// dir: a FIFO planted there must not hang them.
fn read_regular(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Read DIR/supervise/status. `Ok(None)` if it is shorter than 18 bytes.
pub fn read_status(service: &Path) -> io::Result<Option<Status>> {
    let bytes = read_regular(&service.join("supervise/status"), 64)?;
    Ok(Status::decode(&bytes))
}

/// Read DIR/supervise/state; `None` if missing or not a state file
/// (daemontools' supervise writes none).
pub fn read_state(service: &Path) -> Option<State> {
    let bytes = read_regular(&service.join("supervise/state"), 64 * 1024).ok()?;
    State::decode(&String::from_utf8_lossy(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_layout_is_daemontools() {
        let s = Status {
            since: Tai64N {
                secs: 0x4000_0000_0000_000a,
                nanos: 7,
            },
            pid: 0x0102_0304,
            paused: true,
            want: Want::Down,
        };
        let b = s.encode();
        assert_eq!(&b[..8], &[0x40, 0, 0, 0, 0, 0, 0, 0x0a]);
        assert_eq!(&b[8..12], &[0, 0, 0, 7]);
        assert_eq!(&b[12..16], &[4, 3, 2, 1]);
        assert_eq!(b[16], 1);
        assert_eq!(b[17], b'd');
        assert_eq!(Status::decode(&b), Some(s));
    }

    #[test]
    fn state_round_trips_and_ignores_unknown_keys() {
        let st = State {
            phase: Phase::Backoff,
            pid: 0,
            last_exit: "signal:KILL".into(),
            restarts: 3,
            next_start: Some(Tai64N::now()),
            events: true,
            boot: "0f5e3a52-8d7c-4b0e-9a61-2f4c8e1b7d90".into(),
            exiting: true,
            ..State::default()
        };
        let mut text = st.encode();
        text.push_str("future_key=whatever\n");
        assert_eq!(State::decode(&text), Some(st));
        assert_eq!(State::decode("garbage"), None);
    }
}
