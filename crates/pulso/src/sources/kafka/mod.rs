//! The Kafka source: a consumer-group member whose partitions start at the checkpoints stored
//! with the counts, not at Kafka's committed offsets.
//!
//! On assignment, the rebalance callback fences in-flight writes of the previous owner, loads
//! the stored checkpoints and assigns each partition at its `replay_from` offset. Kafka's
//! committed offsets are still written after each flush, but only so that lag tools see
//! progress; they are never read back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext};
use pulso_core::{Checkpoint, PartitionId};

use crate::config::KafkaConfig;
use crate::kafka::{client_config, CONTROL_HEADER, END_OF_INPUT};
use crate::shutdown::Stop;
use crate::sinks::retry::Backoff;
use crate::sinks::CountStore;
use crate::sources::{PollError, RebalanceEvent, Source, SourceMessage};

/// Consumer context that positions assigned partitions from the count store.
pub struct SourceContext {
    store: Arc<dyn CountStore>,
    topic: String,
    start_from: Offset,
    stop: Stop,
    events: Mutex<Vec<RebalanceEvent>>,
}

impl ClientContext for SourceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        crate::kafka::log_client_line(level, facility, message);
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        crate::kafka::log_client_error(&error, reason);
    }
}

impl ConsumerContext for SourceContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, error: RDKafkaRespErr, partitions: &mut TopicPartitionList) {
        match error {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.on_assign(consumer, partitions),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = partitions.count(), "partitions revoked");
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "failed to unassign revoked partitions");
                }
                self.events.lock().expect("rebalance events lock").push(RebalanceEvent::Revoked);
            }
            other => tracing::error!(error = ?other, "rebalance failed"),
        }
    }
}

impl SourceContext {
    fn on_assign(&self, consumer: &BaseConsumer<Self>, partitions: &mut TopicPartitionList) {
        let ids: Vec<PartitionId> = partitions.elements_for_topic(&self.topic).iter().map(|e| e.partition()).collect();
        let checkpoints = self.load_with_retry(&ids);
        let mut assigned = Vec::with_capacity(ids.len());
        for partition in ids {
            let checkpoint = checkpoints.iter().find(|c| c.partition == partition).cloned();
            let offset = match &checkpoint {
                Some(checkpoint) if checkpoint.next_offset >= 0 => Offset::Offset(checkpoint.replay_from.min(checkpoint.next_offset)),
                _ => self.start_from,
            };
            if let Err(error) = partitions.set_partition_offset(&self.topic, partition, offset) {
                tracing::error!(%error, partition, "failed to set start offset");
            }
            assigned.push((partition, checkpoint));
        }
        tracing::info!(partitions = ?assigned.iter().map(|(p, _)| *p).collect::<Vec<_>>(), "partitions assigned");
        if let Err(error) = consumer.assign(partitions) {
            tracing::error!(%error, "failed to assign partitions");
        }
        self.events.lock().expect("rebalance events lock").push(RebalanceEvent::Assigned(assigned));
    }

    /// Fences and loads checkpoints, retrying while the store is unreachable. Consuming without
    /// checkpoints could count events twice, so there is no fallback.
    fn load_with_retry(&self, partitions: &[PartitionId]) -> Vec<Checkpoint> {
        let mut backoff = Backoff::new(Duration::from_secs(10));
        loop {
            let result = self.store.fence(&self.topic).and_then(|()| self.store.load_checkpoints(&self.topic, partitions));
            match result {
                Ok(checkpoints) => return checkpoints,
                Err(error) if self.stop.requested() => {
                    tracing::error!(error = format!("{error:#}"), "stopping without checkpoints; partitions stay unread");
                    return Vec::new();
                }
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = format!("{error:#}"), retry_in_ms = delay.as_millis() as u64, "failed to load checkpoints; retrying");
                    std::thread::sleep(delay);
                }
            }
        }
    }
}

/// The consumer and the rebalance events it produced.
pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
    topic: String,
    /// Settings [`Source::reconnect`] needs to build the consumer again.
    settings: ConsumerSettings,
}

#[derive(Clone)]
struct ConsumerSettings {
    kafka: KafkaConfig,
    group_id: String,
    instance_id: Option<String>,
    store: Arc<dyn CountStore>,
    stop: Stop,
}

fn create_consumer(settings: &ConsumerSettings) -> anyhow::Result<BaseConsumer<SourceContext>> {
    let kafka = &settings.kafka;
    let start_from = if kafka.start_from == "latest" { Offset::End } else { Offset::Beginning };
    let context = SourceContext {
        store: settings.store.clone(),
        topic: kafka.topic.clone(),
        start_from,
        stop: settings.stop.clone(),
        events: Mutex::new(Vec::new()),
    };
    let mut config = ClientConfig::new();
    config
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", &kafka.start_from)
        .set("enable.partition.eof", "false")
        .set("partition.assignment.strategy", "range,roundrobin")
        .set("fetch.wait.max.ms", "50")
        // Larger fetches and a deeper prefetch queue keep the loop fed. With librdkafka's
        // defaults (1 MiB per partition, 64 MiB queue) the loop waited on fetches and drained
        // about 130,000 events/s on a 2-core machine. These settings cost up to 128 MiB of
        // queued messages per consumer (docs/benchmarks.md).
        .set("max.partition.fetch.bytes", "16777216")
        .set("fetch.max.bytes", "104857600")
        .set("queued.max.messages.kbytes", "131072")
        .set("queued.min.messages", "1000000")
        .set("max.poll.interval.ms", "600000");
    // The brokers and the user's properties come last, so they override these defaults.
    for (key, value) in client_config(kafka).config_map().iter() {
        config.set(*key, *value);
    }
    if let Some(instance_id) = &settings.instance_id {
        config.set("group.instance.id", instance_id);
    }
    let consumer: BaseConsumer<SourceContext> = config
        .create_with_context(context)
        .with_context(|| format!("failed to create Kafka consumer for {}", kafka.brokers))?;
    consumer.subscribe(&[&kafka.topic]).with_context(|| format!("failed to subscribe to {:?}", kafka.topic))?;
    Ok(consumer)
}

impl KafkaSource {
    pub fn new(kafka: &KafkaConfig, group_id: &str, instance_id: Option<&str>, store: Arc<dyn CountStore>, stop: Stop) -> anyhow::Result<KafkaSource> {
        let settings = ConsumerSettings {
            kafka: kafka.clone(),
            group_id: group_id.to_string(),
            instance_id: instance_id.map(str::to_string),
            store,
            stop,
        };
        let consumer = create_consumer(&settings)?;
        Ok(KafkaSource { consumer, topic: kafka.topic.clone(), settings })
    }

    fn cached_watermarks(&self, partition: PartitionId) -> Option<(i64, i64)> {
        let topic = std::ffi::CString::new(self.topic.as_str()).ok()?;
        let (mut low, mut high) = (-1i64, -1i64);
        // SAFETY: the client pointer is valid while `self.consumer` lives, `topic` is a valid C
        // string for the duration of the call, and librdkafka only writes the two out-parameters.
        let error = unsafe {
            rdkafka::bindings::rd_kafka_get_watermark_offsets(
                self.consumer.client().native_ptr(),
                topic.as_ptr(),
                partition,
                &mut low,
                &mut high,
            )
        };
        (error == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR).then_some((low, high))
    }

}

impl Source for KafkaSource {
    type Message<'a> = KafkaMessage<'a>;

    fn topic(&self) -> &str {
        &self.topic
    }

    fn poll(&self, timeout: Duration) -> Option<Result<KafkaMessage<'_>, PollError>> {
        self.consumer.poll(timeout).map(|result| {
            result.map(KafkaMessage).map_err(|error| PollError {
                fatal: matches!(error, rdkafka::error::KafkaError::MessageConsumptionFatal(_)),
                error: error.into(),
            })
        })
    }

    fn reconnect(&mut self) -> anyhow::Result<()> {
        tracing::warn!(topic = %self.topic, "replacing the Kafka consumer after a fatal error; partitions restart from their checkpoints");
        // Dropping the old consumer closes it; after a fence that close fails, as expected.
        self.consumer = create_consumer(&self.settings)?;
        Ok(())
    }

    fn take_rebalance_events(&self) -> Vec<RebalanceEvent> {
        std::mem::take(&mut *self.consumer.context().events.lock().expect("rebalance events lock"))
    }

    fn seek(&self, offsets: &[(PartitionId, Option<i64>)]) -> anyhow::Result<()> {
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets {
            let offset = offset.map_or(self.consumer.context().start_from, Offset::Offset);
            list.add_partition_offset(&self.topic, *partition, offset)?;
        }
        self.consumer.seek_partitions(list, Duration::from_secs(10)).context("failed to seek partitions")?;
        Ok(())
    }

    fn commit_progress(&self, offsets: &[(PartitionId, i64)]) {
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets.iter().filter(|(_, offset)| *offset >= 0) {
            let _ = list.add_partition_offset(&self.topic, *partition, Offset::Offset(*offset));
        }
        if list.count() > 0 {
            if let Err(error) = self.consumer.commit(&list, rdkafka::consumer::CommitMode::Async) {
                tracing::debug!(%error, "failed to commit offsets to Kafka; lag tools will lag");
            }
        }
    }

    /// Uses the consumer's cached high watermark, so it makes no request to the broker.
    fn lag(&self, partition: PartitionId, next_offset: i64) -> Option<i64> {
        let (low, high) = self.cached_watermarks(partition)?;
        let position = if next_offset >= 0 { next_offset } else { low };
        (high >= 0).then(|| (high - position).max(0))
    }

    /// Asks a broker for the topic's metadata.
    fn probe(&self, timeout: Duration) -> bool {
        self.consumer.fetch_metadata(Some(&self.topic), timeout).is_ok()
    }

}

/// A message borrowed from the consumer's buffer.
pub struct KafkaMessage<'a>(BorrowedMessage<'a>);

impl SourceMessage for KafkaMessage<'_> {
    fn partition(&self) -> PartitionId {
        self.0.partition()
    }

    fn offset(&self) -> i64 {
        self.0.offset()
    }

    fn key(&self) -> Option<&[u8]> {
        self.0.key()
    }

    fn payload(&self) -> Option<&[u8]> {
        self.0.payload()
    }

    fn headers(&self) -> Vec<(String, Option<Vec<u8>>)> {
        let Some(headers) = self.0.headers() else { return Vec::new() };
        headers.iter().map(|header| (header.key.to_string(), header.value.map(<[u8]>::to_vec))).collect()
    }

    fn is_end_of_input(&self) -> bool {
        self.0.headers().is_some_and(|headers| {
            headers.iter().any(|header| header.key == CONTROL_HEADER && header.value == Some(END_OF_INPUT.as_bytes()))
        })
    }
}

