//! Sources of messages for the processor core.

pub mod kafka;
