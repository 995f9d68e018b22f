//! Decoding and validation of one message into an [`Event`].
//!
//! The decoder walks the JSON object once with a serde visitor and keeps borrowed strings where
//! the JSON has no escapes. It records each field's JSON type, so a wrong type gets its own reason
//! code and a message naming the field. Unknown fields are ignored, so producers can add
//! fields before the processor knows them.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::event::{Event, EventType};
use crate::page::{self, PageOptions};
use crate::reason::{Reason, Rejection};
use crate::timestamp;

/// Limits and options applied while validating.
#[derive(Debug, Clone)]
pub struct ValidationConfig {
    /// Largest accepted message value, in bytes.
    pub max_message_bytes: usize,
    /// How far event time may be ahead of processing time, in milliseconds.
    pub max_future_ms: i64,
    pub page: PageOptions,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig { max_message_bytes: 64 * 1024, max_future_ms: 5 * 60 * 1000, page: PageOptions::default() }
    }
}

/// Decodes and validates a message value. `None` is a Kafka tombstone.
pub fn decode_event<'a>(
    payload: Option<&'a [u8]>,
    config: &ValidationConfig,
    now_ms: i64,
) -> Result<Event<'a>, Rejection> {
    let Some(bytes) = payload else {
        return Err(Rejection::new(Reason::Tombstone, "message value is null (a tombstone); send a JSON object"));
    };
    if bytes.is_empty() {
        return Err(Rejection::new(Reason::Empty, "message value is empty; send a JSON object"));
    }
    if bytes.len() > config.max_message_bytes {
        return Err(Rejection::new(
            Reason::Oversized,
            format!(
                "message value is {} bytes, more than the maximum {}; trim `properties` or raise \
                 validation.max_message_bytes",
                bytes.len(),
                config.max_message_bytes
            ),
        ));
    }
    let fields = parse_fields(bytes)?;
    validate(fields, config, now_ms)
}

fn parse_fields(bytes: &[u8]) -> Result<RawFields<'_>, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let document = match Document::deserialize(&mut deserializer).and_then(|document| {
        deserializer.end()?;
        Ok(document)
    }) {
        Ok(document) => document,
        Err(error) => {
            if std::str::from_utf8(bytes).is_err() {
                return Err(Rejection::new(Reason::InvalidUtf8, "message value is not valid UTF-8; encode JSON as UTF-8"));
            }
            return Err(Rejection::new(Reason::MalformedJson, format!("message value is not valid JSON: {error}")));
        }
    };
    match document {
        Document::Object(fields) => Ok(fields),
        Document::Null => Err(Rejection::new(Reason::Tombstone, "message value is JSON null; send a JSON object")),
        Document::Other(kind) => Err(Rejection::new(
            Reason::NotAnObject,
            format!("message value is a JSON {kind}, not an object; send one JSON object per message"),
        )),
    }
}

fn validate<'a>(fields: RawFields<'a>, config: &ValidationConfig, now_ms: i64) -> Result<Event<'a>, Rejection> {
    let event_id = required_str("event_id", fields.event_id)?;
    let event_type = required_str("event_type", fields.event_type)?;
    let page = required_str("page", fields.page)?;
    required_id("user_id", fields.user_id)?;
    required_id("session_id", fields.session_id)?;
    let timestamp = fields.timestamp.ok_or_else(|| missing("timestamp"))?;
    optional_str("referrer", fields.referrer)?;
    optional_str("user_agent", fields.user_agent)?;
    if let Some(properties) = &fields.properties {
        if !matches!(properties, Value::Object | Value::Null) {
            return Err(wrong_type("properties", "an object", properties));
        }
    }

    let event_id = uuid::Uuid::try_parse(&event_id)
        .map_err(|_| {
            Rejection::new(
                Reason::InvalidEventId,
                format!("event_id {:?} is not a UUID; send for example \"7d444840-9dc0-11d1-b245-5ffdce74fad2\"", truncate(&event_id)),
            )
        })?
        .as_u128();
    let event_type = EventType::parse(&event_type).ok_or_else(|| {
        Rejection::new(
            Reason::UnknownEventType,
            format!("event_type {:?} is unknown; use one of {}", truncate(&event_type), EventType::names()),
        )
    })?;
    let timestamp_ms = match timestamp {
        Value::Int(ms) => timestamp::parse_epoch_ms(ms)?,
        Value::Str(text) => timestamp::parse_rfc3339_ms(&text)?,
        Value::Float(value) => {
            return Err(Rejection::new(
                Reason::InvalidTimestamp,
                format!("timestamp {value} is not an integer; send whole epoch milliseconds or RFC 3339"),
            ))
        }
        Value::Null => return Err(missing("timestamp")),
        other => return Err(wrong_type("timestamp", "an RFC 3339 string or integer epoch milliseconds", &other)),
    };
    timestamp::check_not_future(timestamp_ms, now_ms, config.max_future_ms)?;
    let page = match page {
        Cow::Borrowed(text) => page::normalize(text, &config.page)?,
        Cow::Owned(text) => Cow::Owned(page::normalize(&text, &config.page)?.into_owned()),
    };
    Ok(Event { event_id, event_type, page, timestamp_ms })
}

fn required_str<'a>(name: &'static str, value: Option<Value<'a>>) -> Result<Cow<'a, str>, Rejection> {
    match value {
        Some(Value::Str(text)) => Ok(text),
        None | Some(Value::Null) => Err(missing(name)),
        Some(other) => Err(wrong_type(name, "a string", &other)),
    }
}

/// User and session ids may be strings or integers, because many trackers use numeric ids.
fn required_id(name: &'static str, value: Option<Value<'_>>) -> Result<(), Rejection> {
    match value {
        Some(Value::Str(text)) if !text.is_empty() => Ok(()),
        Some(Value::Int(_)) => Ok(()),
        Some(Value::Str(_)) | None | Some(Value::Null) => Err(missing(name)),
        Some(other) => Err(wrong_type(name, "a string or an integer", &other)),
    }
}

fn optional_str(name: &'static str, value: Option<Value<'_>>) -> Result<(), Rejection> {
    match value {
        None | Some(Value::Null) | Some(Value::Str(_)) => Ok(()),
        Some(other) => Err(wrong_type(name, "a string", &other)),
    }
}

fn missing(name: &str) -> Rejection {
    Rejection::new(Reason::MissingField, format!("required field `{name}` is missing or null"))
}

fn wrong_type(name: &str, expected: &str, actual: &Value<'_>) -> Rejection {
    Rejection::new(
        Reason::InvalidFieldType,
        format!("field `{name}` must be {expected}, but it is {}", actual.describe()),
    )
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(100) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The JSON value of one field, reduced to what validation needs.
#[derive(Debug)]
enum Value<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Object,
    Array,
}

impl Value<'_> {
    fn describe(&self) -> String {
        match self {
            Value::Str(text) => format!("the string {:?}", truncate(text)),
            Value::Int(value) => format!("the number {value}"),
            Value::Float(value) => format!("the number {value}"),
            Value::Bool(value) => format!("the boolean {value}"),
            Value::Null => "null".to_string(),
            Value::Object => "an object".to_string(),
            Value::Array => "an array".to_string(),
        }
    }
}

#[derive(Default)]
struct RawFields<'a> {
    event_id: Option<Value<'a>>,
    event_type: Option<Value<'a>>,
    page: Option<Value<'a>>,
    user_id: Option<Value<'a>>,
    session_id: Option<Value<'a>>,
    timestamp: Option<Value<'a>>,
    referrer: Option<Value<'a>>,
    user_agent: Option<Value<'a>>,
    properties: Option<Value<'a>>,
}

enum Document<'a> {
    Object(RawFields<'a>),
    Null,
    Other(&'static str),
}

impl<'de> Document<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor)
    }
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Document<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document<'de>, A::Error> {
        let mut fields = RawFields::default();
        while let Some(key) = map.next_key_seed(FieldSeed)? {
            let slot = match key {
                Field::EventId => &mut fields.event_id,
                Field::EventType => &mut fields.event_type,
                Field::Page => &mut fields.page,
                Field::UserId => &mut fields.user_id,
                Field::SessionId => &mut fields.session_id,
                Field::Timestamp => &mut fields.timestamp,
                Field::Referrer => &mut fields.referrer,
                Field::UserAgent => &mut fields.user_agent,
                Field::Properties => &mut fields.properties,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(de::Error::custom(format_args!("duplicate key `{}`", key.name())));
            }
            *slot = Some(map.next_value_seed(ValueSeed)?);
        }
        Ok(Document::Object(fields))
    }

    fn visit_unit<E>(self) -> Result<Document<'de>, E> {
        Ok(Document::Null)
    }
    fn visit_none<E>(self) -> Result<Document<'de>, E> {
        Ok(Document::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Document<'de>, E> {
        Ok(Document::Other("boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Document<'de>, E> {
        Ok(Document::Other("number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Document<'de>, E> {
        Ok(Document::Other("number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Document<'de>, E> {
        Ok(Document::Other("number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Document<'de>, E> {
        Ok(Document::Other("string"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Document<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Document::Other("array"))
    }
}

#[derive(Clone, Copy)]
enum Field {
    EventId,
    EventType,
    Page,
    UserId,
    SessionId,
    Timestamp,
    Referrer,
    UserAgent,
    Properties,
    Other,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::EventId => "event_id",
            Field::EventType => "event_type",
            Field::Page => "page",
            Field::UserId => "user_id",
            Field::SessionId => "session_id",
            Field::Timestamp => "timestamp",
            Field::Referrer => "referrer",
            Field::UserAgent => "user_agent",
            Field::Properties => "properties",
            Field::Other => "other",
        }
    }

    fn from_name(name: &str) -> Field {
        match name {
            "event_id" => Field::EventId,
            "event_type" => Field::EventType,
            "page" => Field::Page,
            "user_id" => Field::UserId,
            "session_id" => Field::SessionId,
            "timestamp" => Field::Timestamp,
            "referrer" => Field::Referrer,
            "user_agent" => Field::UserAgent,
            "properties" => Field::Properties,
            _ => Field::Other,
        }
    }
}

struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Field, D::Error> {
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Field, E> {
        Ok(Field::from_name(name))
    }
}

struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value<'de>, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Borrowed(text)))
    }
    fn visit_str<E>(self, text: &str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E>(self, text: String) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(text)))
    }
    fn visit_i64<E>(self, value: i64) -> Result<Value<'de>, E> {
        Ok(Value::Int(value))
    }
    fn visit_u64<E>(self, value: u64) -> Result<Value<'de>, E> {
        Ok(i64::try_from(value).map_or(Value::Float(value as f64), Value::Int))
    }
    fn visit_f64<E>(self, value: f64) -> Result<Value<'de>, E> {
        Ok(Value::Float(value))
    }
    fn visit_bool<E>(self, value: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(value))
    }
    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_714_575_600_000; // 2024-05-01T15:00:00Z
    const ID: &str = "7d444840-9dc0-11d1-b245-5ffdce74fad2";

    fn decode(json: &str) -> Result<Event<'_>, Rejection> {
        decode_event(Some(json.as_bytes()), &ValidationConfig::default(), NOW)
    }

    fn valid_json() -> String {
        format!(
            r#"{{"event_id":"{ID}","event_type":"click","page":"/produto/1","user_id":"u1","session_id":"s1","timestamp":{NOW},"properties":{{"price":10.5}}}}"#
        )
    }

    fn reason_of(json: &str) -> Reason {
        decode(json).unwrap_err().reason
    }

    fn with_field(field: &str, value: &str) -> String {
        let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&valid_json()).unwrap();
        if value == "<absent>" {
            object.remove(field);
        } else {
            object.insert(field.to_string(), serde_json::from_str(value).unwrap());
        }
        serde_json::to_string(&object).unwrap()
    }

    #[test]
    fn valid_event_decodes() {
        let json = valid_json();
        let event = decode(&json).unwrap();
        assert_eq!(event.event_type, EventType::Click);
        assert_eq!(event.page, "/produto/1");
        assert_eq!(event.timestamp_ms, NOW);
        assert_eq!(event.event_id, uuid::Uuid::parse_str(ID).unwrap().as_u128());
        assert!(matches!(event.page, Cow::Borrowed(_)));
    }

    #[test]
    fn rfc3339_timestamp_accepted() {
        let json = with_field("timestamp", r#""2024-05-01T11:59:00-03:00""#);
        assert_eq!(decode(&json).unwrap().timestamp_ms, NOW - 60_000);
    }

    #[test]
    fn numeric_user_and_session_ids_accepted() {
        let json = with_field("user_id", "512475445");
        assert!(decode(&json).is_ok());
    }

    #[test]
    fn input_level_rejections() {
        let config = ValidationConfig::default();
        assert_eq!(decode_event(None, &config, NOW).unwrap_err().reason, Reason::Tombstone);
        assert_eq!(decode_event(Some(b""), &config, NOW).unwrap_err().reason, Reason::Empty);
        assert_eq!(reason_of("null"), Reason::Tombstone);
        assert_eq!(reason_of("[1,2]"), Reason::NotAnObject);
        assert_eq!(reason_of("\"text\""), Reason::NotAnObject);
        assert_eq!(reason_of("42"), Reason::NotAnObject);
        assert_eq!(reason_of("{\"event_id\":"), Reason::MalformedJson);
        assert_eq!(reason_of("{} trailing"), Reason::MalformedJson);
        let bad_utf8 = b"{\"page\":\"\xff\"}";
        assert_eq!(decode_event(Some(bad_utf8), &config, NOW).unwrap_err().reason, Reason::InvalidUtf8);
    }

    #[test]
    fn oversized_message_rejected() {
        let config = ValidationConfig { max_message_bytes: 100, ..ValidationConfig::default() };
        let json = valid_json();
        let error = decode_event(Some(json.as_bytes()), &config, NOW).unwrap_err();
        assert_eq!(error.reason, Reason::Oversized);
        assert!(error.detail.contains("max_message_bytes"), "{}", error.detail);
    }

    #[test]
    fn duplicate_key_is_malformed() {
        let json = valid_json().replacen('{', r#"{"page":"/x","#, 1);
        assert_eq!(reason_of(&json), Reason::MalformedJson);
    }

    #[test]
    fn each_required_field_checked() {
        for field in ["event_id", "event_type", "page", "user_id", "session_id", "timestamp"] {
            let error = decode(&with_field(field, "<absent>")).unwrap_err();
            assert_eq!(error.reason, Reason::MissingField, "field {field}");
            assert!(error.detail.contains(field), "{}", error.detail);
            assert_eq!(reason_of(&with_field(field, "null")), Reason::MissingField, "field {field} null");
        }
    }

    #[test]
    fn wrong_types_named() {
        let cases = [
            ("event_id", "12"),
            ("event_type", "true"),
            ("page", "42"),
            ("user_id", "[1]"),
            ("session_id", "{}"),
            ("timestamp", "true"),
            ("referrer", "1"),
            ("user_agent", "{}"),
            ("properties", "\"x\""),
        ];
        for (field, value) in cases {
            let error = decode(&with_field(field, value)).unwrap_err();
            assert_eq!(error.reason, Reason::InvalidFieldType, "field {field}");
            assert!(error.detail.contains(field), "{}", error.detail);
        }
    }

    #[test]
    fn invalid_event_id_rejected() {
        let error = decode(&with_field("event_id", r#""not-a-uuid""#)).unwrap_err();
        assert_eq!(error.reason, Reason::InvalidEventId);
        assert!(error.detail.contains("not-a-uuid"));
    }

    #[test]
    fn unknown_event_type_lists_known_ones() {
        let error = decode(&with_field("event_type", r#""hover""#)).unwrap_err();
        assert_eq!(error.reason, Reason::UnknownEventType);
        assert!(error.detail.contains("hover"), "{}", error.detail);
        assert!(error.detail.contains("page_view"), "{}", error.detail);
    }

    #[test]
    fn timestamp_rules() {
        assert_eq!(reason_of(&with_field("timestamp", "1714575600")), Reason::TimestampUnit);
        assert_eq!(reason_of(&with_field("timestamp", "1714575600000000")), Reason::TimestampUnit);
        assert_eq!(reason_of(&with_field("timestamp", r#""yesterday""#)), Reason::InvalidTimestamp);
        assert_eq!(reason_of(&with_field("timestamp", "1714575600000.5")), Reason::InvalidTimestamp);
        let future = (NOW + 6 * 60 * 1000).to_string();
        assert_eq!(reason_of(&with_field("timestamp", &future)), Reason::FutureTimestamp);
    }

    #[test]
    fn page_rules() {
        assert_eq!(reason_of(&with_field("page", r#""/a%zz""#)), Reason::InvalidPage);
        let long = format!("\"/{}\"", "a".repeat(3000));
        assert_eq!(reason_of(&with_field("page", &long)), Reason::PageTooLong);
        let json = with_field("page", r#""HTTPS://Loja.Example/Produto/?utm=1""#);
        assert_eq!(decode(&json).unwrap().page, "https://loja.example/Produto");
    }

    #[test]
    fn escaped_strings_decode() {
        let json = with_field("page", r#""\/produto\/1""#);
        assert_eq!(decode(&json).unwrap().page, "/produto/1");
    }
}
