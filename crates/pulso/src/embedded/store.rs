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
"];

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
            for row in &flush.counts {
                counts.execute(params![row.window_start_ms, flush.page(row), row.event_type.as_str(), row.count as i64])?;
                totals.execute(params![row.window_start_ms, row.event_type.as_str(), row.count as i64])?;
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
    fn top_pages(&self, range: TimeRange, page_filter: Option<&str>, limit: usize) -> anyhow::Result<Vec<PageClicks>> {
        let previous = range.previous();
        let filter = page_filter.map(|text| format!("%{}%", text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let sql = format!(
            "SELECT page, \
                SUM(CASE WHEN window_start_ms >= ?1 THEN count ELSE 0 END) AS clicks, \
                SUM(CASE WHEN window_start_ms < ?1 THEN count ELSE 0 END) AS previous_clicks \
             FROM counts WHERE window_start_ms >= ?2 AND window_start_ms < ?3 AND event_type IN ({}) \
               AND (?4 IS NULL OR lower(page) LIKE ?4 ESCAPE '\\') \
             GROUP BY page HAVING clicks > 0 ORDER BY clicks DESC, page LIMIT ?5",
            self.click_list()
        );
        let connection = self.lock();
        let mut statement = connection.prepare(&sql)?;
        let rows = statement.query_map(params![range.from_ms, previous.from_ms, range.to_ms, filter, limit as i64], |row| {
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
    fn other_window_size_rejected() {
        let path = std::env::temp_dir().join(format!("pulso-store-size-{}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SqliteStore::open(&path, MINUTE, &[EventType::Click]).unwrap();
        let error = SqliteStore::open(&path, 2 * MINUTE, &[EventType::Click]).err().unwrap().to_string();
        assert!(error.contains("60000 ms windows"), "{error}");
    }
}
