//! The embedded count store: SQLite tables for counts, rejections and checkpoints, written in
//! one transaction per flush, and the [`CountsQuery`] the dashboard reads.

use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use pulso_core::watermark::WatermarkSnapshot;
use pulso_core::{Checkpoint, EventType, Flush, PartitionId, Reason};
use rusqlite::{params, Connection, OptionalExtension};

use crate::query::{CountsQuery, PageClicks, PagePoint, TimeRange, WindowTotals};
use crate::shutdown::Stop;
use crate::sinks::{CommitStats, CountStore};

/// Schema versions, applied in order and recorded in `PRAGMA user_version`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE counts (
        window_start_ms INTEGER NOT NULL, page TEXT NOT NULL, event_type TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (window_start_ms, page, event_type)) WITHOUT ROWID;
    CREATE TABLE rejections (
        window_start_ms INTEGER NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (window_start_ms, reason)) WITHOUT ROWID;
    CREATE TABLE checkpoints (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, sequence INTEGER NOT NULL, next_offset INTEGER NOT NULL,
        replay_from INTEGER NOT NULL, watermark_ms INTEGER NOT NULL, max_event_ms INTEGER NOT NULL,
        recent_event_ms TEXT NOT NULL, PRIMARY KEY (topic, partition)) WITHOUT ROWID;
    CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
", "
    -- Totals per window and event type, kept beside the counts so that a day of windows reads a
    -- few thousand rows instead of every page's row.
    CREATE TABLE window_totals (
        window_start_ms INTEGER NOT NULL, event_type TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (window_start_ms, event_type)) WITHOUT ROWID;
    INSERT INTO window_totals (window_start_ms, event_type, count)
        SELECT window_start_ms, event_type, SUM(count) FROM counts GROUP BY window_start_ms, event_type;
    -- Series of one page over a range.
    CREATE INDEX counts_by_page ON counts (page, window_start_ms);
", "
    -- Counts per hour, page and event type, so that the top pages of a day read whole hours.
    CREATE TABLE page_hours (
        hour_start_ms INTEGER NOT NULL, page TEXT NOT NULL, event_type TEXT NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (hour_start_ms, page, event_type)) WITHOUT ROWID;
    INSERT INTO page_hours (hour_start_ms, page, event_type, count)
        SELECT window_start_ms - window_start_ms % 3600000, page, event_type, SUM(count)
        FROM counts GROUP BY 1, 2, 3;
"];

const HOUR_MS: i64 = 3_600_000;

pub struct SqliteStore {
    connection: Mutex<Connection>,
    click_types: Vec<String>,
    window_ms: i64,
}

impl SqliteStore {
    /// Opens the store and applies its schema. Refuses a store written with another window size,
    /// since its counts could not be combined with new ones.
    pub fn open(path: &Path, window_ms: i64, click_types: &[EventType]) -> anyhow::Result<SqliteStore> {
        let mut connection = super::open(path)?;
        migrate(&mut connection)?;
        check_window(&connection, window_ms)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
            click_types: click_types.iter().map(|t| t.as_str().to_string()).collect(),
            window_ms,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().expect("store connection lock")
    }

    /// `IN (...)` list of the click types, quoted for SQL. The types come from a fixed set.
    fn click_list(&self) -> String {
        self.click_types.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(",")
    }
}

fn migrate(connection: &mut Connection) -> anyhow::Result<()> {
    let version: usize = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(sql).with_context(|| format!("embedded store migration {} failed", index + 1))?;
        transaction.pragma_update(None, "user_version", index + 1)?;
        transaction.commit()?;
    }
    Ok(())
}

fn check_window(connection: &Connection, window_ms: i64) -> anyhow::Result<()> {
    let stored: Option<String> = connection.query_row("SELECT value FROM settings WHERE name = 'window_ms'", [], |row| row.get(0)).optional()?;
    match stored {
        Some(value) if value != window_ms.to_string() => anyhow::bail!(
            "the embedded store was written with {value} ms windows, not {window_ms} ms; use the same \
             processor.window or a new data folder"
        ),
        Some(_) => Ok(()),
        None => {
            connection.execute("INSERT INTO settings (name, value) VALUES ('window_ms', ?1)", params![window_ms.to_string()])?;
            Ok(())
        }
    }
}

impl CountStore for SqliteStore {
    /// One process owns the embedded log, so there is no other writer to fence.
    fn fence(&self, _topic: &str) -> anyhow::Result<()> {
        Ok(())
    }

    fn load_checkpoints(&self, topic: &str, partitions: &[PartitionId]) -> anyhow::Result<Vec<Checkpoint>> {
        let connection = self.lock();
        let mut statement = connection.prepare(
            "SELECT partition, sequence, next_offset, replay_from, watermark_ms, max_event_ms, recent_event_ms \
             FROM checkpoints WHERE topic = ?1",
        )?;
        let rows = statement.query_map(params![topic], |row| {
            let recent: String = row.get(6)?;
            Ok(Checkpoint {
                partition: row.get(0)?,
                sequence: row.get::<_, i64>(1)? as u64,
                next_offset: row.get(2)?,
                replay_from: row.get(3)?,
                watermark: WatermarkSnapshot {
                    watermark_ms: row.get(4)?,
                    max_event_ms: row.get(5)?,
                    recent_ms: serde_json::from_str(&recent).unwrap_or_default(),
                },
            })
        })?;
        let all = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(all.into_iter().filter(|c| partitions.contains(&c.partition)).collect())
    }

    fn commit(&self, topic: &str, flush: &Flush, _stop: &Stop) -> anyhow::Result<CommitStats> {
        let mut connection = self.lock();
        let transaction = connection.transaction()?;
        {
            let mut counts = transaction.prepare_cached(
                "INSERT INTO counts (window_start_ms, page, event_type, count) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (window_start_ms, page, event_type) DO UPDATE SET count = count + excluded.count",
            )?;
            let mut totals = transaction.prepare_cached(
                "INSERT INTO window_totals (window_start_ms, event_type, count) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (window_start_ms, event_type) DO UPDATE SET count = count + excluded.count",
            )?;
            let mut hours = transaction.prepare_cached(
                "INSERT INTO page_hours (hour_start_ms, page, event_type, count) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (hour_start_ms, page, event_type) DO UPDATE SET count = count + excluded.count",
            )?;
            for row in &flush.counts {
                let (page, event_type, count) = (flush.page(row), row.event_type.as_str(), row.count as i64);
                counts.execute(params![row.window_start_ms, page, event_type, count])?;
                totals.execute(params![row.window_start_ms, event_type, count])?;
                hours.execute(params![row.window_start_ms - row.window_start_ms.rem_euclid(HOUR_MS), page, event_type, count])?;
            }
            let mut rejections = transaction.prepare_cached(
                "INSERT INTO rejections (window_start_ms, reason, count) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (window_start_ms, reason) DO UPDATE SET count = count + excluded.count",
            )?;
            for row in &flush.rejections {
                rejections.execute(params![row.window_start_ms, row.reason.code(), row.count as i64])?;
            }
            let mut checkpoints = transaction.prepare_cached(
                "INSERT OR REPLACE INTO checkpoints (topic, partition, sequence, next_offset, replay_from, watermark_ms, max_event_ms, recent_event_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for checkpoint in &flush.checkpoints {
                checkpoints.execute(params![
                    topic,
                    checkpoint.partition,
                    checkpoint.sequence as i64,
                    checkpoint.next_offset,
                    checkpoint.replay_from,
                    checkpoint.watermark.watermark_ms,
                    checkpoint.watermark.max_event_ms,
                    serde_json::to_string(&checkpoint.watermark.recent_ms)?,
                ])?;
            }
        }
        transaction.commit().context("failed to commit a flush to the embedded store")?;
        Ok(CommitStats { rows: flush.counts.len() + flush.rejections.len() + flush.checkpoints.len(), bytes: 0, attempts: 1 })
    }
}

impl CountsQuery for SqliteStore {
    /// Reads whole hours of the current and previous range from `page_hours` and only the
    /// minutes at their edges from `counts`.
    fn top_pages(&self, range: TimeRange, page_filter: Option<&str>, limit: usize) -> anyhow::Result<Vec<PageClicks>> {
        let hours_usable = HOUR_MS % self.window_ms == 0;
        let mut minute_spans = Vec::new();
        let mut hour_spans = Vec::new();
        for part in [range.previous(), range] {
            let (minutes, hours) = split_by_hours(part, hours_usable);
            minute_spans.extend(minutes);
            hour_spans.extend(hours);
        }
        let filter = page_filter.map(|text| format!("%{}%", text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let sql = format!(
            "SELECT page, \
                SUM(CASE WHEN t >= ?1 THEN c ELSE 0 END) AS clicks, \
                SUM(CASE WHEN t < ?1 THEN c ELSE 0 END) AS previous_clicks \
             FROM ( \
                SELECT window_start_ms AS t, page, count AS c FROM counts WHERE event_type IN ({clicks}) AND ({minutes}) \
                UNION ALL \
                SELECT hour_start_ms AS t, page, count AS c FROM page_hours WHERE event_type IN ({clicks}) AND ({hours})) \
             WHERE (?2 IS NULL OR lower(page) LIKE ?2 ESCAPE '\\') \
             GROUP BY page HAVING clicks > 0 ORDER BY clicks DESC, page LIMIT ?3",
            clicks = self.click_list(),
            minutes = span_condition("window_start_ms", &minute_spans),
            hours = span_condition("hour_start_ms", &hour_spans),
        );
        let connection = self.lock();
        let mut statement = connection.prepare(&sql)?;
        let rows = statement.query_map(params![range.from_ms, filter, limit as i64], |row| {
            Ok(PageClicks { page: row.get(0)?, clicks: row.get::<_, i64>(1)? as u64, previous_clicks: row.get::<_, i64>(2)? as u64 })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn windows(&self, range: TimeRange) -> anyhow::Result<Vec<WindowTotals>> {
        let final_before = self.final_before_ms()?;
        let sql = format!(
            "SELECT window_start_ms, SUM(events), SUM(clicks), SUM(invalid), SUM(late), SUM(duplicate) FROM (
                SELECT window_start_ms, count AS events, CASE WHEN event_type IN ({}) THEN count ELSE 0 END AS clicks,
                       0 AS invalid, 0 AS late, 0 AS duplicate
                FROM window_totals WHERE window_start_ms >= ?1 AND window_start_ms < ?2
                UNION ALL
                SELECT window_start_ms, 0, 0,
                       CASE WHEN reason NOT IN ('{late}', '{duplicate}') THEN count ELSE 0 END,
                       CASE WHEN reason = '{late}' THEN count ELSE 0 END,
                       CASE WHEN reason = '{duplicate}' THEN count ELSE 0 END
                FROM rejections WHERE window_start_ms >= ?1 AND window_start_ms < ?2)
             GROUP BY window_start_ms ORDER BY window_start_ms",
            self.click_list(),
            late = Reason::Late.code(),
            duplicate = Reason::Duplicate.code(),
        );
        let connection = self.lock();
        let mut statement = connection.prepare(&sql)?;
        let window_ms = self.window_ms;
        let rows = statement.query_map(params![range.from_ms, range.to_ms], |row| {
            let window_start_ms: i64 = row.get(0)?;
            Ok(WindowTotals {
                window_start_ms,
                events: row.get::<_, i64>(1)? as u64,
                clicks: row.get::<_, i64>(2)? as u64,
                invalid: row.get::<_, i64>(3)? as u64,
                late: row.get::<_, i64>(4)? as u64,
                duplicate: row.get::<_, i64>(5)? as u64,
                is_final: final_before.is_some_and(|before| window_start_ms + window_ms <= before),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn page_series(&self, range: TimeRange, pages: &[String]) -> anyhow::Result<Vec<PagePoint>> {
        let connection = self.lock();
        let sql = format!(
            "SELECT window_start_ms, SUM(count) FROM counts WHERE page = ?1 AND window_start_ms >= ?2 AND window_start_ms < ?3 \
             AND event_type IN ({}) GROUP BY window_start_ms ORDER BY window_start_ms",
            self.click_list()
        );
        let mut statement = connection.prepare(&sql)?;
        let mut points = Vec::new();
        for page in pages {
            let rows = statement.query_map(params![page, range.from_ms, range.to_ms], |row| {
                Ok(PagePoint { window_start_ms: row.get(0)?, page: page.clone(), clicks: row.get::<_, i64>(1)? as u64 })
            })?;
            points.extend(rows.collect::<Result<Vec<_>, _>>()?);
        }
        points.sort_by_key(|point| point.window_start_ms);
        Ok(points)
    }

    fn final_before_ms(&self) -> anyhow::Result<Option<i64>> {
        let connection = self.lock();
        Ok(connection.query_row("SELECT MIN(watermark_ms) FROM checkpoints", [], |row| row.get(0))?)
    }
}

/// Splits a range into the minute spans at its edges and the whole hours in between. Hours are
/// used only when windows tile an hour exactly.
fn split_by_hours(range: TimeRange, hours_usable: bool) -> (Vec<(i64, i64)>, Option<(i64, i64)>) {
    let first_hour = range.from_ms + (HOUR_MS - range.from_ms.rem_euclid(HOUR_MS)) % HOUR_MS;
    let last_hour = range.to_ms - range.to_ms.rem_euclid(HOUR_MS);
    if !hours_usable || first_hour >= last_hour {
        return (vec![(range.from_ms, range.to_ms)], None);
    }
    (vec![(range.from_ms, first_hour), (last_hour, range.to_ms)], Some((first_hour, last_hour)))
}

/// `(column >= a AND column < b) OR ...` for the spans; `0` (false) when there are none.
fn span_condition(column: &str, spans: &[(i64, i64)]) -> String {
    if spans.is_empty() {
        return "0".to_string();
    }
    spans.iter().map(|(from, to)| format!("({column} >= {from} AND {column} < {to})")).collect::<Vec<_>>().join(" OR ")
}

#[cfg(test)]
mod tests {
    use pulso_core::{CountRow, RejectionRow};

    use super::*;

    const MINUTE: i64 = 60_000;
    const T0: i64 = 1_714_575_600_000;

    fn open_store(name: &str) -> SqliteStore {
        let path = std::env::temp_dir().join(format!("pulso-store-{name}-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SqliteStore::open(&path, MINUTE, &[EventType::PageView, EventType::Click]).unwrap()
    }

    fn checkpoint(partition: PartitionId, next_offset: i64, watermark_ms: i64) -> Checkpoint {
        Checkpoint {
            partition,
            next_offset,
            replay_from: 0,
            sequence: 1,
            watermark: WatermarkSnapshot { watermark_ms, max_event_ms: watermark_ms, recent_ms: vec![watermark_ms] },
        }
    }

    fn sample_flush() -> Flush {
        let row = |window, page, event_type, count| CountRow { window_start_ms: T0 + window * MINUTE, page, event_type, count };
        Flush {
            pages: vec!["/a".into(), "/b".into()],
            counts: vec![
                row(0, 0, EventType::Click, 5),
                row(0, 0, EventType::Purchase, 2),
                row(0, 1, EventType::PageView, 3),
                row(1, 0, EventType::Click, 1),
                row(1, 1, EventType::Click, 7),
            ],
            rejections: vec![
                RejectionRow { window_start_ms: T0, reason: Reason::Late, count: 4 },
                RejectionRow { window_start_ms: T0, reason: Reason::MalformedJson, count: 2 },
            ],
            checkpoints: vec![checkpoint(0, 10, T0 + MINUTE), checkpoint(1, 20, T0 + 2 * MINUTE)],
        }
    }

    #[test]
    fn commits_add_up_and_checkpoints_replace() {
        let store = open_store("commits");
        let stop = Stop::default();
        store.commit("events", &sample_flush(), &stop).unwrap();
        store.commit("events", &sample_flush(), &stop).unwrap();
        let range = TimeRange { from_ms: T0, to_ms: T0 + 2 * MINUTE };
        let windows = store.windows(range).unwrap();
        assert_eq!(windows.len(), 2);
        assert_eq!(windows[0].events, 20);
        assert_eq!(windows[0].clicks, 16);
        assert_eq!(windows[0].late, 8);
        assert_eq!(windows[0].invalid, 4);
        assert_eq!(windows[1].clicks, 16);
        let checkpoints = store.load_checkpoints("events", &[0, 1, 2]).unwrap();
        assert_eq!(checkpoints.len(), 2);
        assert_eq!(checkpoints.iter().find(|c| c.partition == 1).unwrap().next_offset, 20);
        assert!(store.load_checkpoints("other", &[0]).unwrap().is_empty());
    }

    #[test]
    fn queries_count_only_click_types() {
        let store = open_store("queries");
        store.commit("events", &sample_flush(), &Stop::default()).unwrap();
        let range = TimeRange { from_ms: T0, to_ms: T0 + 2 * MINUTE };
        let top = store.top_pages(range, None, 10).unwrap();
        assert_eq!(top[0], PageClicks { page: "/b".into(), clicks: 10, previous_clicks: 0 });
        assert_eq!(top[1], PageClicks { page: "/a".into(), clicks: 6, previous_clicks: 0 });
        let filtered = store.top_pages(range, Some("A"), 10).unwrap();
        assert_eq!(filtered.len(), 1, "{filtered:?}");
        let later = TimeRange { from_ms: T0 + MINUTE, to_ms: T0 + 2 * MINUTE };
        assert_eq!(store.top_pages(later, None, 10).unwrap()[1].previous_clicks, 5);
        let series = store.page_series(range, &["/a".to_string()]).unwrap();
        assert_eq!(series.iter().map(|p| p.clicks).collect::<Vec<_>>(), vec![5, 1]);
    }

    #[test]
    fn window_final_once_every_watermark_passed() {
        let store = open_store("final");
        store.commit("events", &sample_flush(), &Stop::default()).unwrap();
        assert_eq!(store.final_before_ms().unwrap(), Some(T0 + MINUTE));
        let windows = store.windows(TimeRange { from_ms: T0, to_ms: T0 + 2 * MINUTE }).unwrap();
        assert!(windows[0].is_final);
        assert!(!windows[1].is_final);
    }

    #[test]
    fn top_pages_from_hours_equal_minutes() {
        let store = open_store("hours");
        let pages: Vec<Box<str>> = (0..7).map(|page| format!("/p{page}").into()).collect();
        let mut counts = Vec::new();
        let mut state = 17u64;
        for minute in 0..(50 * 60) {
            for page in 0..7u32 {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                if state >> 61 == 0 {
                    continue;
                }
                let event_type = if state & 1 == 0 { EventType::Click } else { EventType::Purchase };
                counts.push(CountRow { window_start_ms: T0 + minute * MINUTE, page, event_type, count: 1 + (state >> 40) % 9 });
            }
        }
        let flush = Flush { counts, pages, rejections: Vec::new(), checkpoints: vec![checkpoint(0, 1, T0)] };
        store.commit("events", &flush, &Stop::default()).unwrap();
        for (from_minute, length_minutes) in [(1500, 24 * 60), (1501, 24 * 60), (2937, 60), (1620, 180), (7, 130)] {
            let range = TimeRange { from_ms: T0 + from_minute * MINUTE, to_ms: T0 + (from_minute + length_minutes) * MINUTE };
            let expected = naive_top_pages(&store, range);
            assert_eq!(store.top_pages(range, None, 100).unwrap(), expected, "range starting at minute {from_minute}");
        }
    }

    /// Top pages computed from `counts` alone, as a reference.
    fn naive_top_pages(store: &SqliteStore, range: TimeRange) -> Vec<PageClicks> {
        let previous = range.previous();
        let connection = store.lock();
        let mut statement = connection
            .prepare(
                "SELECT page, SUM(CASE WHEN window_start_ms >= ?1 THEN count ELSE 0 END) AS clicks, \
                 SUM(CASE WHEN window_start_ms < ?1 THEN count ELSE 0 END) FROM counts \
                 WHERE window_start_ms >= ?2 AND window_start_ms < ?3 AND event_type IN ('page_view', 'click') \
                 GROUP BY page HAVING clicks > 0 ORDER BY clicks DESC, page",
            )
            .unwrap();
        let rows = statement
            .query_map(params![range.from_ms, previous.from_ms, range.to_ms], |row| {
                Ok(PageClicks { page: row.get(0)?, clicks: row.get::<_, i64>(1)? as u64, previous_clicks: row.get::<_, i64>(2)? as u64 })
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    #[test]
    fn other_window_size_rejected() {
        let path = std::env::temp_dir().join(format!("pulso-store-size-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SqliteStore::open(&path, MINUTE, &[EventType::Click]).unwrap();
        let error = SqliteStore::open(&path, 2 * MINUTE, &[EventType::Click]).err().unwrap().to_string();
        assert!(error.contains("60000 ms windows"), "{error}");
    }
}
