//! Wall-clock time as keyflow stores and reads it: Unix seconds for rows,
//! Unix milliseconds for request times, and the time bounds clients and
//! the operator may write in a query.
//!
//! It sits on the lowest floor so that every other one (the store, the
//! recording pipeline, `/v1` and `/api`) reads one clock the same way.

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Reads a time bound in any of the accepted forms, as Unix milliseconds:
/// Unix seconds (or milliseconds), RFC 3339, or a date (midnight UTC).
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i64>() {
        // Seconds until the year 5138; milliseconds beyond.
        return Ok(if n < 100_000_000_000 { n * 1000 } else { n });
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        if let Ok(z) = date.to_zoned(jiff::tz::TimeZone::UTC) {
            return Ok(z.timestamp().as_millisecond());
        }
    }
    Err(format!(
        "cannot read the time `{text}`: use Unix seconds, RFC 3339 (2026-11-22T08:00:00Z) or a date (2026-11-22)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_accepted_form() {
        assert_eq!(parse_time("1714564800"), Ok(1_714_564_800_000));
        assert_eq!(parse_time("1714564800123"), Ok(1_714_564_800_123));
        assert_eq!(parse_time("2024-05-01T12:00:00Z"), Ok(1_714_564_800_000));
        assert_eq!(parse_time(" 2024-05-01 "), Ok(1_714_521_600_000));
        assert!(parse_time("yesterday").is_err_and(|e| e.contains("`yesterday`")));
    }
}
