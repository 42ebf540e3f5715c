//! RFC 3339 timestamps in agentrail's one stored form: UTC, `YYYY-MM-DDTHH:MM:SS[.fraction]Z`,
//! with the fraction's trailing zeros trimmed (and no fraction at all when it is zero).
//!
//! Clients may send any RFC 3339 timestamp with an offset; what is hashed is always this normal
//! form, so `2026-11-28T14:00:00+01:00` and `2026-11-28T13:00:00.000Z` are the same instant and
//! the same bytes. This module never reads the clock: callers pass the instant in.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Why a timestamp was refused. The message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    #[error("not an RFC 3339 timestamp with an offset (like 2026-11-28T13:00:00Z): {0}")]
    Syntax(String),
    #[error("fractional seconds have more than 9 digits")]
    TooPrecise,
    #[error("year is outside 0000-9999 once converted to UTC")]
    OutOfRange,
    #[error(
        "leap seconds (:60) are not accepted; send the instant as :59.999999999 or the next second"
    )]
    LeapSecond,
}

/// Parses an RFC 3339 timestamp (offset required) and returns its normal UTC form.
pub fn normalize_rfc3339(s: &str) -> Result<String, TimeError> {
    // RFC 3339 allows any number of fraction digits; nanoseconds are the finest we keep, and
    // silently truncating would make two different inputs hash alike.
    if let Some(dot) = s.find('.') {
        let digits = s[dot + 1..]
            .bytes()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits > 9 {
            return Err(TimeError::TooPrecise);
        }
    }
    // RFC 3339 allows a leap second (`:60`); it has no instant of its own here (the parser would
    // fold it into the next second), so two different inputs would hash alike.
    if s.len() >= 19 && matches!(s.as_bytes()[10], b'T' | b't') && &s[17..19] == "60" {
        return Err(TimeError::LeapSecond);
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| TimeError::Syntax(e.to_string()))?;
    format_utc(t)
}

/// Formats an instant in the normal UTC form.
pub fn format_utc(t: OffsetDateTime) -> Result<String, TimeError> {
    let t = t.to_offset(UtcOffset::UTC);
    if !(0..=9999).contains(&t.year()) {
        return Err(TimeError::OutOfRange);
    }
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    Ok(out)
}

/// Formats Unix nanoseconds in the normal UTC form.
pub fn format_unix_nanos(nanos: i128) -> Result<String, TimeError> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| TimeError::OutOfRange)?;
    format_utc(t)
}

/// The fixed-width form of a normal-form timestamp: nine fraction digits always, so that byte
/// order is time order (`...:00.5Z` would sort before `...:00Z`). Stores index timestamps in
/// this form; what is hashed stays the normal form.
pub fn sortable(normal: &str) -> String {
    let Some(stem) = normal.strip_suffix('Z') else {
        return normal.to_string();
    };
    let (secs, frac) = stem.split_once('.').unwrap_or((stem, ""));
    format!("{secs}.{frac:0<9}Z")
}

/// Parses a normal-form (or any RFC 3339) timestamp to Unix nanoseconds.
pub fn parse_unix_nanos(s: &str) -> Result<i128, TimeError> {
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| TimeError::Syntax(e.to_string()))?;
    Ok(t.unix_timestamp_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, TimeError>) {
        assert_eq!(
            normalize_rfc3339(input).as_deref().map_err(Clone::clone),
            expected,
            "input {input:?}"
        );
    }

    #[test]
    fn normalizes_to_utc_and_trims() {
        check("2026-11-28T13:00:00Z", Ok("2026-11-28T13:00:00Z"));
        check("2026-11-28T13:00:00.000Z", Ok("2026-11-28T13:00:00Z"));
        check("2026-11-28T13:00:00.120Z", Ok("2026-11-28T13:00:00.12Z"));
        check("2026-11-28T14:00:00+01:00", Ok("2026-11-28T13:00:00Z"));
        check("2026-11-28T00:30:00.5-02:30", Ok("2026-11-28T03:00:00.5Z"));
        check(
            "2026-01-01T00:00:00.000000001Z",
            Ok("2026-01-01T00:00:00.000000001Z"),
        );
        check("2026-12-31T23:59:59-01:00", Ok("2027-01-01T00:59:59Z"));
    }

    #[test]
    fn rejects_what_is_not_rfc3339_with_offset() {
        assert!(matches!(
            normalize_rfc3339("2026-11-28T13:00:00"),
            Err(TimeError::Syntax(_))
        ));
        assert!(matches!(
            normalize_rfc3339("2026-11-28 13:00"),
            Err(TimeError::Syntax(_))
        ));
        assert!(matches!(
            normalize_rfc3339("yesterday"),
            Err(TimeError::Syntax(_))
        ));
        assert!(matches!(
            normalize_rfc3339("2026-02-30T00:00:00Z"),
            Err(TimeError::Syntax(_))
        ));
        check(
            "2026-11-28T13:00:00.1234567891Z",
            Err(TimeError::TooPrecise),
        );
        check("2016-12-31T23:59:60Z", Err(TimeError::LeapSecond));
    }

    #[test]
    fn sortable_form_orders_like_time() {
        assert_eq!(
            sortable("2026-11-28T13:00:00Z"),
            "2026-11-28T13:00:00.000000000Z"
        );
        assert_eq!(
            sortable("2026-11-28T13:00:00.5Z"),
            "2026-11-28T13:00:00.500000000Z"
        );
        assert!(sortable("2026-11-28T13:00:00Z") < sortable("2026-11-28T13:00:00.5Z"));
        assert!(sortable("2026-11-28T13:00:00.999999999Z") < sortable("2026-11-28T13:00:01Z"));
    }

    #[test]
    fn unix_nanos_round_trip() {
        let s = format_unix_nanos(1_764_334_800_123_000_000).unwrap();
        assert_eq!(s, "2025-11-28T13:00:00.123Z");
        assert_eq!(parse_unix_nanos(&s).unwrap(), 1_764_334_800_123_000_000);
    }
}
