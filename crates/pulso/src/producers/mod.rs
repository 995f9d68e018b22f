//! Producers of events into Kafka: `generate` makes synthetic traffic with an oracle of the
//! exact expected counts, `replay` sends recorded clickstream.
//!
//! Both choose each message's partition themselves with Kafka's default partitioner, so they
//! know the order in which the processor reads every partition, and both share [`sender`] for
//! delivery tracking, back-pressure, progress and end-of-input markers.

pub mod generate;
pub mod replay;
pub mod sender;
pub mod wire;
