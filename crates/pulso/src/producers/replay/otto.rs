//! OTTO recommender-systems dataset JSONL files: one session per line,
//! `{"session": N, "events": [{"aid": int, "ts": ms, "type": "clicks"|"carts"|"orders"}]}`.
//!
//! Sessions are flattened in file order. Each event becomes:
//! - page `/article/<aid>`;
//! - event type `clicks` -> `click`, `carts` -> `add_to_cart`, `orders` -> `purchase`;
//! - session id the session number as a string, user id `otto-<session>`;
//! - event id the UUID v5 of `otto:<session>:<index>`, with `index` the event's 0-based
//!   position in its session.
//!
//! Events are in time order within a session, but one session can span weeks, so event time
//! jumps back at most session boundaries and the processor rejects many events as late.

use std::collections::VecDeque;
use std::io::BufRead;

use anyhow::Context;
use pulso_core::EventType;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{event_id, ReplayEvent};
use crate::producers::wire::UserId;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Session {
    session: u64,
    events: Vec<SessionEvent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionEvent {
    aid: u64,
    ts: i64,
    #[serde(rename = "type")]
    kind: String,
}

/// Reads events from an OTTO JSONL file, session by session.
pub struct OttoReader<R: BufRead> {
    input: R,
    name: String,
    line: String,
    line_number: u64,
    pending: VecDeque<ReplayEvent>,
}

impl<R: BufRead> OttoReader<R> {
    /// `name` names the input in error messages.
    pub fn new(input: R, name: &str) -> Self {
        OttoReader { input, name: name.to_string(), line: String::new(), line_number: 0, pending: VecDeque::new() }
    }

    /// Lines (sessions) read so far.
    pub fn rows_read(&self) -> u64 {
        self.line_number
    }

    /// Reads the next event, or returns `None` at the end of the file.
    pub fn next_event(&mut self) -> anyhow::Result<Option<ReplayEvent>> {
        while self.pending.is_empty() {
            self.line.clear();
            let read = self
                .input
                .read_line(&mut self.line)
                .with_context(|| format!("{}: failed to read line {}", self.name, self.line_number + 1))?;
            if read == 0 {
                return Ok(None);
            }
            self.line_number += 1;
            let events = map_line(self.line.trim_end_matches(['\n', '\r']))
                .map_err(|problem| anyhow::anyhow!("{}: line {}: {problem}", self.name, self.line_number))?;
            self.pending.extend(events);
        }
        Ok(self.pending.pop_front())
    }
}

/// Maps one line, a whole session, to its events in order.
pub fn map_line(line: &str) -> Result<Vec<ReplayEvent>, String> {
    let session: Session = serde_json::from_str(line).map_err(|error| format!("invalid OTTO session JSON: {error}"))?;
    session.events.iter().enumerate().map(|(index, event)| map_event(session.session, index, event)).collect()
}

fn map_event(session: u64, index: usize, event: &SessionEvent) -> Result<ReplayEvent, String> {
    let event_type = match event.kind.as_str() {
        "clicks" => EventType::Click,
        "carts" => EventType::AddToCart,
        "orders" => EventType::Purchase,
        other => return Err(format!("event {index} has type {other:?}; OTTO files use clicks, carts or orders")),
    };
    if event.ts < pulso_core::timestamp::MIN_EPOCH_MS {
        return Err(format!(
            "event {index} has ts {} which looks like epoch seconds; replay reads the original OTTO files with milliseconds",
            event.ts
        ));
    }
    let mut properties = Map::new();
    properties.insert("aid".into(), Value::from(event.aid));
    Ok(ReplayEvent {
        event_id: event_id(&format!("otto:{session}:{index}")),
        event_type,
        page: format!("/article/{}", event.aid),
        user_id: UserId::Text(format!("otto-{session}")),
        session_id: session.to_string(),
        timestamp_ms: event.ts,
        properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(text: &str) -> anyhow::Result<Vec<ReplayEvent>> {
        let mut reader = OttoReader::new(text.as_bytes(), "sample.jsonl");
        let mut events = Vec::new();
        while let Some(event) = reader.next_event()? {
            events.push(event);
        }
        Ok(events)
    }

    #[test]
    fn session_flattened_in_order() {
        let text = r#"{"session":7,"events":[{"aid":11,"ts":1659304800025,"type":"clicks"},{"aid":12,"ts":1659304900000,"type":"carts"},{"aid":12,"ts":1659305000000,"type":"orders"}]}
{"session":8,"events":[{"aid":13,"ts":1659300000000,"type":"clicks"}]}
"#;
        let events = read_all(text).unwrap();
        let types: Vec<EventType> = events.iter().map(|event| event.event_type).collect();
        assert_eq!(types, [EventType::Click, EventType::AddToCart, EventType::Purchase, EventType::Click]);
        assert_eq!(events[0].page, "/article/11");
        assert_eq!(events[0].session_id, "7");
        assert_eq!(events[0].user_id, UserId::Text("otto-7".into()));
        assert_eq!(events[0].timestamp_ms, 1_659_304_800_025);
        assert_eq!(events[2].event_id, event_id("otto:7:2"));
        assert_eq!(events[3].event_id, event_id("otto:8:0"));
    }

    #[test]
    fn unknown_type_names_line() {
        let text = "{\"session\":1,\"events\":[]}\n{\"session\":2,\"events\":[{\"aid\":1,\"ts\":1659304800025,\"type\":\"views\"}]}\n";
        let message = read_all(text).unwrap_err().to_string();
        assert!(message.contains("sample.jsonl: line 2"), "{message}");
        assert!(message.contains("views"), "{message}");
    }

    #[test]
    fn bad_lines_name_the_line() {
        let cases = [
            ("{\"session\":1,\"events\":[{\"aid\":1,\"ts\":1659304800,\"type\":\"clicks\"}]}", "epoch seconds"),
            ("{\"session\":1,\"events\":[{\"aid\":1,\"type\":\"clicks\"}]}", "ts"),
            ("{\"session\":1", "invalid OTTO session JSON"),
            ("", "invalid OTTO session JSON"),
        ];
        for (line, expected) in cases {
            let message = read_all(&format!("{line}\n")).unwrap_err().to_string();
            assert!(message.contains("sample.jsonl: line 1"), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn committed_sample_reads_whole() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/otto/train_sample.jsonl");
        let file = std::fs::File::open(path).unwrap();
        let mut reader = OttoReader::new(std::io::BufReader::new(file), path);
        let mut events = 0;
        let mut purchases = 0;
        while let Some(event) = reader.next_event().unwrap() {
            events += 1;
            purchases += usize::from(event.event_type == EventType::Purchase);
        }
        assert_eq!(reader.rows_read(), 20);
        assert_eq!(events, 862);
        assert_eq!(purchases, 10);
    }
}
