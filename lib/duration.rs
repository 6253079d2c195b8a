//! Durations as users write them: humantime (`500ms`, `5s`, `1m 30s`), or a
//! plain number of milliseconds for s6 compatibility (`timeout-kill` files).

use std::time::Duration;

/// Parse a duration; a bare integer means milliseconds.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if t.bytes().all(|c| c.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|e| format!("{t}: {e}"));
    }
    humantime::parse_duration(t).map_err(|e| format!("{t}: {e}"))
}

/// Parse `MIN MAX` (two durations separated by white space).
pub fn parse_pair(text: &str) -> Result<(Duration, Duration), String> {
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
}
