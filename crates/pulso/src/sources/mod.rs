//! Sources of messages for the processor core. The processing loop is generic over [`Source`],
//! so Kafka and the embedded log feed the same validation, windows and checkpoints.

pub mod kafka;

use std::time::Duration;

use pulso_core::{Checkpoint, PartitionId};

/// A change of assignment, for the processing loop to apply.
#[derive(Debug)]
pub enum RebalanceEvent {
    /// These partitions were assigned, each with its stored checkpoint if any.
    Assigned(Vec<(PartitionId, Option<Checkpoint>)>),
    /// Every partition was revoked.
    Revoked,
}

/// One message as a source delivers it.
pub trait SourceMessage {
    fn partition(&self) -> PartitionId;
    fn offset(&self) -> i64;
    fn key(&self) -> Option<&[u8]>;
    /// Returns the value, or `None` for a tombstone.
    fn payload(&self) -> Option<&[u8]>;
    /// Copies the message headers. The loop calls it only for rejected messages.
    fn headers(&self) -> Vec<(String, Option<Vec<u8>>)>;
    /// Tells whether this is the end-of-input marker of a bounded producer.
    fn is_end_of_input(&self) -> bool;
}

/// A failed poll. A fatal error means the client cannot go on, for example because the group
/// fenced it out. The loop then drops its state and calls [`Source::reconnect`].
#[derive(Debug)]
pub struct PollError {
    pub error: anyhow::Error,
    pub fatal: bool,
}

/// A partitioned, replayable log of messages, read as a member of a group.
pub trait Source {
    type Message<'a>: SourceMessage
    where
        Self: 'a;

    /// Returns the name of the log, which checkpoints and dead-letter headers record.
    fn topic(&self) -> &str;

    /// Waits up to `timeout` for the next message. Assignment changes happen inside this call
    /// and are reported by [`Source::take_rebalance_events`].
    fn poll(&self, timeout: Duration) -> Option<Result<Self::Message<'_>, PollError>>;

    /// Replaces a client that hit a fatal error with a new one, which joins the group again and
    /// gets its partitions through a fresh assignment.
    fn reconnect(&mut self) -> anyhow::Result<()>;

    /// Assignment changes since the last call, oldest first.
    fn take_rebalance_events(&self) -> Vec<RebalanceEvent>;

    /// Moves partitions back to the given offsets; `None` means the start policy.
    fn seek(&self, offsets: &[(PartitionId, Option<i64>)]) -> anyhow::Result<()>;

    /// Records progress where external lag tools can see it. Never read back.
    fn commit_progress(&self, offsets: &[(PartitionId, i64)]);

    /// Messages between `next_offset` and the partition's end, if known without a request.
    fn lag(&self, partition: PartitionId, next_offset: i64) -> Option<i64>;

    /// Checks that the log responds within `timeout`.
    fn probe(&self, timeout: Duration) -> bool;
}
