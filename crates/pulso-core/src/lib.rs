//! Pure core of Pulso: the event format, validation, event-time windows, watermarks,
//! de-duplication and the per-partition state that makes counting exactly once possible.
//!
//! Nothing here does I/O or reads a clock. Callers pass processing time in as `now_ms`, so the
//! same input always gives the same output, which is what lets a restarted processor rebuild its
//! state by reading a partition again.

pub mod decode;
pub mod dedup;
pub mod event;
pub mod page;
pub mod processor;
pub mod reason;
pub mod timestamp;
pub mod watermark;
pub mod window;

pub use event::{Event, EventType};
pub use processor::{
    Checkpoint, CountRow, Flush, InputMessage, Outcome, PartitionId, Processor, ProcessorConfig, RejectionRow,
};
pub use reason::{Reason, Rejection};
