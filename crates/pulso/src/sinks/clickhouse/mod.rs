//! ClickHouse sink.
pub mod migrate;
