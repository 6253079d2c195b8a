//! Telling "unchanged" from a file's stamps: a change made in the same
//! clock tick as the look (or the same second, on a filesystem with coarse
//! times) can leave mtime and ctime as they were. A stamp this fresh is
//! no proof, and the one who cached it looks again next time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Stamps younger than this prove nothing.
pub const MARGIN: Duration = Duration::from_secs(2);

/// Is the time `(seconds, nanoseconds)` since the epoch within [`MARGIN`]
/// of now, or in the future (a clock set back)?
pub fn is_racy((secs, nanos): (i64, i64)) -> bool {
    let then = UNIX_EPOCH
        .checked_add(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
        .and_then(|t| t.checked_add(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))));
    match then.map(|t| SystemTime::now().duration_since(t)) {
        Some(Ok(age)) => age < MARGIN,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_and_future_stamps_are_racy_old_ones_not() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let at = |d: Duration| (d.as_secs() as i64, i64::from(d.subsec_nanos()));
        assert!(is_racy(at(now)));
        assert!(is_racy(at(now + Duration::from_secs(60))));
        assert!(!is_racy(at(now - Duration::from_secs(10))));
        assert!(is_racy((i64::MAX, 0)));
        assert!(!is_racy((-5, -1)));
    }
}
