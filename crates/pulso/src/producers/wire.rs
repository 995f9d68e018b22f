//! The JSON form of an event (event format v1) as the producers write it: one object per
//! Kafka message, keyed by the session id.

use chrono::{FixedOffset, SecondsFormat, TimeZone, Utc};
use serde::Serialize;
use uuid::Uuid;

/// A user id. The format accepts strings and integers, and trackers send both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum UserId {
    Number(u64),
    Text(String),
}

/// An event time as written on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Timestamp {
    /// Integer epoch milliseconds.
    Millis(i64),
    /// RFC 3339 text with an offset.
    Text(String),
}

impl Timestamp {
    /// RFC 3339 with millisecond precision at the given UTC offset, such as
    /// `2024-05-01T12:00:00.250-03:00`.
    pub fn rfc3339_at_offset(timestamp_ms: i64, offset_seconds: i32) -> Timestamp {
        let offset = FixedOffset::east_opt(offset_seconds).expect("UTC offset within one day");
        let time = Utc.timestamp_millis_opt(timestamp_ms).single().expect("event time within chrono's range");
        Timestamp::Text(time.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::Millis, false))
    }
}

/// One event. Field order here is the order in the JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct WireEvent<'a, P: Serialize> {
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub page: &'a str,
    pub user_id: &'a UserId,
    pub session_id: &'a str,
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<&'a str>,
    pub properties: &'a P,
}

impl<P: Serialize> WireEvent<'_, P> {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an event always serialises to JSON")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_uses_given_offset() {
        let text = Timestamp::rfc3339_at_offset(1_714_575_600_250, -3 * 3600);
        assert_eq!(text, Timestamp::Text("2024-05-01T12:00:00.250-03:00".into()));
    }

    #[test]
    fn event_serialises_in_field_order() {
        let user = UserId::Number(42);
        let properties = serde_json::json!({"price": "10.50"});
        let event = WireEvent {
            event_id: Uuid::from_u128(1),
            event_type: "click",
            page: "/a",
            user_id: &user,
            session_id: "s1",
            timestamp: Timestamp::Millis(1_714_575_600_000),
            referrer: None,
            user_agent: Some("ua"),
            properties: &properties,
        };
        let json = String::from_utf8(event.to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"event_id":"00000000-0000-0000-0000-000000000001","event_type":"click","page":"/a","user_id":42,"session_id":"s1","timestamp":1714575600000,"user_agent":"ua","properties":{"price":"10.50"}}"#
        );
    }
}
