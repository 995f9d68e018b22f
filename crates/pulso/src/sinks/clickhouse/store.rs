//! The ClickHouse count store.
//!
//! A flush is one `INSERT ... FORMAT RowBinary` into `page_counts` holding the count deltas and
//! one checkpoint row per partition. All rows carry the same `committed_at`, so they fall into
//! one table partition and form one part, which becomes visible atomically. The insert must
//! also stay within one block: `max_insert_block_size` is raised above the largest flush.
//!
//! A failure after the request was sent leaves the outcome unknown. The store then kills the
//! query by its id, waits for the kill, and looks for the flush's checkpoint rows by `flush_id`
//! before deciding to send again. So a retried flush is never stored twice.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use pulso_core::watermark::WatermarkSnapshot;
use pulso_core::{Checkpoint, Flush, PartitionId};
use serde::Deserialize;

use super::client::{quote, Client, ClickHouseError, ErrorKind};
use super::rowbinary::RowBinary;
use crate::config::ClickHouseConfig;
use crate::shutdown::Stop;
use crate::sinks::retry::Backoff;
use crate::sinks::{CommitStats, CountStore};
use crate::telemetry::metrics;

const COLUMNS: &str = "kind, window_start, window_seconds, page, event_type, reason, count, topic, source_partition, \
    checkpoint_sequence, next_offset, replay_from, watermark_ms, max_event_ms, recent_event_ms, flush_id, committed_at";

/// Rows per INSERT block. A flush must never exceed it, or it would be split into several parts.
pub const MAX_BLOCK_ROWS: usize = 4_000_000;

const KIND_COUNT: i8 = 1;
const KIND_CHECKPOINT: i8 = 2;
const KIND_REJECTED: i8 = 3;

pub struct ClickHouseStore {
    client: Client,
    database: String,
    window_seconds: u32,
    max_backoff: Duration,
}

impl ClickHouseStore {
    pub fn new(config: &ClickHouseConfig, window_ms: i64) -> ClickHouseStore {
        ClickHouseStore {
            client: Client::new(config),
            database: config.database.clone(),
            window_seconds: (window_ms / 1000) as u32,
            max_backoff: config.max_backoff,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn encode(&self, topic: &str, flush: &Flush, flush_id: &str) -> Vec<u8> {
        let committed_at_ms = epoch_ms();
        let mut out = RowBinary::with_capacity(flush.counts.len() * 64 + flush.checkpoints.len() * 128);
        for row in &flush.counts {
            out.i8(KIND_COUNT);
            out.date_time_ms(row.window_start_ms);
            out.u32(self.window_seconds);
            out.string(flush.page(row));
            out.string(row.event_type.as_str());
            out.string("");
            out.u64(row.count);
            encode_unpartitioned_tail(&mut out, topic, committed_at_ms);
        }
        for row in &flush.rejections {
            out.i8(KIND_REJECTED);
            out.date_time_ms(row.window_start_ms);
            out.u32(self.window_seconds);
            out.string("");
            out.string("");
            out.string(row.reason.code());
            out.u64(row.count);
            encode_unpartitioned_tail(&mut out, topic, committed_at_ms);
        }
        for checkpoint in &flush.checkpoints {
            out.i8(KIND_CHECKPOINT);
            out.date_time_ms(0);
            out.u32(self.window_seconds);
            out.string("");
            out.string("");
            out.string("");
            out.u64(1);
            out.string(topic);
            out.i32(checkpoint.partition);
            out.u64(checkpoint.sequence);
            out.i64(checkpoint.next_offset);
            out.i64(checkpoint.replay_from);
            out.i64(checkpoint.watermark.watermark_ms);
            out.i64(checkpoint.watermark.max_event_ms);
            out.array_i64(&checkpoint.watermark.recent_ms);
            out.string(flush_id);
            out.date_time_ms(committed_at_ms);
        }
        out.into_bytes()
    }

    /// Finds out whether an insert whose outcome is unknown was stored.
    fn resolve_unknown(&self, query_id: &str, flush_id: &str) -> Result<bool, ClickHouseError> {
        self.client.query(&format!("KILL QUERY WHERE query_id = {} SYNC", quote(query_id)))?;
        let found = self.client.query(&format!(
            "SELECT count() FROM {}.page_counts WHERE kind = 'checkpoint' AND flush_id = {}",
            self.database,
            quote(flush_id)
        ))?;
        Ok(found.trim() != "0")
    }

    /// Sleeps until the next attempt, waking early when a stop is requested.
    fn wait(&self, backoff: &mut Backoff, error: &ClickHouseError, attempt: u32, stop: &Stop) {
        let delay = backoff.next_delay();
        tracing::warn!(error = %error, attempt, retry_in_ms = delay.as_millis() as u64, "ClickHouse write failed; retrying");
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline && !stop.requested() {
            std::thread::sleep(Duration::from_millis(50).min(deadline.saturating_duration_since(Instant::now())));
        }
    }
}

impl CountStore for ClickHouseStore {
    fn fence(&self, topic: &str) -> anyhow::Result<()> {
        let pattern = format!("pulso-insert-{}-%", topic.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        self.client
            .query(&format!("KILL QUERY WHERE query_id LIKE {} SYNC", quote(&pattern)))
            .context("failed to stop in-flight inserts of a previous partition owner")?;
        Ok(())
    }

    fn load_checkpoints(&self, topic: &str, partitions: &[PartitionId]) -> anyhow::Result<Vec<Checkpoint>> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let list = partitions.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT source_partition, max(checkpoint_sequence) AS sequence, \
             argMax(next_offset, checkpoint_sequence) AS next_offset, \
             argMax(replay_from, checkpoint_sequence) AS replay_from, \
             argMax(watermark_ms, checkpoint_sequence) AS watermark_ms, \
             argMax(max_event_ms, checkpoint_sequence) AS max_event_ms, \
             argMax(recent_event_ms, checkpoint_sequence) AS recent_event_ms \
             FROM {}.page_counts WHERE kind = 'checkpoint' AND topic = {} AND source_partition IN ({list}) \
             GROUP BY source_partition FORMAT JSONEachRow",
            self.database,
            quote(topic)
        );
        let text = self
            .client
            .query_with(&sql, &[("output_format_json_quote_64bit_integers", "0")])
            .with_context(|| format!("failed to load checkpoints of topic {topic:?}"))?;
        text.lines().filter(|line| !line.trim().is_empty()).map(parse_checkpoint).collect()
    }

    fn commit(&self, topic: &str, flush: &Flush, stop: &Stop) -> anyhow::Result<CommitStats> {
        let rows = flush.counts.len() + flush.rejections.len() + flush.checkpoints.len();
        if rows > MAX_BLOCK_ROWS {
            bail!("flush of {rows} rows exceeds one INSERT block ({MAX_BLOCK_ROWS}); lower processor.max_pending_keys");
        }
        let flush_id = uuid::Uuid::new_v4().simple().to_string();
        let body = self.encode(topic, flush, &flush_id);
        let sql = format!("INSERT INTO {}.page_counts ({COLUMNS}) FORMAT RowBinary", self.database);
        let block_rows = MAX_BLOCK_ROWS.to_string();
        let mut backoff = Backoff::new(self.max_backoff);
        let started = Instant::now();
        let metrics = metrics::processor();
        let _timer = metrics.insert_duration.start_timer();
        for attempt in 1.. {
            if attempt > 1 {
                metrics.insert_retries.inc();
            }
            let final_attempt_made = stop.requested();
            let query_id = format!("pulso-insert-{topic}-{flush_id}-{attempt}");
            let settings = [("query_id", query_id.as_str()), ("max_insert_block_size", block_rows.as_str())];
            let error = match self.client.insert(&sql, &body, &settings) {
                Ok(()) => {
                    metrics.insert_rows.inc_by(rows as u64);
                    metrics.insert_bytes.inc_by(body.len() as u64);
                    return Ok(CommitStats { rows, bytes: body.len(), attempts: attempt });
                }
                Err(error) => error,
            };
            let kind = match error.kind() {
                ErrorKind::Transient => "transient",
                ErrorKind::Unknown => "unknown",
                ErrorKind::Permanent => "permanent",
            };
            metrics.insert_failures.with_label_values(&[kind]).inc();
            match error.kind() {
                ErrorKind::Permanent => {
                    return Err(error).with_context(|| describe_flush(topic, flush));
                }
                ErrorKind::Transient => self.wait(&mut backoff, &error, attempt, stop),
                ErrorKind::Unknown => loop {
                    match self.resolve_unknown(&query_id, &flush_id) {
                        Ok(true) => return Ok(CommitStats { rows, bytes: body.len(), attempts: attempt }),
                        Ok(false) => break,
                        Err(resolve_error) => self.wait(&mut backoff, &resolve_error, attempt, stop),
                    }
                    if stop.requested() {
                        break;
                    }
                },
            }
            // A stop request cuts the wait short and leaves one last attempt.
            if stop.requested() && final_attempt_made {
                bail!(
                    "stopped after {attempt} failed attempts over {:?} to write to ClickHouse; the \
                     uncommitted events will be read again on restart",
                    started.elapsed()
                );
            }
        }
        unreachable!("the attempt loop only ends by returning")
    }
}

/// Encodes the columns after `count` of a row that belongs to no Kafka partition.
fn encode_unpartitioned_tail(out: &mut RowBinary, topic: &str, committed_at_ms: i64) {
    out.string(topic);
    out.i32(-1);
    for _ in 0..5 {
        out.i64(0);
    }
    out.array_i64(&[]);
    out.string("");
    out.date_time_ms(committed_at_ms);
}

fn describe_flush(topic: &str, flush: &Flush) -> String {
    let sample = flush.counts.first().map(|row| {
        format!(" first row: window_start_ms={} page={:?} event_type={}", row.window_start_ms, flush.page(row), row.event_type)
    });
    format!(
        "ClickHouse rejected a flush of topic {topic:?} ({} count rows, {} checkpoints);{} \
         this is not retried because the same data would fail again",
        flush.counts.len(),
        flush.checkpoints.len(),
        sample.unwrap_or_default()
    )
}

#[derive(Deserialize)]
struct CheckpointRow {
    source_partition: i32,
    sequence: u64,
    next_offset: i64,
    replay_from: i64,
    watermark_ms: i64,
    max_event_ms: i64,
    recent_event_ms: Vec<i64>,
}

fn parse_checkpoint(line: &str) -> anyhow::Result<Checkpoint> {
    let row: CheckpointRow = serde_json::from_str(line).with_context(|| format!("malformed checkpoint row {line:?}"))?;
    Ok(Checkpoint {
        partition: row.source_partition,
        next_offset: row.next_offset,
        replay_from: row.replay_from,
        sequence: row.sequence,
        watermark: WatermarkSnapshot {
            watermark_ms: row.watermark_ms,
            max_event_ms: row.max_event_ms,
            recent_ms: row.recent_event_ms,
        },
    })
}

fn epoch_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or(0)
}
