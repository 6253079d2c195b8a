//! Durations as users write them: humantime (`500ms`, `5s`, `1m 30s`), or a
//! plain number of milliseconds for s6 compatibility (`timeout-kill` files).

use std::time::Duration;

/// The longest duration accepted: longer values are out of range, so that
/// adding one to a clock reading can never overflow (`300000000000y` once
/// panicked supervise).
pub(crate) const MAX: Duration = Duration::from_secs(36_525 * 24 * 3600);

/// Parse a duration; a bare integer means milliseconds. More than [`MAX`]
/// is an error ("out of range").
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let d = if t.bytes().all(|c| c.is_ascii_digit()) {
        // Too many digits for u64 is out of range too, not a syntax error.
        t.parse::<u64>()
            .map(Duration::from_millis)
            .unwrap_or(Duration::MAX)
    } else {
        humantime::parse_duration(t).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => out_of_range(t),
            e => format!("{t}: {e}"),
        })?
    };
    if d > MAX {
        return Err(out_of_range(t));
    }
    Ok(d)
}

fn out_of_range(t: &str) -> String {
    format!("{t}: out of range (at most 100 years)")
}

/// Parse `MIN MAX` (two durations separated by white space).
pub(crate) fn parse_pair(text: &str) -> Result<(Duration, Duration), String> {
    let mut parts = text.split_whitespace();
    let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("{}: expected two durations, MIN MAX", text.trim()));
    };
    let (min, max) = (parse(a)?, parse(b)?);
    if min > max {
        return Err(format!("{}: MIN is larger than MAX", text.trim()));
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse("1500"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(" 2s\n"), Ok(Duration::from_secs(2)));
        assert!(parse("soon").is_err());
        assert_eq!(
            parse_pair("1s 30s"),
            Ok((Duration::from_secs(1), Duration::from_secs(30)))
        );
        assert!(parse_pair("30s 1s").is_err());
        assert!(parse_pair("1s").is_err());
    }

    #[test]
    fn huge_values_are_out_of_range() {
        for t in [
            "300000000000y",
            "101y",
            "99999999999999999999999",
            "18446744073709551615",
        ] {
            let e = parse(t).unwrap_err();
            assert!(e.contains("out of range"), "{t}: {e}");
        }
        assert_eq!(parse("100y").map(|d| d <= MAX), Ok(true));
    }
}
