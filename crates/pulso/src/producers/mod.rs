//! Producers of events into Kafka: `generate` makes synthetic traffic with an oracle of the
//! exact expected counts, `replay` sends recorded clickstream.

pub mod generate;
pub mod replay;
