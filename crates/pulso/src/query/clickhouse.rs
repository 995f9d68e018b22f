//! [`CountsQuery`] over ClickHouse's `page_counts` table.
//!
//! Count rows are deltas, so every count is a `sum(count)`. Every query filters on `kind` and a
//! `window_start` range first, because the table's ORDER BY key starts with
//! `(kind, window_start, page, event_type)` and ClickHouse can then skip the other granules.
//! The SQL uses only what ClickHouse 18.16 already had (no query parameters, no window
//! functions), and every literal is quoted with [`quote`].

use anyhow::Context;
use serde::{Deserialize, Deserializer};

use super::{CountsQuery, PageClicks, PagePoint, TimeRange, WindowTotals};
use crate::sinks::clickhouse::client::{quote, ClickHouseError};
use crate::sinks::clickhouse::Client;

/// Server-side time limit of one dashboard query, in seconds. A dashboard that refreshes every
/// few seconds gains nothing from a query that runs longer.
const MAX_EXECUTION_SECONDS: &str = "10";

/// ClickHouse error codes that mean the schema is missing (UNKNOWN_TABLE, UNKNOWN_DATABASE).
const MISSING_SCHEMA_CODES: &[u32] = &[60, 81];

/// Reads counts from `<database>.page_counts`.
pub struct ClickHouseQuery {
    client: Client,
    database: String,
    /// The click event types as a quoted `IN` list, such as `'page_view', 'click'`.
    click_types_sql: String,
}

impl ClickHouseQuery {
    /// Creates a query over `database`, counting `click_event_types` as clicks.
    pub fn new(client: Client, database: &str, click_event_types: &[String]) -> ClickHouseQuery {
        let click_types_sql = if click_event_types.is_empty() {
            // `IN ()` is a syntax error; a NULL list matches nothing, so no event is a click.
            "NULL".to_string()
        } else {
            click_event_types.iter().map(|name| quote(name)).collect::<Vec<_>>().join(", ")
        };
        ClickHouseQuery { client, database: database.to_string(), click_types_sql }
    }

    fn select<T: for<'de> Deserialize<'de>>(&self, sql: &str, purpose: &str) -> anyhow::Result<Vec<T>> {
        let settings = [("output_format_json_quote_64bit_integers", "0"), ("max_execution_time", MAX_EXECUTION_SECONDS)];
        let text = self.client.query_with(sql, &settings).map_err(|error| self.describe(error, purpose))?;
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).with_context(|| format!("unexpected ClickHouse row while reading {purpose}: {line}")))
            .collect()
    }

    /// Turns a client error into one that API clients can show: the server's own message without
    /// the SQL, which goes to the debug log instead.
    fn describe(&self, error: ClickHouseError, purpose: &str) -> anyhow::Error {
        tracing::debug!(%error, purpose, "ClickHouse query failed");
        let missing_schema = matches!(&error, ClickHouseError::Server { code, .. } if MISSING_SCHEMA_CODES.contains(code));
        let error = match error {
            ClickHouseError::Server { code, message, .. } => anyhow::anyhow!("ClickHouse error {code}: {}", exception_text(&message)),
            other => anyhow::Error::new(other),
        };
        if missing_schema {
            let database = &self.database;
            error.context(format!(
                "failed to read {purpose}: table {database}.page_counts not found; run `pulso migrate --database {database}`"
            ))
        } else {
            error.context(format!("failed to read {purpose} from ClickHouse database {}", self.database))
        }
    }
}

impl CountsQuery for ClickHouseQuery {
    fn top_pages(&self, range: TimeRange, page_filter: Option<&str>, limit: usize) -> anyhow::Result<Vec<PageClicks>> {
        let previous = range.previous();
        let filter_sql = match page_filter {
            Some(filter) if !filter.is_empty() => format!("AND positionCaseInsensitive(page, {}) > 0", quote(filter)),
            _ => String::new(),
        };
        let sql = format!(
            "SELECT page, \
                 sumIf(count, window_start >= {from}) AS clicks, \
                 sumIf(count, window_start < {from}) AS previous_clicks \
             FROM {db}.page_counts \
             WHERE kind = 'count' AND window_start >= {previous_from} AND window_start < {to} \
                 AND event_type IN ({clicks}) {filter_sql} \
             GROUP BY page \
             HAVING clicks > 0 \
             ORDER BY clicks DESC, page ASC \
             LIMIT {limit} \
             FORMAT JSONEachRow",
            db = self.database,
            from = date_time_sql(range.from_ms),
            previous_from = date_time_sql(previous.from_ms),
            to = date_time_sql(range.to_ms),
            clicks = self.click_types_sql,
        );
        let rows: Vec<PageClicksRow> = self.select(&sql, "top pages")?;
        Ok(rows.into_iter().map(|row| PageClicks { page: row.page, clicks: row.clicks, previous_clicks: row.previous_clicks }).collect())
    }

    fn windows(&self, range: TimeRange) -> anyhow::Result<Vec<WindowTotals>> {
        let final_before_ms = self.final_before_ms()?;
        let sql = format!(
            "SELECT toInt64(toUInt32(window_start)) * 1000 AS window_start_ms, \
                 max(window_seconds) AS window_seconds, \
                 sumIf(count, kind = 'count') AS events, \
                 sumIf(count, kind = 'count' AND event_type IN ({clicks})) AS clicks, \
                 sumIf(count, kind = 'rejected' AND reason NOT IN ('late', 'duplicate')) AS invalid, \
                 sumIf(count, kind = 'rejected' AND reason = 'late') AS late, \
                 sumIf(count, kind = 'rejected' AND reason = 'duplicate') AS duplicate \
             FROM {db}.page_counts \
             WHERE kind IN ('count', 'rejected') AND window_start >= {from} AND window_start < {to} \
             GROUP BY window_start \
             ORDER BY window_start \
             FORMAT JSONEachRow",
            db = self.database,
            from = date_time_sql(range.from_ms),
            to = date_time_sql(range.to_ms),
            clicks = self.click_types_sql,
        );
        let rows: Vec<WindowRow> = self.select(&sql, "window totals")?;
        Ok(rows.into_iter().map(|row| row.into_totals(final_before_ms)).collect())
    }

    fn page_series(&self, range: TimeRange, pages: &[String]) -> anyhow::Result<Vec<PagePoint>> {
        if pages.is_empty() {
            return Ok(Vec::new());
        }
        let page_list = pages.iter().map(|page| quote(page)).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT toInt64(toUInt32(window_start)) * 1000 AS window_start_ms, page, sum(count) AS clicks \
             FROM {db}.page_counts \
             WHERE kind = 'count' AND window_start >= {from} AND window_start < {to} \
                 AND page IN ({page_list}) AND event_type IN ({clicks}) \
             GROUP BY window_start, page \
             ORDER BY window_start, page \
             FORMAT JSONEachRow",
            db = self.database,
            from = date_time_sql(range.from_ms),
            to = date_time_sql(range.to_ms),
            clicks = self.click_types_sql,
        );
        let rows: Vec<PagePointRow> = self.select(&sql, "page series")?;
        Ok(rows.into_iter().map(|row| PagePoint { window_start_ms: row.window_start_ms, page: row.page, clicks: row.clicks }).collect())
    }

    fn final_before_ms(&self) -> anyhow::Result<Option<i64>> {
        // NOTE: this reads every checkpoint row ever written (one per partition per flush), the
        // same as the partition_checkpoints view. Limiting it to recent table partitions would
        // lose partitions that stopped writing, whose old watermark must still hold windows open.
        let sql = format!(
            "SELECT count() AS partitions, min(watermark_ms) AS final_before_ms \
             FROM (SELECT argMax(watermark_ms, checkpoint_sequence) AS watermark_ms \
                   FROM {db}.page_counts WHERE kind = 'checkpoint' \
                   GROUP BY topic, source_partition) \
             FORMAT JSONEachRow",
            db = self.database,
        );
        let rows: Vec<FinalRow> = self.select(&sql, "partition checkpoints")?;
        // An aggregate without GROUP BY returns one row even over no input, with min() = 0.
        Ok(rows.first().filter(|row| row.partitions > 0).map(|row| row.final_before_ms))
    }
}

/// Extracts the exception text from a ClickHouse error body, dropping the code prefix and the
/// suffixes that 18.16 (`, e.what() = DB::Exception`) and later versions (` (version 24.8.4.13 ...)`) add.
fn exception_text(body: &str) -> &str {
    let text = body.trim();
    let text = text.find("DB::Exception: ").map_or(text, |start| &text[start + "DB::Exception: ".len()..]);
    let end = [", e.what()", " (version "].iter().filter_map(|suffix| text.find(suffix)).min().unwrap_or(text.len());
    text[..end].trim()
}

/// Formats `toDateTime(<seconds>)` for the earliest whole second at or after `epoch_ms`. Window starts
/// are whole seconds, so `window_start >= date_time_sql(ms)` selects exactly the windows that
/// start at or after `ms`, and `window_start < date_time_sql(ms)` those that start before it.
fn date_time_sql(epoch_ms: i64) -> String {
    let seconds = epoch_ms.div_euclid(1000) + i64::from(epoch_ms.rem_euclid(1000) != 0);
    format!("toDateTime({})", seconds.clamp(0, i64::from(u32::MAX)))
}

#[derive(Deserialize)]
struct WindowRow {
    window_start_ms: i64,
    window_seconds: u32,
    #[serde(deserialize_with = "number")]
    events: u64,
    #[serde(deserialize_with = "number")]
    clicks: u64,
    #[serde(deserialize_with = "number")]
    invalid: u64,
    #[serde(deserialize_with = "number")]
    late: u64,
    #[serde(deserialize_with = "number")]
    duplicate: u64,
}

impl WindowRow {
    fn into_totals(self, final_before_ms: Option<i64>) -> WindowTotals {
        let end_ms = self.window_start_ms + i64::from(self.window_seconds) * 1000;
        WindowTotals {
            window_start_ms: self.window_start_ms,
            events: self.events,
            clicks: self.clicks,
            invalid: self.invalid,
            late: self.late,
            duplicate: self.duplicate,
            is_final: final_before_ms.is_some_and(|final_before| end_ms <= final_before),
        }
    }
}

#[derive(Deserialize)]
struct FinalRow {
    #[serde(deserialize_with = "number")]
    partitions: u64,
    final_before_ms: i64,
}

#[derive(Deserialize)]
struct PageClicksRow {
    page: String,
    #[serde(deserialize_with = "number")]
    clicks: u64,
    #[serde(deserialize_with = "number")]
    previous_clicks: u64,
}

#[derive(Deserialize)]
struct PagePointRow {
    window_start_ms: i64,
    page: String,
    #[serde(deserialize_with = "number")]
    clicks: u64,
}

/// Reads a UInt64 that ClickHouse may print as a JSON number or, with
/// `output_format_json_quote_64bit_integers` at its default of 1, as a string.
fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Plain(u64),
        Quoted(String),
    }
    match Number::deserialize(deserializer)? {
        Number::Plain(value) => Ok(value),
        Number::Quoted(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_rounds_up_to_second() {
        assert_eq!(date_time_sql(1_764_882_000_000), "toDateTime(1764882000)");
        assert_eq!(date_time_sql(1_764_882_000_001), "toDateTime(1764882001)");
        assert_eq!(date_time_sql(-5), "toDateTime(0)");
    }

    #[test]
    fn exception_text_without_code_and_version() {
        let old = "Code: 81, e.displayText() = DB::Exception: Database x doesn't exist, e.what() = DB::Exception";
        assert_eq!(exception_text(old), "Database x doesn't exist");
        let new = "Code: 81. DB::Exception: Database x does not exist. (UNKNOWN_DATABASE) (version 24.8.4.13 (official build))\n";
        assert_eq!(exception_text(new), "Database x does not exist. (UNKNOWN_DATABASE)");
        assert_eq!(exception_text("plain text"), "plain text");
    }

    #[test]
    fn quoted_and_plain_numbers_parse() {
        let plain: FinalRow = serde_json::from_str(r#"{"partitions":4,"final_before_ms":120000}"#).unwrap();
        let quoted: FinalRow = serde_json::from_str(r#"{"partitions":"4","final_before_ms":120000}"#).unwrap();
        assert_eq!(plain.partitions, 4);
        assert_eq!(quoted.partitions, 4);
    }

    #[test]
    fn window_final_when_watermark_passes_end() {
        let row = |start| WindowRow { window_start_ms: start, window_seconds: 60, events: 1, clicks: 1, invalid: 0, late: 0, duplicate: 0 };
        assert!(row(0).into_totals(Some(60_000)).is_final);
        assert!(!row(60_000).into_totals(Some(60_000)).is_final);
        assert!(!row(0).into_totals(None).is_final);
    }
}
