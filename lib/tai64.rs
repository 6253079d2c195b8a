//! TAI64N timestamps, as daemontools stores and prints them.
//! The label is 2^62 + 10 + unix seconds (daemontools' fixed 10-second
//! TAI-UTC offset), then nanoseconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

const TAI_OFFSET: u64 = (1 << 62) + 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Tai64N {
    /// TAI64 label: 2^62 + 10 + unix seconds.
    pub secs: u64,
    pub nanos: u32,
}

impl Tai64N {
    pub fn now() -> Tai64N {
        Tai64N::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Tai64N {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Tai64N {
            secs: TAI_OFFSET + d.as_secs(),
            nanos: d.subsec_nanos(),
        }
    }

    /// Unix seconds (may be negative for labels before 1970). Any label
    /// is accepted, a garbage one too: the result saturates.
    fn unix_secs(&self) -> i64 {
        let secs = i128::from(self.secs) - i128::from(TAI_OFFSET);
        secs.clamp(i64::MIN.into(), i64::MAX.into()) as i64
    }

    /// The label as a SystemTime; the epoch when it cannot be one (a
    /// garbage label read from a file must not panic its reader).
    pub fn to_system(&self) -> SystemTime {
        let secs = self.unix_secs();
        let nanos = Duration::from_nanos(self.nanos.into());
        let t = if secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
        };
        t.and_then(|t| t.checked_add(nanos)).unwrap_or(UNIX_EPOCH)
    }

    /// The 12-byte external TAI64N format (big-endian seconds, nanoseconds).
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.secs.to_be_bytes());
        b[8..].copy_from_slice(&self.nanos.to_be_bytes());
        b
    }

    pub(crate) fn from_bytes(b: &[u8; 12]) -> Tai64N {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        let mut n = [0u8; 4];
        n.copy_from_slice(&b[8..]);
        Tai64N {
            secs: u64::from_be_bytes(s),
            nanos: u32::from_be_bytes(n),
        }
    }

    /// 24 lowercase hex digits, without the `@` (as in multilog file names
    /// and tai64n's output after the `@`).
    pub fn to_hex(&self) -> String {
        format!("{:016x}{:08x}", self.secs, self.nanos)
    }

    /// The same 24 digits as [`Tai64N::to_hex`], without allocating (for
    /// multilog's per-line stamps).
    pub fn hex_digits(&self) -> [u8; 24] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 24];
        for (i, d) in out[..16].iter_mut().enumerate() {
            *d = HEX[((self.secs >> (60 - 4 * i)) & 0xf) as usize];
        }
        for (i, d) in out[16..].iter_mut().enumerate() {
            *d = HEX[((self.nanos >> (28 - 4 * i)) & 0xf) as usize];
        }
        out
    }

    /// Parses 24 hex digits (no `@`).
    pub fn from_hex(s: &str) -> Option<Tai64N> {
        if s.len() != 24 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let secs = u64::from_str_radix(&s[..16], 16).ok()?;
        let nanos = u32::from_str_radix(&s[16..], 16).ok()?;
        Some(Tai64N { secs, nanos })
    }

    /// Whole seconds from `self` until `later`, 0 if `later` is earlier
    /// (daemontools' svstat clamps a future timestamp to now).
    pub fn seconds_until(&self, later: &Tai64N) -> u64 {
        later.secs.saturating_sub(self.secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_labels_never_panic() {
        for secs in [0, 1, u64::MAX, 1 << 63, (1 << 63) + (1 << 62)] {
            let t = Tai64N {
                secs,
                nanos: u32::MAX,
            };
            let _ = t.unix_secs();
            let _ = t.to_system();
        }
    }

    #[test]
    fn round_trips() {
        let t = Tai64N::now();
        assert_eq!(Tai64N::from_bytes(&t.to_bytes()), t);
        assert_eq!(Tai64N::from_hex(&t.to_hex()), Some(t));
        let sys = t.to_system();
        assert_eq!(Tai64N::from_system(sys), t);
    }

    #[test]
    fn known_label() {
        let t = Tai64N::from_system(UNIX_EPOCH + Duration::from_secs(1_000_000_000));
        assert_eq!(t.to_hex(), "400000003b9aca0a00000000");
        let t = Tai64N {
            secs: 0x4000_0000_6543_21ff,
            nanos: 0x0abc_def1,
        };
        assert_eq!(t.hex_digits(), *t.to_hex().as_bytes());
    }
}
