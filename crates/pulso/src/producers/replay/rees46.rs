//! REES46 "eCommerce behavior data from multi category store" CSV files.
//!
//! Columns: `event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session`,
//! with times such as `2019-10-01 00:00:00 UTC`. Each row becomes one event:
//! - page `/product/<product_id>`;
//! - event type `view` -> `page_view`, `cart` -> `add_to_cart`, `remove_from_cart` and
//!   `purchase` unchanged;
//! - session id `user_session`, or `user:<user_id>` when it is empty;
//! - event id the UUID v5 of `rees46:<line number>`, so a duplicate row counts twice but
//!   replaying the same file twice is de-duplicated;
//! - properties `category_id` as a string (its 19 digits do not fit an f64), `category_code`
//!   and `brand` when not empty, and `price` as the original decimal text.

use std::io::Read;

use anyhow::{bail, Context};
use chrono::NaiveDateTime;
use csv::StringRecord;
use pulso_core::EventType;
use serde_json::{Map, Value};

use super::{event_id, ReplayEvent};
use crate::producers::wire::UserId;

pub const HEADER: [&str; 9] = [
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
];

/// Reads events from a REES46 CSV, one per row.
pub struct Rees46Reader<R: Read> {
    reader: csv::Reader<R>,
    name: String,
    record: StringRecord,
    rows_read: u64,
}

impl<R: Read> Rees46Reader<R> {
    /// Reads and checks the header. `name` names the input in error messages.
    pub fn new(input: R, name: &str) -> anyhow::Result<Self> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(input);
        let header = reader.headers().with_context(|| format!("{name}: failed to read the CSV header"))?;
        if header.iter().ne(HEADER) {
            bail!(
                "{name}: line 1: header is {:?}, not the REES46 header {:?}; pass --format otto for an OTTO file",
                header.iter().collect::<Vec<_>>().join(","),
                HEADER.join(",")
            );
        }
        Ok(Rees46Reader { reader, name: name.to_string(), record: StringRecord::new(), rows_read: 0 })
    }

    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// Reads the next event, or returns `None` at the end of the file.
    pub fn next_event(&mut self) -> anyhow::Result<Option<ReplayEvent>> {
        let more = self.reader.read_record(&mut self.record).map_err(|error| {
            let line = error.position().map_or(0, |position| position.line());
            anyhow::anyhow!("{}: line {line}: invalid CSV row: {error}", self.name)
        })?;
        if !more {
            return Ok(None);
        }
        self.rows_read += 1;
        let line = self.record.position().map_or(0, |position| position.line());
        let event = map_record(&self.record, line)
            .map_err(|problem| anyhow::anyhow!("{}: line {line}: {problem}", self.name))?;
        Ok(Some(event))
    }
}

/// Maps one row, found at file line `line` (the header is line 1), to an event.
pub fn map_record(record: &StringRecord, line: u64) -> Result<ReplayEvent, String> {
    let field = |index: usize| record.get(index).unwrap_or("");
    let timestamp_ms = parse_event_time(field(0))?;
    let event_type = map_event_type(field(1))?;
    let product_id = digits("product_id", field(2))?;
    let user_id = digits("user_id", field(7))?;
    let user_id_number = user_id.parse::<u64>().map_err(|_| format!("user_id {user_id:?} does not fit 64 bits"))?;
    let price = decimal("price", field(6))?;
    let session_id = match field(8) {
        "" => format!("user:{user_id}"),
        session => session.to_string(),
    };
    Ok(ReplayEvent {
        event_id: event_id(&format!("rees46:{line}")),
        event_type,
        page: format!("/product/{product_id}"),
        user_id: UserId::Number(user_id_number),
        session_id,
        timestamp_ms,
        properties: properties(field(3), field(4), field(5), price),
    })
}

fn properties(category_id: &str, category_code: &str, brand: &str, price: &str) -> Map<String, Value> {
    let mut properties = Map::new();
    properties.insert("category_id".into(), Value::String(category_id.to_string()));
    if !category_code.is_empty() {
        properties.insert("category_code".into(), Value::String(category_code.to_string()));
    }
    if !brand.is_empty() {
        properties.insert("brand".into(), Value::String(brand.to_string()));
    }
    properties.insert("price".into(), Value::String(price.to_string()));
    properties
}

/// Parses `2019-10-01 00:00:00 UTC` to epoch milliseconds.
fn parse_event_time(text: &str) -> Result<i64, String> {
    let invalid = || format!("event_time {text:?} is not of the form \"2019-10-01 00:00:00 UTC\"");
    let local = text.strip_suffix(" UTC").ok_or_else(invalid)?;
    let time = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S").map_err(|_| invalid())?;
    Ok(time.and_utc().timestamp_millis())
}

fn map_event_type(text: &str) -> Result<EventType, String> {
    match text {
        "view" => Ok(EventType::PageView),
        "cart" => Ok(EventType::AddToCart),
        "remove_from_cart" => Ok(EventType::RemoveFromCart),
        "purchase" => Ok(EventType::Purchase),
        other => {
            Err(format!("event_type {other:?} is unknown; REES46 files use view, cart, remove_from_cart or purchase"))
        }
    }
}

fn digits<'a>(name: &str, text: &'a str) -> Result<&'a str, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} {text:?} is not a non-negative integer"));
    }
    Ok(text)
}

/// Checks that `text` is a decimal such as `35.79` or `-1.00` and returns it unchanged.
fn decimal<'a>(name: &str, text: &'a str) -> Result<&'a str, String> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let is_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(whole) || !is_digits(fraction) {
        return Err(format!("{name} {text:?} is not a decimal number such as 35.79"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_LINE: &str =
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n";

    fn read_all(body: &str) -> anyhow::Result<Vec<ReplayEvent>> {
        let text = format!("{HEADER_LINE}{body}");
        let mut reader = Rees46Reader::new(text.as_bytes(), "sample.csv")?;
        let mut events = Vec::new();
        while let Some(event) = reader.next_event()? {
            events.push(event);
        }
        Ok(events)
    }

    #[test]
    fn row_maps_to_event() {
        let events = read_all("2019-10-01 00:00:05 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c\n").unwrap();
        let event = &events[0];
        assert_eq!(event.event_type, EventType::PageView);
        assert_eq!(event.page, "/product/44600062");
        assert_eq!(event.timestamp_ms, 1_569_888_005_000);
        assert_eq!(event.user_id, UserId::Number(541_312_140));
        assert_eq!(event.session_id, "72d76fde-8bb3-4e00-8c23-a032dfed738c");
        assert_eq!(event.event_id, event_id("rees46:2"));
        assert_eq!(event.properties["price"], Value::String("35.79".into()));
        assert!(!event.properties.contains_key("category_code"));
        assert_eq!(event.properties["brand"], Value::String("shiseido".into()));
    }

    #[test]
    fn category_id_keeps_all_digits() {
        let events =
            read_all("2019-10-01 00:00:00 UTC,cart,1,2053013555631882655,electronics.smartphone,,1.00,5,s\n").unwrap();
        let json = String::from_utf8(events[0].to_json()).unwrap();
        assert!(json.contains(r#""category_id":"2053013555631882655""#), "{json}");
        assert_eq!(events[0].event_type, EventType::AddToCart);
    }

    #[test]
    fn empty_session_uses_user() {
        let events = read_all("2019-10-01 00:00:00 UTC,purchase,1,2,,,0.00,541312140,\n").unwrap();
        assert_eq!(events[0].session_id, "user:541312140");
        assert_eq!(events[0].event_type, EventType::Purchase);
    }

    #[test]
    fn identical_rows_get_distinct_ids() {
        let row = "2019-10-01 00:00:00 UTC,view,1,2,,,1.00,5,s\n";
        let events = read_all(&format!("{row}{row}")).unwrap();
        assert_ne!(events[0].event_id, events[1].event_id);
        assert_eq!(events[1].event_id, event_id("rees46:3"));
    }

    #[test]
    fn unknown_event_type_names_line_and_value() {
        let error =
            read_all("2019-10-01 00:00:00 UTC,view,1,2,,,1.00,5,s\n2019-10-01 00:00:00 UTC,wishlist,1,2,,,1.00,5,s\n")
                .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("sample.csv: line 3"), "{message}");
        assert!(message.contains("wishlist"), "{message}");
    }

    #[test]
    fn bad_rows_name_the_line() {
        let cases = [
            ("2019-10-01T00:00:00Z,view,1,2,,,1.00,5,s\n", "event_time"),
            ("2019-10-01 00:00:00 UTC,view,abc,2,,,1.00,5,s\n", "product_id"),
            ("2019-10-01 00:00:00 UTC,view,1,2,,,1.0.0,5,s\n", "price"),
            ("2019-10-01 00:00:00 UTC,view,1,2,,,1.00,,s\n", "user_id"),
            ("2019-10-01 00:00:00 UTC,view,1,2\n", "line 2"),
        ];
        for (row, expected) in cases {
            let message = read_all(row).unwrap_err().to_string();
            assert!(message.contains("line 2"), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn wrong_header_rejected() {
        let error = Rees46Reader::new("a,b,c\n1,2,3\n".as_bytes(), "other.csv").err().unwrap().to_string();
        assert!(error.contains("other.csv: line 1"), "{error}");
        assert!(error.contains("--format otto"), "{error}");
    }
}
