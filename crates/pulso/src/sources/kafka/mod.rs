//! Kafka consumer source.
