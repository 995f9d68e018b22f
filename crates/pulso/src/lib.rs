//! Pulso's processor, producers and the adapters around the pure core in `pulso-core`.
//!
//! - `sources/kafka`: the consumer that feeds the core and hands it partitions on rebalance;
//! - `sinks/clickhouse`: migrations and the atomic writer of counts with checkpoints;
//! - `sinks/dead_letter`: the producer of rejected events;
//! - `producers`: the traffic generator and the replay of recorded clickstream;
//! - `pipeline`: the loop that wires a source, the core and the sinks together.

pub mod cli;
pub mod config;
pub mod embedded;
pub mod kafka;
pub mod pipeline;
pub mod process;
pub mod producers;
pub mod query;
pub mod serve;
pub mod shutdown;
pub mod sinks;
pub mod sources;
pub mod telemetry;
pub mod topics;
