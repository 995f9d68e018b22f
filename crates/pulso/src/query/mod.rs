//! The read side: one query interface for the dashboard and the JSON API, implemented for
//! ClickHouse in a full deployment and for the embedded store in the embedded default.
//!
//! Every query takes a half-open range of window starts `[from_ms, to_ms)` in epoch
//! milliseconds. "Clicks" are the event types listed in `processor.click_event_types`.

pub mod clickhouse;

use serde::Serialize;

/// A half-open range of window starts, in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl TimeRange {
    /// Returns the range of the same length just before this one, for "change" columns.
    pub fn previous(self) -> TimeRange {
        let length = self.to_ms - self.from_ms;
        TimeRange { from_ms: self.from_ms - length, to_ms: self.from_ms }
    }
}

/// Clicks of one page in a range, with the clicks of the previous range of the same length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageClicks {
    pub page: String,
    pub clicks: u64,
    pub previous_clicks: u64,
}

/// Totals of one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowTotals {
    pub window_start_ms: i64,
    /// Counted events of every type.
    pub events: u64,
    /// Counted events of the click types.
    pub clicks: u64,
    /// Events rejected by validation in this processing-time window (late and duplicates
    /// excluded).
    pub invalid: u64,
    pub late: u64,
    pub duplicate: u64,
    /// Whether every partition's watermark has passed the window's end.
    pub is_final: bool,
}

/// Clicks of one page in one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PagePoint {
    pub window_start_ms: i64,
    pub page: String,
    pub clicks: u64,
}

/// Read access to stored counts.
pub trait CountsQuery: Send + Sync {
    /// Pages with the most clicks in `range`, optionally only pages containing `page_filter`,
    /// at most `limit`, most clicks first.
    fn top_pages(&self, range: TimeRange, page_filter: Option<&str>, limit: usize) -> anyhow::Result<Vec<PageClicks>>;

    /// Totals of every window in `range` that has counts or rejections, oldest first.
    fn windows(&self, range: TimeRange) -> anyhow::Result<Vec<WindowTotals>>;

    /// Clicks per window of each of `pages` in `range`, oldest first.
    fn page_series(&self, range: TimeRange, pages: &[String]) -> anyhow::Result<Vec<PagePoint>>;

    /// Returns the time before which every window is final, if any partition has a checkpoint.
    fn final_before_ms(&self) -> anyhow::Result<Option<i64>>;
}
