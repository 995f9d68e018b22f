//! Event-time parsing. A timestamp is either an RFC 3339 string with an offset or an integer
//! count of milliseconds since the Unix epoch. Integers outside the plausible millisecond range
//! are rejected rather than guessed at, so a producer that sends seconds or microseconds finds
//! out at once instead of seeing its events filed under 1970 or the year 50,000.

use crate::reason::{Reason, Rejection};

/// The smallest integer read as milliseconds: 1973-03-03T09:46:40Z. Anything smaller is what
/// epoch seconds look like until the year 5138.
pub const MIN_EPOCH_MS: i64 = 100_000_000_000;

/// The largest integer read as milliseconds: 5138-11-16T09:46:40Z. Anything larger is what
/// epoch microseconds look like from 1973 on.
pub const MAX_EPOCH_MS: i64 = 100_000_000_000_000;

/// Parses an integer epoch timestamp in milliseconds.
pub fn parse_epoch_ms(value: i64) -> Result<i64, Rejection> {
    if value < 0 {
        return Err(Rejection::new(
            Reason::InvalidTimestamp,
            format!("timestamp {value} is negative; send epoch milliseconds or RFC 3339"),
        ));
    }
    if value < MIN_EPOCH_MS {
        return Err(Rejection::new(
            Reason::TimestampUnit,
            format!(
                "timestamp {value} looks like epoch seconds; send milliseconds \
                 (multiply by 1000) or an RFC 3339 string"
            ),
        ));
    }
    if value >= MAX_EPOCH_MS {
        return Err(Rejection::new(
            Reason::TimestampUnit,
            format!(
                "timestamp {value} looks like epoch microseconds or nanoseconds; send \
                 milliseconds (divide by 1000 or 1000000) or an RFC 3339 string"
            ),
        ));
    }
    Ok(value)
}

/// Parses an RFC 3339 timestamp with an offset, such as `2024-05-01T12:00:00.250-03:00`.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, Rejection> {
    match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(time) => {
            let ms = time.timestamp_millis();
            if (0..MAX_EPOCH_MS).contains(&ms) {
                Ok(ms)
            } else {
                Err(Rejection::new(
                    Reason::InvalidTimestamp,
                    format!("timestamp {text:?} is before 1970 or after the year 5138"),
                ))
            }
        }
        Err(error) => Err(Rejection::new(
            Reason::InvalidTimestamp,
            format!(
                "timestamp {text:?} is not RFC 3339 ({error}); send for example \
                 \"2024-05-01T12:00:00.250-03:00\" or epoch milliseconds"
            ),
        )),
    }
}

/// Rejects an event time that lies more than `max_future_ms` after processing time.
pub fn check_not_future(timestamp_ms: i64, now_ms: i64, max_future_ms: i64) -> Result<(), Rejection> {
    if timestamp_ms > now_ms.saturating_add(max_future_ms) {
        return Err(Rejection::new(
            Reason::FutureTimestamp,
            format!(
                "timestamp {timestamp_ms} ms is {} s ahead of processing time, more than the \
                 allowed {} s; check the producer's clock and time zone",
                (timestamp_ms - now_ms) / 1000,
                max_future_ms / 1000
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_ms_accepted() {
        assert_eq!(parse_epoch_ms(1_700_000_000_123), Ok(1_700_000_000_123));
    }

    #[test]
    fn epoch_seconds_rejected_as_unit() {
        let error = parse_epoch_ms(1_700_000_000).unwrap_err();
        assert_eq!(error.reason, Reason::TimestampUnit);
        assert!(error.detail.contains("1700000000"), "{}", error.detail);
        assert!(error.detail.contains("seconds"), "{}", error.detail);
    }

    #[test]
    fn epoch_microseconds_rejected_as_unit() {
        let error = parse_epoch_ms(1_700_000_000_000_000).unwrap_err();
        assert_eq!(error.reason, Reason::TimestampUnit);
        assert!(error.detail.contains("microseconds"), "{}", error.detail);
    }

    #[test]
    fn negative_epoch_rejected() {
        assert_eq!(parse_epoch_ms(-5).unwrap_err().reason, Reason::InvalidTimestamp);
    }

    #[test]
    fn rfc3339_with_offset_converts_to_utc() {
        assert_eq!(parse_rfc3339_ms("2024-05-01T12:00:00.250-03:00"), Ok(1_714_575_600_250));
        assert_eq!(parse_rfc3339_ms("2024-05-01T15:00:00.250Z"), Ok(1_714_575_600_250));
    }

    #[test]
    fn rfc3339_without_offset_rejected() {
        let error = parse_rfc3339_ms("2024-05-01T12:00:00").unwrap_err();
        assert_eq!(error.reason, Reason::InvalidTimestamp);
        assert!(error.detail.contains("2024-05-01T12:00:00"), "{}", error.detail);
    }

    #[test]
    fn future_margin_enforced() {
        let now = 1_700_000_000_000;
        assert!(check_not_future(now + 60_000, now, 60_000).is_ok());
        let error = check_not_future(now + 60_001, now, 60_000).unwrap_err();
        assert_eq!(error.reason, Reason::FutureTimestamp);
    }
}
