//! Malformed messages, each built so that the processor must reject it with one known reason.
//!
//! A malformed message starts from a valid event and breaks exactly one thing, because the
//! processor reports only the first problem it finds. It checks the size, then the JSON, then
//! the required fields and their types, then the event id, event type, timestamp and page.

use pulso_core::Reason;
use serde_json::{json, Map, Value};

/// A century, in milliseconds. Future timestamps are this far ahead of the simulated clock
/// rather than one day: the processor compares them with its own clock, and the simulated clock
/// may lag that by any amount when `--start` lies in the past. A fixed offset keeps them
/// rejected without making the bytes depend on the wall clock.
const FUTURE_OFFSET_MS: i64 = 36_525 * 24 * 3600 * 1000;
/// Largest message librdkafka accepts by default (`message.max.bytes`).
const KAFKA_MAX_MESSAGE_BYTES: usize = 1_000_000;
/// Room left for the other fields of an event around a padded field.
const EVENT_OVERHEAD_BYTES: usize = 2048;
/// Marker replaced by an invalid UTF-8 sequence after serialising.
const INVALID_UTF8_MARKER: &str = "@@invalid-utf8@@";

const REQUIRED_FIELDS: [&str; 6] = ["event_id", "event_type", "page", "user_id", "session_id", "timestamp"];

/// One way to break an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MalformedKind {
    MalformedJson,
    NotAnObject,
    Empty,
    Tombstone,
    MissingField,
    InvalidFieldType,
    InvalidEventId,
    UnknownEventType,
    TimestampUnit,
    InvalidTimestamp,
    FutureTimestamp,
    InvalidPage,
    Oversized,
    InvalidUtf8,
    PageTooLong,
}

impl MalformedKind {
    pub const ALL: [MalformedKind; 15] = [
        MalformedKind::MalformedJson,
        MalformedKind::NotAnObject,
        MalformedKind::Empty,
        MalformedKind::Tombstone,
        MalformedKind::MissingField,
        MalformedKind::InvalidFieldType,
        MalformedKind::InvalidEventId,
        MalformedKind::UnknownEventType,
        MalformedKind::TimestampUnit,
        MalformedKind::InvalidTimestamp,
        MalformedKind::FutureTimestamp,
        MalformedKind::InvalidPage,
        MalformedKind::Oversized,
        MalformedKind::InvalidUtf8,
        MalformedKind::PageTooLong,
    ];

    /// Returns the reason the processor gives for this kind.
    pub fn reason(self) -> Reason {
        match self {
            MalformedKind::MalformedJson => Reason::MalformedJson,
            MalformedKind::NotAnObject => Reason::NotAnObject,
            MalformedKind::Empty => Reason::Empty,
            MalformedKind::Tombstone => Reason::Tombstone,
            MalformedKind::MissingField => Reason::MissingField,
            MalformedKind::InvalidFieldType => Reason::InvalidFieldType,
            MalformedKind::InvalidEventId => Reason::InvalidEventId,
            MalformedKind::UnknownEventType => Reason::UnknownEventType,
            MalformedKind::TimestampUnit => Reason::TimestampUnit,
            MalformedKind::InvalidTimestamp => Reason::InvalidTimestamp,
            MalformedKind::FutureTimestamp => Reason::FutureTimestamp,
            MalformedKind::InvalidPage => Reason::InvalidPage,
            MalformedKind::Oversized => Reason::Oversized,
            MalformedKind::InvalidUtf8 => Reason::InvalidUtf8,
            MalformedKind::PageTooLong => Reason::PageTooLong,
        }
    }
}

/// The validation limits the malformed messages are built against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_message_bytes: usize,
    pub page_max_length: usize,
}

impl Limits {
    /// Lists the kinds that can be built under these limits. An oversized message must still fit
    /// into a Kafka message, and a too-long page must not make its message oversized.
    pub fn applicable_kinds(self) -> Vec<MalformedKind> {
        MalformedKind::ALL
            .into_iter()
            .filter(|kind| match kind {
                MalformedKind::Oversized => self.max_message_bytes + EVENT_OVERHEAD_BYTES < KAFKA_MAX_MESSAGE_BYTES,
                MalformedKind::PageTooLong => self.page_max_length + EVENT_OVERHEAD_BYTES < self.max_message_bytes,
                _ => true,
            })
            .collect()
    }
}

/// Breaks `event`, a valid event as a JSON object with time `timestamp_ms`, in the way `kind`
/// names. `variant` picks among the ways of one kind, such as which field is missing.
/// Returns the message value, `None` for a tombstone.
pub fn build(
    kind: MalformedKind,
    mut event: Map<String, Value>,
    timestamp_ms: i64,
    variant: usize,
    limits: Limits,
) -> Option<Vec<u8>> {
    match kind {
        MalformedKind::MalformedJson => return Some(truncated(&event)),
        MalformedKind::NotAnObject => return Some(b"[1,2,3]".to_vec()),
        MalformedKind::Empty => return Some(Vec::new()),
        MalformedKind::Tombstone => return None,
        MalformedKind::InvalidUtf8 => return Some(with_invalid_utf8(event)),
        MalformedKind::MissingField => {
            event.remove(REQUIRED_FIELDS[variant % REQUIRED_FIELDS.len()]);
        }
        MalformedKind::InvalidFieldType => {
            let (field, value) = wrong_type(variant);
            event.insert(field.into(), value);
        }
        _ => {
            let (field, value) = replacement(kind, timestamp_ms, variant, limits);
            set_field(&mut event, field, value);
        }
    }
    Some(serde_json::to_vec(&event).expect("a JSON map always serialises"))
}

/// Returns the field to overwrite, and its new value, for the kinds that change one field.
fn replacement(kind: MalformedKind, timestamp_ms: i64, variant: usize, limits: Limits) -> (&'static str, Value) {
    match kind {
        MalformedKind::InvalidEventId => ("event_id", json!(format!("evt-{timestamp_ms:x}"))),
        MalformedKind::UnknownEventType => ("event_type", json!(["hover", "wishlist_add", "PageView"][variant % 3])),
        MalformedKind::TimestampUnit => ("timestamp", json!(timestamp_ms / 1000)),
        MalformedKind::InvalidTimestamp => ("timestamp", json!(brazilian_date_time(timestamp_ms))),
        MalformedKind::FutureTimestamp => ("timestamp", json!(timestamp_ms + FUTURE_OFFSET_MS)),
        MalformedKind::InvalidPage => ("page", json!("/produto/%zz")),
        MalformedKind::PageTooLong => ("page", json!(format!("/produto/{}", "a".repeat(limits.page_max_length)))),
        MalformedKind::Oversized => ("properties.padding", json!("x".repeat(limits.max_message_bytes))),
        other => unreachable!("{other:?} is built without a replacement field"),
    }
}

/// Sets `field`, or with a `properties.` prefix a field of the properties object.
fn set_field(event: &mut Map<String, Value>, field: &str, value: Value) {
    match field.strip_prefix("properties.") {
        Some(name) => {
            let properties = event.entry("properties").or_insert_with(|| json!({}));
            properties.as_object_mut().expect("properties is an object").insert(name.into(), value);
        }
        None => {
            event.insert(field.into(), value);
        }
    }
}

/// Returns a field and a value of the wrong JSON type for it.
fn wrong_type(variant: usize) -> (&'static str, Value) {
    let cases = [
        ("page", json!(42)),
        ("event_type", json!(true)),
        ("user_id", json!([1])),
        ("session_id", json!({})),
        ("timestamp", json!(false)),
        ("properties", json!("cor=azul")),
        ("referrer", json!(1)),
    ];
    cases[variant % cases.len()].clone()
}

/// Cuts the JSON text in half at a character boundary, so it stays valid UTF-8.
fn truncated(event: &Map<String, Value>) -> Vec<u8> {
    let text = serde_json::to_string(event).expect("a JSON map always serialises");
    let mut end = text.len() / 2;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.as_bytes()[..end].to_vec()
}

/// Serialises the event with invalid UTF-8 in the referrer: a `0xC3` lead byte followed by `(`,
/// which is not a continuation byte.
fn with_invalid_utf8(mut event: Map<String, Value>) -> Vec<u8> {
    event.insert("referrer".into(), json!(INVALID_UTF8_MARKER));
    let text = serde_json::to_string(&event).expect("a JSON map always serialises");
    let (before, after) = text.split_once(INVALID_UTF8_MARKER).expect("the marker was just inserted");
    let mut bytes = Vec::with_capacity(text.len());
    bytes.extend_from_slice(before.as_bytes());
    bytes.extend_from_slice(&[0xC3, b'(']);
    bytes.extend_from_slice(after.as_bytes());
    bytes
}

/// `dd/mm/yyyy HH:MM:SS`, how Brazilian systems print dates: not RFC 3339.
fn brazilian_date_time(timestamp_ms: i64) -> String {
    let time = chrono::DateTime::from_timestamp_millis(timestamp_ms).expect("event time within chrono's range");
    time.format("%d/%m/%Y %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulso_core::decode::{decode_event, ValidationConfig};

    const NOW: i64 = 1_714_575_600_000;

    fn valid_event() -> Map<String, Value> {
        let value = json!({
            "event_id": "7d444840-9dc0-11d1-b245-5ffdce74fad2",
            "event_type": "page_view",
            "page": "/produto/tenis-corrida-nike-pro-100123",
            "user_id": 512475445,
            "session_id": "s-1",
            "timestamp": NOW,
            "user_agent": "Mozilla/5.0",
            "properties": {"product_name": "Tênis de Corrida", "price": 199.9}
        });
        value.as_object().unwrap().clone()
    }

    fn limits() -> Limits {
        Limits { max_message_bytes: 64 * 1024, page_max_length: 2048 }
    }

    #[test]
    fn base_event_is_valid() {
        let bytes = serde_json::to_vec(&valid_event()).unwrap();
        assert!(decode_event(Some(&bytes), &ValidationConfig::default(), NOW).is_ok());
    }

    #[test]
    fn each_kind_decodes_to_its_reason() {
        for kind in MalformedKind::ALL {
            for variant in 0..7 {
                let value = build(kind, valid_event(), NOW, variant, limits());
                let rejection = decode_event(value.as_deref(), &ValidationConfig::default(), NOW).unwrap_err();
                assert_eq!(rejection.reason, kind.reason(), "{kind:?} variant {variant}: {}", rejection.detail);
            }
        }
    }

    #[test]
    fn future_timestamp_rejected_long_after_run() {
        let value = build(MalformedKind::FutureTimestamp, valid_event(), NOW, 0, limits()).unwrap();
        let ten_years_later = NOW + 10 * 365 * 24 * 3600 * 1000;
        let rejection = decode_event(Some(&value), &ValidationConfig::default(), ten_years_later).unwrap_err();
        assert_eq!(rejection.reason, Reason::FutureTimestamp);
    }

    #[test]
    fn truncation_keeps_utf8_valid() {
        let mut event = valid_event();
        event.insert("page".into(), json!("/ção".repeat(50)));
        let bytes = truncated(&event);
        assert!(std::str::from_utf8(&bytes).is_ok());
    }

    #[test]
    fn large_limits_drop_kinds_that_cannot_fit() {
        let limits = Limits { max_message_bytes: 2_000_000, page_max_length: 4096 };
        let kinds = limits.applicable_kinds();
        assert!(!kinds.contains(&MalformedKind::Oversized));
        assert!(kinds.contains(&MalformedKind::PageTooLong));
        let small = Limits { max_message_bytes: 4096, page_max_length: 4096 };
        assert!(!small.applicable_kinds().contains(&MalformedKind::PageTooLong));
    }
}
