//! Per-flush accumulation of metrics. The per-event path only bumps plain integers here; the
//! shared Prometheus metrics are updated once per flush, off the hot path.

use prometheus::core::Collector;
use pulso_core::{EventType, PartitionId, Reason};

use crate::telemetry::metrics::ProcessorMetrics;

/// What happened since the last flush.
#[derive(Debug, Default)]
pub struct Tally {
    /// Messages consumed, indexed by partition number.
    consumed: Vec<u64>,
    valid: [u64; EventType::ALL.len()],
    rejected: [u64; Reason::ALL.len()],
    /// Event times of counted events, for the end-to-end latency histogram.
    counted_event_ms: Vec<i64>,
    /// (processing time of a batch, messages in it), for the processing latency histogram.
    batches: Vec<(i64, u64)>,
}

impl Tally {
    #[inline]
    pub fn consumed(&mut self, partition: PartitionId) {
        let index = partition.max(0) as usize;
        if index >= self.consumed.len() {
            self.consumed.resize(index + 1, 0);
        }
        self.consumed[index] += 1;
    }

    #[inline]
    pub fn counted(&mut self, event_type: EventType, timestamp_ms: i64) {
        self.valid[event_type as usize] += 1;
        self.counted_event_ms.push(timestamp_ms);
    }

    #[inline]
    pub fn rejected(&mut self, reason: Reason) {
        self.rejected[reason_index(reason)] += 1;
    }

    pub fn batch(&mut self, now_ms: i64, messages: u64) {
        if messages > 0 {
            self.batches.push((now_ms, messages));
        }
    }

    /// Publishes the tally as of a commit at `committed_ms` and starts a new one.
    pub fn publish(&mut self, metrics: &ProcessorMetrics, topic: &str, committed_ms: i64) {
        for (partition, count) in std::mem::take(&mut self.consumed).into_iter().enumerate() {
            if count > 0 {
                metrics.events_consumed.with_label_values(&[topic, &partition.to_string()]).inc_by(count);
            }
        }
        for (event_type, count) in EventType::ALL.iter().zip(self.valid) {
            if count > 0 {
                metrics.events_valid.with_label_values(&[topic, event_type.as_str()]).inc_by(count);
            }
        }
        self.publish_rejections(metrics, topic);
        self.publish_latencies(metrics, committed_ms);
        *self = Tally::default();
    }

    fn publish_rejections(&self, metrics: &ProcessorMetrics, topic: &str) {
        for (reason, count) in Reason::ALL.iter().zip(self.rejected) {
            match (reason, count) {
                (_, 0) => {}
                (Reason::Late, _) => metrics.events_late.with_label_values(&[topic]).inc_by(count),
                (Reason::Duplicate, _) => metrics.events_duplicate.with_label_values(&[topic]).inc_by(count),
                _ => metrics.events_invalid.with_label_values(&[topic, reason.code()]).inc_by(count),
            }
        }
    }

    fn publish_latencies(&self, metrics: &ProcessorMetrics, committed_ms: i64) {
        let end_to_end = metrics.end_to_end_latency.local();
        for timestamp_ms in &self.counted_event_ms {
            end_to_end.observe(seconds_between(*timestamp_ms, committed_ms));
        }
        end_to_end.flush();
        let processing = metrics.processing_latency.local();
        for (consumed_ms, messages) in &self.batches {
            let seconds = seconds_between(*consumed_ms, committed_ms);
            for _ in 0..*messages {
                processing.observe(seconds);
            }
        }
        processing.flush();
    }
}

fn reason_index(reason: Reason) -> usize {
    Reason::ALL.iter().position(|candidate| *candidate == reason).unwrap_or(0)
}

fn seconds_between(from_ms: i64, to_ms: i64) -> f64 {
    (to_ms - from_ms).max(0) as f64 / 1000.0
}

/// Removes the per-partition series of partitions this processor no longer owns, so that a
/// dashboard does not show a stale lag for them.
pub fn forget_partitions(metrics: &ProcessorMetrics, topic: &str, keep: &[PartitionId]) {
    for family in metrics.consumer_lag.collect() {
        for metric in family.get_metric() {
            let partition = metric.get_label().iter().find(|label| label.name() == "partition").map(|label| label.value().to_string());
            if let Some(partition) = partition {
                if !keep.iter().any(|p| p.to_string() == partition) {
                    let _ = metrics.consumer_lag.remove_label_values(&[topic, &partition]);
                    let _ = metrics.partition_watermark_delay.remove_label_values(&[topic, &partition]);
                }
            }
        }
    }
}
