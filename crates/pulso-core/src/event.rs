//! The validated event and its types. The wire format is documented in docs/events.md and
//! docs/event.schema.json.

use std::borrow::Cow;
use std::fmt;

/// The kind of interaction an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum EventType {
    PageView,
    Click,
    Search,
    AddToCart,
    RemoveFromCart,
    BeginCheckout,
    Purchase,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::PageView,
        EventType::Click,
        EventType::Search,
        EventType::AddToCart,
        EventType::RemoveFromCart,
        EventType::BeginCheckout,
        EventType::Purchase,
    ];

    /// Returns the name used on the wire, in ClickHouse and in metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::PageView => "page_view",
            EventType::Click => "click",
            EventType::Search => "search",
            EventType::AddToCart => "add_to_cart",
            EventType::RemoveFromCart => "remove_from_cart",
            EventType::BeginCheckout => "begin_checkout",
            EventType::Purchase => "purchase",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        match name {
            "page_view" => Some(EventType::PageView),
            "click" => Some(EventType::Click),
            "search" => Some(EventType::Search),
            "add_to_cart" => Some(EventType::AddToCart),
            "remove_from_cart" => Some(EventType::RemoveFromCart),
            "begin_checkout" => Some(EventType::BeginCheckout),
            "purchase" => Some(EventType::Purchase),
            _ => None,
        }
    }

    /// Lists every name, comma-separated, for error messages.
    pub fn names() -> String {
        EventType::ALL.map(EventType::as_str).join(", ")
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event that passed validation. The page is already normalised and borrows from the message
/// whenever the original was canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub event_id: u128,
    pub event_type: EventType,
    pub page: Cow<'a, str>,
    /// Event time in epoch milliseconds (UTC).
    pub timestamp_ms: i64,
}
