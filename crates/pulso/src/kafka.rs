//! Kafka client settings shared by the consumer, the dead-letter producer and the producers.

use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::config::KafkaConfig;

/// Header that marks a message as a control message instead of an event.
pub const CONTROL_HEADER: &str = "pulso-control";
/// Value of [`CONTROL_HEADER`] on the end-of-input marker a bounded producer writes last.
pub const END_OF_INPUT: &str = "end-of-input";

/// Logs a librdkafka log line. librdkafka retries broker connections by itself, so its
/// error-level lines (such as a refused connection) are logged as warnings: the process
/// recovers with nothing lost. Failures that need an operator surface as command errors.
pub fn log_client_line(level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
    use rdkafka::config::RDKafkaLogLevel;
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error | RDKafkaLogLevel::Warning => {
            tracing::warn!(target: "librdkafka", facility, "{message}")
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

/// Logs a librdkafka global error: an error when it is fatal, else a warning, since the client
/// retries.
pub fn log_client_error(error: &rdkafka::error::KafkaError, reason: &str) {
    let fatal = error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::Fatal);
    if fatal {
        tracing::error!(target: "librdkafka", error = %error, reason, "fatal Kafka client error");
    } else {
        tracing::warn!(target: "librdkafka", error = %error, reason, "Kafka client error; retrying");
    }
}

/// Builds a client configuration with the brokers and the pass-through properties applied.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    for (key, value) in &kafka.properties {
        config.set(key, value);
    }
    config
}

/// Settings for producers that must not lose, reorder or duplicate messages on retry.
pub fn reliable_producer_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = client_config(kafka);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    config
}

/// Returns the number of partitions of `topic`, read from the brokers.
pub fn partition_count(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<i32> {
    let consumer: BaseConsumer = client_config(kafka).create().context("failed to create Kafka client")?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("failed to read metadata of topic {topic:?} from {}", kafka.brokers))?;
    let Some(topic_metadata) = metadata.topics().first() else {
        anyhow::bail!("topic {topic:?} not found; create it with `pulso topics`");
    };
    if let Some(error) = topic_metadata.error() {
        anyhow::bail!(
            "topic {topic:?} is not available ({:?}); create it with `pulso topics`",
            rdkafka::types::RDKafkaRespErr::from(error)
        );
    }
    Ok(topic_metadata.partitions().len() as i32)
}

/// Kafka's default partitioner for keyed messages (murmur2, as in the Java client), so that a
/// producer can compute a key's partition itself.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) % partitions as u32) as i32
}

fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut hash = SEED ^ length as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        hash = hash.wrapping_mul(M);
        hash ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        hash ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        hash ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        hash ^= tail[0] as u32;
        hash = hash.wrapping_mul(M);
    }
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(M);
    hash ^= hash >> 15;
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_java_client() {
        // Values from the Java client's own partitioner tests (Utils.murmur2).
        assert_eq!(murmur2(b"21") as i32, -973_932_308);
        assert_eq!(murmur2(b"foobar") as i32, -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1_486_304_829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58_897_971);
    }
}
