//! The oracle of a `generate` run: what the processor must produce for the messages sent.
//!
//! It is computed from the tags the generator attaches to its messages, with plain integer
//! window arithmetic, and never by calling the processor's code, so comparing the processor's
//! output with it tests the processor. Three files:
//! - `PATH`: CSV `window_start_ms,page,event_type,count`, the exact count of valid, on-time,
//!   first-seen events per window, canonical page and event type, sorted by those columns;
//! - `PATH.rejections.csv`: CSV `partition,offset,reason`, every message that must reach the
//!   dead-letter topic, sorted by partition and offset;
//! - `PATH.summary.json`: totals, rejections per reason, messages and offsets per partition,
//!   and the first and last counted event time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{SecondsFormat, TimeZone, Utc};
use pulso_core::Reason;
use serde_json::{json, Value};

use super::generator::{Expected, GeneratedMessage};
use crate::producers::sender::Deliveries;

/// Facts about the run that go into the summary.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub topic: String,
    pub seed: u64,
    pub start_ms: i64,
    pub rate: f64,
    pub allowed_lateness_ms: i64,
    pub end_markers: bool,
    pub stopped_early: bool,
}

/// Expected counts and rejections, accumulated message by message.
#[derive(Debug)]
pub struct Oracle {
    window_ms: i64,
    counts: BTreeMap<(i64, String, &'static str), u64>,
    /// Reason of each message that must be dead-lettered, by tracking id.
    rejections: Vec<Reason>,
    rejected_by_reason: BTreeMap<&'static str, u64>,
    messages_per_partition: BTreeMap<i32, u64>,
    produced: u64,
    counted: u64,
    counted_time_range: Option<(i64, i64)>,
}

impl Oracle {
    pub fn new(window_ms: i64) -> Oracle {
        Oracle {
            window_ms,
            counts: BTreeMap::new(),
            rejections: Vec::new(),
            rejected_by_reason: BTreeMap::new(),
            messages_per_partition: BTreeMap::new(),
            produced: 0,
            counted: 0,
            counted_time_range: None,
        }
    }

    /// Records a message about to be sent. Returns the tracking id to send a message that
    /// must be dead-lettered with, so its delivery report can give its offset.
    pub fn record(&mut self, message: &GeneratedMessage) -> Option<usize> {
        self.produced += 1;
        *self.messages_per_partition.entry(message.partition).or_insert(0) += 1;
        match &message.expected {
            Expected::Counted { timestamp_ms, page, event_type } => {
                self.count(*timestamp_ms, page, event_type.as_str());
                None
            }
            Expected::Rejected(reason) => {
                *self.rejected_by_reason.entry(reason.code()).or_insert(0) += 1;
                self.rejections.push(*reason);
                Some(self.rejections.len() - 1)
            }
        }
    }

    fn count(&mut self, timestamp_ms: i64, page: &str, event_type: &'static str) {
        let window_start_ms = timestamp_ms - timestamp_ms.rem_euclid(self.window_ms);
        *self.counts.entry((window_start_ms, page.to_string(), event_type)).or_insert(0) += 1;
        self.counted += 1;
        let (first, last) = self.counted_time_range.unwrap_or((timestamp_ms, timestamp_ms));
        self.counted_time_range = Some((first.min(timestamp_ms), last.max(timestamp_ms)));
    }

    pub fn produced(&self) -> u64 {
        self.produced
    }

    pub fn counted(&self) -> u64 {
        self.counted
    }

    pub fn rejected(&self) -> u64 {
        self.rejections.len() as u64
    }

    /// Sum of the count column, which equals [`Oracle::counted`].
    #[cfg(test)]
    pub fn count_total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Writes the three oracle files next to each other.
    pub fn write_files(&self, path: &Path, run: &RunInfo, deliveries: &Deliveries) -> anyhow::Result<()> {
        write_with(path, |writer| self.write_counts(writer))?;
        write_with(&sibling(path, "rejections.csv"), |writer| self.write_rejections(writer, deliveries))?;
        write_with(&sibling(path, "summary.json"), |writer| {
            serde_json::to_writer_pretty(&mut *writer, &self.summary(run, deliveries))?;
            writeln!(writer)?;
            Ok(())
        })
    }

    pub fn write_counts(&self, writer: &mut dyn Write) -> anyhow::Result<()> {
        let mut csv = csv::Writer::from_writer(writer);
        csv.write_record(["window_start_ms", "page", "event_type", "count"])?;
        for ((window_start_ms, page, event_type), count) in &self.counts {
            csv.write_record([window_start_ms.to_string().as_str(), page, event_type, count.to_string().as_str()])?;
        }
        csv.flush()?;
        Ok(())
    }

    /// Writes `partition,offset,reason` rows. Fails if a rejected message has no delivery report.
    pub fn write_rejections(&self, writer: &mut dyn Write, deliveries: &Deliveries) -> anyhow::Result<()> {
        let mut rows = Vec::with_capacity(self.rejections.len());
        for (tracking_id, reason) in self.rejections.iter().enumerate() {
            let Some(&(partition, offset)) = deliveries.tracked.get(&tracking_id) else {
                bail!("message {tracking_id} expected as {reason} has no delivery report, so its offset is unknown");
            };
            rows.push((partition, offset, reason.code()));
        }
        rows.sort_unstable();
        let mut csv = csv::Writer::from_writer(writer);
        csv.write_record(["partition", "offset", "reason"])?;
        for (partition, offset, reason) in rows {
            csv.write_record([partition.to_string().as_str(), offset.to_string().as_str(), reason])?;
        }
        csv.flush()?;
        Ok(())
    }

    pub fn summary(&self, run: &RunInfo, deliveries: &Deliveries) -> Value {
        let partitions: BTreeMap<String, Value> = self
            .messages_per_partition
            .iter()
            .map(|(partition, messages)| {
                let offsets = deliveries.offsets.get(partition);
                let entry = json!({
                    "messages": messages,
                    "first_offset": offsets.map(|range| range.first),
                    "last_offset": offsets.map(|range| range.last),
                });
                (partition.to_string(), entry)
            })
            .collect();
        json!({
            "topic": run.topic,
            "seed": run.seed,
            "start": format_ms(run.start_ms),
            "rate": run.rate,
            "window_ms": self.window_ms,
            "allowed_lateness_ms": run.allowed_lateness_ms,
            "produced": self.produced,
            "counted": self.counted,
            "rejected": self.rejections.len(),
            "rejected_per_reason": self.rejected_by_reason,
            "partitions": partitions,
            "end_markers_sent": run.end_markers,
            "stopped_early": run.stopped_early,
            "first_counted_event_time": self.counted_time_range.map(|(first, _)| format_ms(first)),
            "last_counted_event_time": self.counted_time_range.map(|(_, last)| format_ms(last)),
            "first_counted_event_ms": self.counted_time_range.map(|(first, _)| first),
            "last_counted_event_ms": self.counted_time_range.map(|(_, last)| last),
        })
    }
}

/// `PATH.suffix`, such as `/tmp/o.csv.rejections.csv`.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn write_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("failed to create oracle file {}", path.display()))?;
    let mut writer = BufWriter::new(file);
    write(&mut writer).with_context(|| format!("failed to write oracle file {}", path.display()))?;
    writer.flush().with_context(|| format!("failed to write oracle file {}", path.display()))
}

fn format_ms(timestamp_ms: i64) -> String {
    Utc.timestamp_millis_opt(timestamp_ms)
        .single()
        .map_or_else(|| timestamp_ms.to_string(), |time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulso_core::EventType;

    fn counted(partition: i32, timestamp_ms: i64, page: &str) -> GeneratedMessage {
        GeneratedMessage {
            partition,
            key: "s".into(),
            value: Some(Vec::new()),
            expected: Expected::Counted { timestamp_ms, page: page.into(), event_type: EventType::Click },
        }
    }

    fn rejected(partition: i32, reason: Reason) -> GeneratedMessage {
        GeneratedMessage { partition, key: "s".into(), value: None, expected: Expected::Rejected(reason) }
    }

    #[test]
    fn counts_grouped_by_window() {
        let mut oracle = Oracle::new(60_000);
        oracle.record(&counted(0, 120_000, "/a"));
        oracle.record(&counted(1, 179_999, "/a"));
        oracle.record(&counted(0, 180_000, "/a"));
        let mut output = Vec::new();
        oracle.write_counts(&mut output).unwrap();
        let text = String::from_utf8(output).unwrap();
        assert_eq!(text, "window_start_ms,page,event_type,count\n120000,/a,click,2\n180000,/a,click,1\n");
        assert_eq!(oracle.count_total(), 3);
    }

    #[test]
    fn rejections_sorted_by_partition_and_offset() {
        let mut oracle = Oracle::new(60_000);
        let late = oracle.record(&rejected(1, Reason::Late)).unwrap();
        let empty = oracle.record(&rejected(0, Reason::Empty)).unwrap();
        let mut deliveries = Deliveries::default();
        deliveries.tracked.insert(late, (1, 7));
        deliveries.tracked.insert(empty, (0, 9));
        let mut output = Vec::new();
        oracle.write_rejections(&mut output, &deliveries).unwrap();
        let text = String::from_utf8(output).unwrap();
        assert_eq!(text, "partition,offset,reason\n0,9,empty\n1,7,late\n");
    }

    #[test]
    fn rejection_without_offset_is_error() {
        let mut oracle = Oracle::new(60_000);
        oracle.record(&rejected(0, Reason::Duplicate));
        let error = oracle.write_rejections(&mut Vec::new(), &Deliveries::default()).unwrap_err();
        assert!(error.to_string().contains("duplicate"), "{error}");
    }

    #[test]
    fn sibling_appends_suffix() {
        assert_eq!(sibling(Path::new("/tmp/o.csv"), "summary.json"), PathBuf::from("/tmp/o.csv.summary.json"));
    }
}
