//! Reason codes for rejected events. Each code is stable: it is written into dead-letter headers,
//! metric labels and dashboards, so a code is never renamed once released.

use std::fmt;

/// Why an event was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The message value has zero bytes.
    Empty,
    /// The message value is null (a Kafka tombstone) or the JSON literal `null`.
    Tombstone,
    /// The message value is larger than the configured maximum.
    Oversized,
    /// The message value is not valid UTF-8.
    InvalidUtf8,
    /// The message value is not valid JSON.
    MalformedJson,
    /// The message value is valid JSON but not an object.
    NotAnObject,
    /// A required field is absent or null.
    MissingField,
    /// A field has the wrong JSON type.
    InvalidFieldType,
    /// `event_id` is not a UUID.
    InvalidEventId,
    /// `event_type` is not one of the known types.
    UnknownEventType,
    /// `timestamp` is neither RFC 3339 with an offset nor integer epoch milliseconds.
    InvalidTimestamp,
    /// `timestamp` is a number that is evidently seconds or microseconds, not milliseconds.
    TimestampUnit,
    /// `timestamp` is further in the future of processing time than the allowed margin.
    FutureTimestamp,
    /// `page` is not an absolute http(s) URL or path, or its percent-encoding is invalid.
    InvalidPage,
    /// `page` is longer than the configured maximum after normalisation.
    PageTooLong,
    /// The `event_id` was already seen within the de-duplication horizon.
    Duplicate,
    /// The event's window had already closed when the event arrived.
    Late,
}

impl Reason {
    pub const ALL: [Reason; 17] = [
        Reason::Empty,
        Reason::Tombstone,
        Reason::Oversized,
        Reason::InvalidUtf8,
        Reason::MalformedJson,
        Reason::NotAnObject,
        Reason::MissingField,
        Reason::InvalidFieldType,
        Reason::InvalidEventId,
        Reason::UnknownEventType,
        Reason::InvalidTimestamp,
        Reason::TimestampUnit,
        Reason::FutureTimestamp,
        Reason::InvalidPage,
        Reason::PageTooLong,
        Reason::Duplicate,
        Reason::Late,
    ];

    /// The stable code written into dead-letter headers and metric labels.
    pub const fn code(self) -> &'static str {
        match self {
            Reason::Empty => "empty",
            Reason::Tombstone => "tombstone",
            Reason::Oversized => "oversized",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::MalformedJson => "malformed_json",
            Reason::NotAnObject => "not_an_object",
            Reason::MissingField => "missing_field",
            Reason::InvalidFieldType => "invalid_field_type",
            Reason::InvalidEventId => "invalid_event_id",
            Reason::UnknownEventType => "unknown_event_type",
            Reason::InvalidTimestamp => "invalid_timestamp",
            Reason::TimestampUnit => "timestamp_unit",
            Reason::FutureTimestamp => "future_timestamp",
            Reason::InvalidPage => "invalid_page",
            Reason::PageTooLong => "page_too_long",
            Reason::Duplicate => "duplicate",
            Reason::Late => "late",
        }
    }

    /// Parses a code written by [`Reason::code`].
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|reason| reason.code() == code)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A rejected event: the reason code and a message that names the offending value and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Rejection { reason, detail: detail.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            assert!(seen.insert(reason.code()), "duplicate code {}", reason.code());
            assert_eq!(Reason::from_code(reason.code()), Some(reason));
        }
        assert_eq!(Reason::from_code("nope"), None);
    }
}
