//! Sending events to Kafka for `generate` and `replay`.
//!
//! Delivery guarantee: the producer is idempotent with `acks=all`, so each partition keeps the
//! order in which messages were sent and a retry never writes a message twice. A message that
//! librdkafka still cannot deliver when `message.timeout.ms` (default 300 s) runs out gets a
//! failed delivery report. Every report is counted, and [`Sender::finish`] returns an error
//! naming how many messages failed and why, so a run never reports success with lost messages.
//!
//! Each message may carry a tracking id in its delivery opaque, and the delivery report of a
//! tracked message records the partition and offset it was written to.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use prometheus::{IntCounter, IntGauge};
use rdkafka::ClientContext;

use crate::config::KafkaConfig;
use crate::kafka::{self, CONTROL_HEADER, END_OF_INPUT};
use crate::shutdown::Stop;
use crate::telemetry::metrics;

/// How often [`Sender::progress_due`] returns a sample.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
/// Messages sent between two polls for delivery reports.
const POLL_EVERY: u64 = 256;
/// Distinct delivery error messages kept for the final error.
const MAX_ERROR_KINDS: usize = 10;

/// The first and last offset written to one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRange {
    pub first: i64,
    pub last: i64,
}

/// The record of a finished run's delivery reports.
#[derive(Debug, Default)]
pub struct Deliveries {
    pub delivered: u64,
    /// Partition and offset of each tracked message, by tracking id.
    pub tracked: HashMap<usize, (i32, i64)>,
    /// Offsets written per partition, end-of-input markers included.
    pub offsets: BTreeMap<i32, OffsetRange>,
}

#[derive(Debug, Default)]
struct DeliveryLog {
    deliveries: Deliveries,
    failed: u64,
    errors: BTreeMap<String, u64>,
}

impl DeliveryLog {
    fn record_success(&mut self, partition: i32, offset: i64, opaque: usize) {
        let deliveries = &mut self.deliveries;
        deliveries.delivered += 1;
        if opaque > 0 {
            deliveries.tracked.insert(opaque - 1, (partition, offset));
        }
        let range = deliveries.offsets.entry(partition).or_insert(OffsetRange { first: offset, last: offset });
        range.first = range.first.min(offset);
        range.last = range.last.max(offset);
    }

    fn record_failure(&mut self, error: &KafkaError) {
        self.failed += 1;
        let message = error.to_string();
        if self.errors.len() < MAX_ERROR_KINDS || self.errors.contains_key(&message) {
            *self.errors.entry(message).or_insert(0) += 1;
        }
    }
}

/// Producer context that records every delivery report. The opaque is 0 for an untracked
/// message and `tracking id + 1` for a tracked one.
struct DeliveryContext {
    log: Mutex<DeliveryLog>,
    delivered: IntCounter,
    failed: IntCounter,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::kafka::log_client_line(level, facility, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        crate::kafka::log_client_error(&error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(message) => {
                self.delivered.inc();
                log.record_success(message.partition(), message.offset(), opaque);
            }
            Err((error, _)) => {
                self.failed.inc();
                log.record_failure(error);
            }
        }
    }
}

/// A progress sample, returned about every five seconds.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub sent: u64,
    /// Messages per second since the previous sample.
    pub per_second: f64,
    /// Messages waiting in the producer's queue or in flight to the broker.
    pub queue_depth: i32,
}

/// A producer for one topic that sends to explicit partitions.
pub struct Sender {
    producer: BaseProducer<DeliveryContext>,
    topic: String,
    partitions: i32,
    sent: u64,
    last_progress_at: Instant,
    last_progress_sent: u64,
    queue_depth: IntGauge,
}

impl Sender {
    /// Creates the producer and reads the topic's partition count from the brokers. `command`
    /// labels the producer metrics.
    pub fn connect(kafka_config: &KafkaConfig, command: &'static str) -> anyhow::Result<Sender> {
        let topic = kafka_config.topic.clone();
        let partitions = kafka::partition_count(kafka_config, &topic)?;
        if partitions < 1 {
            bail!("topic {topic:?} has no partitions; recreate it with `pulso topics --partitions 4`");
        }
        let metrics = metrics::producer();
        let context = DeliveryContext {
            log: Mutex::default(),
            delivered: metrics.messages_sent.with_label_values(&[&topic, command]),
            failed: metrics.send_errors.with_label_values(&[&topic, command]),
        };
        let producer = kafka::reliable_producer_config(kafka_config)
            .create_with_context(context)
            .context("failed to create Kafka producer")?;
        let queue_depth = metrics.queue_depth.with_label_values(&[command]);
        Ok(Sender { producer, topic, partitions, sent: 0, last_progress_at: Instant::now(), last_progress_sent: 0, queue_depth })
    }

    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Queues one message. `value` `None` is a tombstone. A tracked message's delivery report
    /// records its partition and offset under `tracking`. Waits while the queue is full.
    pub fn send(
        &mut self,
        partition: i32,
        key: &[u8],
        value: Option<&[u8]>,
        tracking: Option<usize>,
    ) -> anyhow::Result<()> {
        let opaque = tracking.map_or(0, |id| id + 1);
        self.enqueue(partition, Some(key), value, None, opaque)
    }

    /// Sends an end-of-input marker, an empty message with the control header, to every partition.
    pub fn send_end_markers(&mut self) -> anyhow::Result<()> {
        for partition in 0..self.partitions {
            let headers = OwnedHeaders::new().insert(Header { key: CONTROL_HEADER, value: Some(END_OF_INPUT) });
            self.enqueue(partition, None, Some(&[]), Some(headers), 0)?;
        }
        Ok(())
    }

    fn enqueue(
        &mut self,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
        opaque: usize,
    ) -> anyhow::Result<()> {
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(&self.topic, opaque).partition(partition);
        record.key = key;
        record.payload = value;
        record.headers = headers;
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    self.producer.poll(Duration::from_millis(100));
                }
                Err((error, _)) => {
                    bail!("failed to queue a message for topic {:?} partition {partition}: {error}", self.topic)
                }
            }
        }
        self.sent += 1;
        if self.sent % POLL_EVERY == 0 {
            self.producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    /// Serves delivery reports until `deadline` or until a stop is requested.
    pub fn wait_until(&self, deadline: Instant, stop: &Stop) {
        loop {
            let now = Instant::now();
            if now >= deadline || stop.requested() {
                return;
            }
            self.producer.poll((deadline - now).min(Duration::from_millis(100)));
        }
    }

    /// Returns a progress sample when the previous one is at least five seconds old.
    pub fn progress_due(&mut self) -> Option<Progress> {
        let elapsed = self.last_progress_at.elapsed();
        if elapsed < PROGRESS_INTERVAL {
            return None;
        }
        let per_second = (self.sent - self.last_progress_sent) as f64 / elapsed.as_secs_f64();
        self.last_progress_at = Instant::now();
        self.last_progress_sent = self.sent;
        let queue_depth = self.producer.in_flight_count();
        self.queue_depth.set(queue_depth as i64);
        Some(Progress { sent: self.sent, per_second, queue_depth })
    }

    /// Waits for the delivery report of every message and returns what they recorded, or an
    /// error if any message was not delivered.
    pub fn finish(self) -> anyhow::Result<Deliveries> {
        let mut last_log = Instant::now();
        while self.producer.in_flight_count() > 0 {
            // A flush timeout only means messages are still in flight: librdkafka reports each
            // one as delivered or failed within message.timeout.ms, so this loop ends.
            let _ = self.producer.flush(Duration::from_millis(500));
            if last_log.elapsed() >= PROGRESS_INTERVAL {
                tracing::info!(in_flight = self.producer.in_flight_count(), "waiting for delivery reports");
                last_log = Instant::now();
            }
        }
        self.producer.poll(Duration::ZERO);
        let log = std::mem::take(&mut *self.producer.context().log.lock().unwrap_or_else(PoisonError::into_inner));
        if log.failed > 0 {
            bail!(
                "{} of {} messages to topic {:?} were not delivered ({}); check that the brokers \
                 are reachable and the topic exists, then run again",
                log.failed,
                self.sent,
                self.topic,
                describe_errors(&log.errors)
            );
        }
        if log.deliveries.delivered != self.sent {
            bail!(
                "{} messages were sent to topic {:?} but {} delivery reports arrived",
                self.sent,
                self.topic,
                log.deliveries.delivered
            );
        }
        Ok(log.deliveries)
    }
}

fn describe_errors(errors: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = errors.iter().map(|(message, count)| format!("{count} x {message}")).collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_log_records_tracked_offsets() {
        let mut log = DeliveryLog::default();
        log.record_success(1, 10, 0);
        log.record_success(1, 11, 6);
        log.record_success(0, 3, 0);
        assert_eq!(log.deliveries.delivered, 3);
        assert_eq!(log.deliveries.tracked.get(&5), Some(&(1, 11)));
        assert_eq!(log.deliveries.tracked.len(), 1);
        assert_eq!(log.deliveries.offsets[&1], OffsetRange { first: 10, last: 11 });
        assert_eq!(log.deliveries.offsets[&0], OffsetRange { first: 3, last: 3 });
    }

    #[test]
    fn delivery_log_groups_failures() {
        let mut log = DeliveryLog::default();
        let timeout = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        log.record_failure(&timeout);
        log.record_failure(&timeout);
        assert_eq!(log.failed, 2);
        let described = describe_errors(&log.errors);
        assert!(described.starts_with("2 x "), "{described}");
        assert!(described.contains("timed out"), "{described}");
    }
}
