//! Sinks: ClickHouse for counts and checkpoints, Kafka for dead letters.
//!
//! The processor core talks to the count store through [`CountStore`], so the same loop can
//! write to ClickHouse or to another store that keeps the same promise: a flush is stored whole
//! or not at all.

pub mod clickhouse;
pub mod dead_letter;
pub mod retry;

use std::time::Duration;

use pulso_core::{Checkpoint, Flush, PartitionId, Rejection};

use crate::shutdown::Stop;
use crate::sources::SourceMessage;

/// Storage for window counts and partition checkpoints.
pub trait CountStore: Send + Sync {
    /// Stops writes still in flight from a processor that lost `topic`'s partitions, so that a
    /// checkpoint read right after cannot be overtaken by an older write.
    fn fence(&self, topic: &str) -> anyhow::Result<()>;

    /// Loads the newest stored checkpoint of each of `partitions` that has one.
    fn load_checkpoints(&self, topic: &str, partitions: &[PartitionId]) -> anyhow::Result<Vec<Checkpoint>>;

    /// Stores the counts and checkpoints of `flush` atomically, retrying transient failures
    /// until it succeeds, the error is permanent, or `stop` is requested.
    fn commit(&self, topic: &str, flush: &Flush, stop: &Stop) -> anyhow::Result<CommitStats>;
}

/// What one commit wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitStats {
    pub rows: usize,
    pub bytes: usize,
    pub attempts: u32,
}

/// The destination of rejected messages and their reasons.
pub trait DeadLetters {
    /// Queues a rejected message from `source_topic`.
    fn send(&mut self, message: &impl SourceMessage, source_topic: &str, rejection: &Rejection) -> anyhow::Result<()>;

    /// Waits until every queued dead letter is stored, and fails if any was not, so that the
    /// caller does not commit past a lost dead letter.
    fn flush(&mut self, timeout: Duration) -> anyhow::Result<()>;

    /// Dead letters stored by the last successful flush; resets the count.
    fn take_acknowledged(&mut self) -> u64;
}
