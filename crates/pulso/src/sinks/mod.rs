//! Sinks: ClickHouse for counts and checkpoints, Kafka for dead letters.

pub mod clickhouse;
pub mod dead_letter;
