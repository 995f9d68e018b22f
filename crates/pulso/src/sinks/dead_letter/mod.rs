//! The dead-letter sink: every rejected message goes to the dead-letter topic with its original
//! key, value and headers, plus headers naming the reason and where it came from.
//!
//! Delivery is at least once. The processing loop waits for every dead letter of a flush to be
//! acknowledged before it commits the flush, so a crash can repeat a dead letter but never lose
//! one. Consumers of the topic can de-duplicate by the source topic, partition and offset headers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use pulso_core::Rejection;

use crate::config::KafkaConfig;
use crate::kafka::reliable_producer_config;
use crate::sinks::DeadLetters;
use crate::sources::SourceMessage;

pub const REASON_HEADER: &str = "pulso-reason";
pub const DETAIL_HEADER: &str = "pulso-detail";
pub const SOURCE_TOPIC_HEADER: &str = "pulso-source-topic";
pub const SOURCE_PARTITION_HEADER: &str = "pulso-source-partition";
pub const SOURCE_OFFSET_HEADER: &str = "pulso-source-offset";

/// Counts failed deliveries so a flush can refuse to commit past them.
#[derive(Default)]
pub struct DeliveryTracker {
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryTracker {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::kafka::log_client_line(level, facility, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        crate::kafka::log_client_error(&error, reason);
    }
}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            *self.last_error.lock().expect("delivery error lock") = Some(error.to_string());
        }
    }
}

pub struct DeadLetterSink {
    producer: ThreadedProducer<DeliveryTracker>,
    topic: String,
    /// Dead letters queued since the last successful [`DeadLetterSink::flush`].
    unacknowledged: u64,
}

impl DeadLetterSink {
    pub fn new(kafka: &KafkaConfig) -> anyhow::Result<DeadLetterSink> {
        let producer = reliable_producer_config(kafka)
            .create_with_context(DeliveryTracker::default())
            .context("failed to create the dead-letter producer")?;
        Ok(DeadLetterSink { producer, topic: kafka.dead_letter_topic.clone(), unacknowledged: 0 })
    }

}

impl DeadLetters for DeadLetterSink {
    /// Blocks while the producer queue is full.
    fn send(&mut self, message: &impl SourceMessage, source_topic: &str, rejection: &Rejection) -> anyhow::Result<()> {
        let headers = dead_letter_headers(message, source_topic, rejection);
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => break,
                Err((error, returned)) if error.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((error, _)) => bail!("failed to queue a dead letter for {:?}: {error}", self.topic),
            }
        }
        self.unacknowledged += 1;
        Ok(())
    }

    fn flush(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.producer.in_flight_count() > 0 && Instant::now() < deadline {
            let _ = self.producer.flush(Duration::from_millis(100));
        }
        let failed = self.producer.context().failed.swap(0, Ordering::Relaxed);
        if failed > 0 {
            let last = self.producer.context().last_error.lock().expect("delivery error lock").take();
            bail!("{failed} dead letters failed delivery to {:?} (last error: {})", self.topic, last.unwrap_or_default());
        }
        if self.producer.in_flight_count() > 0 {
            bail!("{} dead letters still unacknowledged by {:?} after {timeout:?}", self.producer.in_flight_count(), self.topic);
        }
        Ok(())
    }

    fn take_acknowledged(&mut self) -> u64 {
        std::mem::take(&mut self.unacknowledged)
    }

}

fn dead_letter_headers(message: &impl SourceMessage, source_topic: &str, rejection: &Rejection) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    for (key, value) in message.headers() {
        headers = headers.insert(Header { key: &key, value: value.as_deref() });
    }
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    headers
        .insert(Header { key: REASON_HEADER, value: Some(rejection.reason.code()) })
        .insert(Header { key: DETAIL_HEADER, value: Some(rejection.detail.as_str()) })
        .insert(Header { key: SOURCE_TOPIC_HEADER, value: Some(source_topic) })
        .insert(Header { key: SOURCE_PARTITION_HEADER, value: Some(partition.as_str()) })
        .insert(Header { key: SOURCE_OFFSET_HEADER, value: Some(offset.as_str()) })
}
