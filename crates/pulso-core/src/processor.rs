//! The per-partition state machine that turns messages into window counts and checkpoints.
//!
//! # Exactly once
//!
//! The processor never writes anything itself. Every flush hands the sink one [`Flush`]: the
//! count deltas since the previous flush and, for every assigned partition, a [`Checkpoint`] with
//! the next offset to read and the watermark state. The sink stores both in one atomic write, and
//! on restart or rebalance the processor is rebuilt from the stored checkpoints. Counts and
//! positions therefore always move together: an offset is either covered by stored counts and a
//! stored checkpoint, or by neither, in which case it is read and counted again.
//!
//! Every decision about an event (valid, duplicate, late, which window) depends only on the
//! messages before it in the same partition and on the checkpointed state. Two exceptions depend
//! on processing time: the future-timestamp check and idle partitions (see
//! [`Processor::advance`]).
//!
//! # De-duplication after a restart
//!
//! The ids seen within the de-duplication horizon are not stored in checkpoints. Instead each
//! checkpoint records `replay_from`, the first offset whose events may still be in the horizon.
//! After a restart the partition is read again from `replay_from`. Messages before the
//! checkpointed `next_offset` only refill the id set and are not counted a second time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ahash::RandomState;
use hashbrown::HashMap;

use crate::decode::{decode_event, ValidationConfig};
use crate::dedup::DedupSet;
use crate::event::EventType;
use crate::reason::{Reason, Rejection};
use crate::watermark::{PartitionWatermark, WatermarkSnapshot};
use crate::window::WindowSpec;

/// A Kafka partition number.
pub type PartitionId = i32;

/// Settings of the processor core. Durations are in milliseconds.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Tumbling window size; a whole number of seconds.
    pub window_ms: i64,
    /// How far behind a partition's confirmed event time the watermark trails.
    pub allowed_lateness_ms: i64,
    /// Consecutive events that must reach a time before the watermark moves to it.
    pub watermark_confirm_events: usize,
    /// Processing time without events after which a partition stops holding the watermark back.
    pub idle_timeout_ms: i64,
    /// Event-time horizon within which a repeated `event_id` is a duplicate.
    pub dedup_horizon_ms: i64,
    pub validation: ValidationConfig,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            window_ms: 60_000,
            allowed_lateness_ms: 5_000,
            watermark_confirm_events: 3,
            idle_timeout_ms: 30_000,
            dedup_horizon_ms: 10 * 60_000,
            validation: ValidationConfig::default(),
        }
    }
}

impl ProcessorConfig {
    /// Checks the settings against each other before anything starts.
    pub fn validate(&self) -> Result<WindowSpec, String> {
        let window = WindowSpec::new(self.window_ms)?;
        if self.allowed_lateness_ms < 0 {
            return Err(format!("allowed lateness {} ms is negative; use 0 or more", self.allowed_lateness_ms));
        }
        if self.dedup_horizon_ms < self.window_ms {
            return Err(format!(
                "de-duplication horizon {} ms is shorter than the window size {} ms; a duplicate \
                 could then be counted twice, so set the horizon to at least one window",
                self.dedup_horizon_ms, self.window_ms
            ));
        }
        if self.idle_timeout_ms <= 0 {
            return Err(format!("idle timeout {} ms must be positive", self.idle_timeout_ms));
        }
        if self.watermark_confirm_events == 0 || self.watermark_confirm_events > 64 {
            return Err(format!(
                "watermark confirm events {} is out of range; use 1 to 64",
                self.watermark_confirm_events
            ));
        }
        Ok(window)
    }
}

/// One message handed to the processor.
#[derive(Debug, Clone, Copy)]
pub struct InputMessage<'a> {
    pub partition: PartitionId,
    pub offset: i64,
    /// The message value; `None` for a tombstone.
    pub payload: Option<&'a [u8]>,
    /// An end-of-input marker written by a bounded producer after its last event.
    pub end_of_input: bool,
}

/// The result of processing one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The event was added to its window.
    Counted { event_type: EventType, timestamp_ms: i64 },
    /// The event was not counted; it belongs in the dead-letter topic.
    Rejected(Rejection),
    /// The message was already covered by the checkpoint and was read again only to rebuild the
    /// de-duplication state.
    Replayed,
    /// An end-of-input marker: the partition's open windows were closed.
    EndOfInput,
    /// The message is before the partition's position (a redelivery) or for a partition that is
    /// not assigned, and was ignored.
    Ignored,
}

/// The stored position and watermark state of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub partition: PartitionId,
    /// The next offset to count, or -1 before the first message.
    pub next_offset: i64,
    /// The first offset to read again after a restart to rebuild the de-duplication state.
    pub replay_from: i64,
    /// Increases by one with every checkpoint of the partition, so the newest one wins.
    pub sequence: u64,
    pub watermark: WatermarkSnapshot,
}

/// Count delta for one (window, page, event type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRow {
    pub window_start_ms: i64,
    /// Index into [`Flush::pages`].
    pub page: u32,
    pub event_type: EventType,
    pub count: u64,
}

/// Rejected events of one reason in one processing-time window. Rejections are keyed by when
/// they were processed, because an invalid event may have no usable event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectionRow {
    pub window_start_ms: i64,
    pub reason: Reason,
    pub count: u64,
}

/// Everything one flush must store atomically.
#[derive(Debug, Clone, Default)]
pub struct Flush {
    pub counts: Vec<CountRow>,
    pub pages: Vec<Box<str>>,
    pub rejections: Vec<RejectionRow>,
    pub checkpoints: Vec<Checkpoint>,
}

impl Flush {
    pub fn page(&self, row: &CountRow) -> &str {
        &self.pages[row.page as usize]
    }

    /// Total number of events the count rows add.
    pub fn event_count(&self) -> u64 {
        self.counts.iter().map(|row| row.count).sum()
    }
}

/// A run of offsets and the largest valid event time in it.
#[derive(Debug, Clone, Copy)]
struct Segment {
    first_offset: i64,
    max_event_ms: i64,
}

#[derive(Debug)]
struct PartitionState {
    next_offset: i64,
    /// Messages below this offset are already counted in the store.
    resume_offset: i64,
    sequence: u64,
    watermark: PartitionWatermark,
    dedup: DedupSet,
    segments: VecDeque<Segment>,
    current_segment: Option<Segment>,
    last_event_at_ms: i64,
    drained: bool,
}

impl PartitionState {
    fn note_segment(&mut self, offset: i64, timestamp_ms: i64) {
        match &mut self.current_segment {
            Some(segment) => segment.max_event_ms = segment.max_event_ms.max(timestamp_ms),
            None => self.current_segment = Some(Segment { first_offset: offset, max_event_ms: timestamp_ms }),
        }
    }

    fn checkpoint(&mut self, partition: PartitionId) -> Checkpoint {
        let watermark_ms = self.watermark.current();
        self.dedup.evict(watermark_ms);
        if let Some(segment) = self.current_segment.take() {
            self.segments.push_back(segment);
        }
        let cutoff = watermark_ms.saturating_sub(self.dedup.horizon_ms());
        while self.segments.front().is_some_and(|segment| segment.max_event_ms < cutoff) {
            self.segments.pop_front();
        }
        self.sequence += 1;
        Checkpoint {
            partition,
            next_offset: self.next_offset,
            replay_from: self.segments.front().map_or(self.next_offset, |segment| segment.first_offset),
            sequence: self.sequence,
            watermark: self.watermark.snapshot(),
        }
    }
}

/// Counts pending since the last flush, keyed by interned page.
#[derive(Debug, Default)]
struct PendingCounts {
    page_ids: HashMap<Box<str>, u32, RandomState>,
    pages: Vec<Box<str>>,
    counts: HashMap<(i64, u32, EventType), u64, RandomState>,
}

impl PendingCounts {
    #[inline]
    fn add(&mut self, window_start_ms: i64, page: &str, event_type: EventType) {
        let page_id = match self.page_ids.get(page) {
            Some(&id) => id,
            None => {
                let id = self.pages.len() as u32;
                self.pages.push(page.into());
                self.page_ids.insert(page.into(), id);
                id
            }
        };
        *self.counts.entry((window_start_ms, page_id, event_type)).or_insert(0) += 1;
    }

    fn take(&mut self) -> (Vec<CountRow>, Vec<Box<str>>) {
        let counts = self
            .counts
            .drain()
            .map(|((window_start_ms, page, event_type), count)| CountRow { window_start_ms, page, event_type, count })
            .collect();
        self.page_ids.clear();
        (counts, std::mem::take(&mut self.pages))
    }

    fn len(&self) -> usize {
        self.counts.len()
    }
}

/// Validates, de-duplicates and windows events for a set of assigned partitions.
#[derive(Debug)]
pub struct Processor {
    config: ProcessorConfig,
    window: WindowSpec,
    partitions: BTreeMap<PartitionId, PartitionState>,
    pending: PendingCounts,
    rejections: BTreeMap<(i64, Reason), u64>,
    combined_watermark_ms: i64,
    open_windows: BTreeSet<i64>,
}

impl Processor {
    pub fn new(config: ProcessorConfig) -> Result<Processor, String> {
        let window = config.validate()?;
        Ok(Processor {
            config,
            window,
            partitions: BTreeMap::new(),
            pending: PendingCounts::default(),
            rejections: BTreeMap::new(),
            combined_watermark_ms: i64::MIN,
            open_windows: BTreeSet::new(),
        })
    }

    pub fn config(&self) -> &ProcessorConfig {
        &self.config
    }

    pub fn window(&self) -> WindowSpec {
        self.window
    }

    /// Takes over a partition, from its stored checkpoint if there is one. Returns the offset to
    /// start reading from, or `None` to start at the consumer's reset policy (`kafka.start_from`).
    pub fn assign(&mut self, partition: PartitionId, checkpoint: Option<&Checkpoint>, now_ms: i64) -> Option<i64> {
        let config = &self.config;
        let (watermark, next_offset, replay_from, sequence) = match checkpoint {
            Some(checkpoint) => (
                PartitionWatermark::restore(config.watermark_confirm_events, config.allowed_lateness_ms, &checkpoint.watermark),
                checkpoint.next_offset,
                checkpoint.replay_from.min(checkpoint.next_offset),
                checkpoint.sequence,
            ),
            None => (
                PartitionWatermark::new(config.watermark_confirm_events, config.allowed_lateness_ms),
                -1,
                -1,
                0,
            ),
        };
        let state = PartitionState {
            next_offset,
            resume_offset: next_offset,
            sequence,
            watermark,
            dedup: DedupSet::new(config.dedup_horizon_ms),
            segments: VecDeque::new(),
            current_segment: None,
            last_event_at_ms: now_ms,
            drained: false,
        };
        self.partitions.insert(partition, state);
        (replay_from >= 0).then_some(replay_from)
    }

    /// Drops every partition and all uncommitted counts. The caller re-assigns partitions from
    /// their stored checkpoints, so nothing is lost: uncommitted offsets are simply read again.
    pub fn revoke_all(&mut self) {
        self.partitions.clear();
        self.pending = PendingCounts::default();
        self.rejections.clear();
        self.combined_watermark_ms = i64::MIN;
        self.open_windows.clear();
    }

    pub fn assigned_partitions(&self) -> impl Iterator<Item = PartitionId> + '_ {
        self.partitions.keys().copied()
    }

    /// Processes one message. `now_ms` is processing time.
    pub fn process(&mut self, message: &InputMessage<'_>, now_ms: i64) -> Outcome {
        let outcome = self.decide(message, now_ms);
        if let Outcome::Rejected(rejection) = &outcome {
            *self.rejections.entry((self.window.start_of(now_ms), rejection.reason)).or_insert(0) += 1;
        }
        outcome
    }

    fn decide(&mut self, message: &InputMessage<'_>, now_ms: i64) -> Outcome {
        let Some(state) = self.partitions.get_mut(&message.partition) else {
            return Outcome::Ignored;
        };
        if message.offset < state.next_offset && message.offset >= state.resume_offset {
            return Outcome::Ignored;
        }
        let replaying = message.offset < state.resume_offset;
        if message.end_of_input {
            if replaying {
                return Outcome::Replayed;
            }
            state.next_offset = message.offset + 1;
            state.drained = true;
            let max_event_ms = state.watermark.max_event_ms();
            if max_event_ms != i64::MIN {
                state.watermark.raise_to(self.window.end_of(max_event_ms));
            }
            return Outcome::EndOfInput;
        }

        let decoded = decode_event(message.payload, &self.config.validation, now_ms);
        if replaying {
            if let Ok(event) = decoded {
                let watermark_ms = state.watermark.current();
                state.dedup.check_and_insert(event.event_id, event.timestamp_ms, watermark_ms);
                state.note_segment(message.offset, event.timestamp_ms);
            }
            return Outcome::Replayed;
        }
        state.next_offset = message.offset + 1;
        let event = match decoded {
            Ok(event) => event,
            Err(rejection) => return Outcome::Rejected(rejection),
        };

        state.last_event_at_ms = now_ms;
        state.drained = false;
        let watermark_ms = state.watermark.current();
        if state.dedup.check_and_insert(event.event_id, event.timestamp_ms, watermark_ms) {
            return Outcome::Rejected(Rejection::new(
                Reason::Duplicate,
                format!("event_id {} was already seen", uuid::Uuid::from_u128(event.event_id)),
            ));
        }
        state.note_segment(message.offset, event.timestamp_ms);
        let window_start_ms = self.window.start_of(event.timestamp_ms);
        let window_end_ms = window_start_ms + self.window.size_ms();
        if window_end_ms <= watermark_ms {
            state.watermark.observe(event.timestamp_ms);
            return Outcome::Rejected(Rejection::new(
                Reason::Late,
                format!(
                    "event time {} ms is in window [{window_start_ms}, {window_end_ms}), which closed \
                     at watermark {watermark_ms} ms",
                    event.timestamp_ms
                ),
            ));
        }
        state.watermark.observe(event.timestamp_ms);
        self.pending.add(window_start_ms, &event.page, event.event_type);
        self.open_windows.insert(window_start_ms);
        Outcome::Counted { event_type: event.event_type, timestamp_ms: event.timestamp_ms }
    }

    /// Updates idle partitions and the combined watermark, and returns the number of windows
    /// that closed.
    ///
    /// A partition is idle when it has had no event for the idle timeout of processing time, or
    /// when it reached an end-of-input marker. The combined watermark is the minimum over the
    /// partitions that are not idle, or the maximum over all partitions when every one is idle.
    /// Idle partitions have their watermark raised to the combined one, so an event that arrives
    /// later on them for a closed window is late. Because this depends on processing time, it is
    /// the one place where a restart can decide an event differently.
    pub fn advance(&mut self, now_ms: i64) -> usize {
        let idle_timeout_ms = self.config.idle_timeout_ms;
        let is_idle = |state: &PartitionState| state.drained || now_ms - state.last_event_at_ms >= idle_timeout_ms;
        let active_min = self
            .partitions
            .values()
            .filter(|state| !is_idle(state))
            .map(|state| state.watermark.current())
            .min();
        let combined = match active_min {
            Some(watermark) => watermark,
            None => self.partitions.values().map(|state| state.watermark.current()).max().unwrap_or(i64::MIN),
        };
        for state in self.partitions.values_mut() {
            if is_idle(state) {
                state.watermark.raise_to(combined);
            }
        }
        self.combined_watermark_ms = self.combined_watermark_ms.max(combined);
        // A window [start, start + size) is closed once the watermark reaches its end.
        let first_open_start = self.combined_watermark_ms.saturating_sub(self.window.size_ms()).saturating_add(1);
        let still_open = self.open_windows.split_off(&first_open_start);
        let closed = std::mem::replace(&mut self.open_windows, still_open);
        closed.len()
    }

    /// Returns the watermark over all assigned partitions, as of the last [`Processor::advance`].
    pub fn combined_watermark_ms(&self) -> i64 {
        self.combined_watermark_ms
    }

    /// Returns the watermark of each assigned partition.
    pub fn partition_watermarks(&self) -> impl Iterator<Item = (PartitionId, i64)> + '_ {
        self.partitions.iter().map(|(partition, state)| (*partition, state.watermark.current()))
    }

    /// Windows that have counts and have not closed yet.
    pub fn open_window_count(&self) -> usize {
        self.open_windows.len()
    }

    /// Number of distinct (window, page, event type) keys waiting for the next flush.
    pub fn pending_keys(&self) -> usize {
        self.pending.len()
    }

    /// Takes the counts since the last flush and a checkpoint of every assigned partition.
    pub fn take_flush(&mut self, now_ms: i64) -> Flush {
        self.advance(now_ms);
        let (counts, pages) = self.pending.take();
        let rejections = std::mem::take(&mut self.rejections)
            .into_iter()
            .map(|((window_start_ms, reason), count)| RejectionRow { window_start_ms, reason, count })
            .collect();
        let checkpoints = self
            .partitions
            .iter_mut()
            .map(|(partition, state)| state.checkpoint(*partition))
            .collect();
        Flush { counts, pages, rejections, checkpoints }
    }
}

#[cfg(test)]
mod tests;
