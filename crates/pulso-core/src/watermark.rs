//! Per-partition event-time watermarks.
//!
//! A partition's watermark is the largest event time that `confirm_events` consecutive events of
//! that partition have all reached, minus the allowed lateness. Requiring a run of events means a
//! single event dated far ahead cannot push the watermark past every event that follows it: it
//! takes `confirm_events` events in a row at that time. With `confirm_events = 1` this is the
//! usual "maximum event time minus lateness".
//!
//! The watermark also has a floor that only moves up. The processor raises it when a partition
//! goes idle or reaches the end of a bounded input, so a silent partition does not hold every
//! window open.
//!
//! Everything here depends only on the order of events in the partition, so reading a partition
//! again from a checkpoint gives the same watermark at every offset.

use std::collections::VecDeque;

/// Event-time progress of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionWatermark {
    confirm_events: usize,
    lateness_ms: i64,
    /// The last `confirm_events` event times, oldest first.
    recent: VecDeque<i64>,
    /// The largest minimum over any run of `confirm_events` consecutive events.
    max_confirmed_ms: i64,
    floor_ms: i64,
    /// The largest event time seen, confirmed or not.
    max_event_ms: i64,
}

impl PartitionWatermark {
    pub fn new(confirm_events: usize, lateness_ms: i64) -> Self {
        let confirm_events = confirm_events.max(1);
        PartitionWatermark {
            confirm_events,
            lateness_ms,
            recent: VecDeque::with_capacity(confirm_events),
            max_confirmed_ms: i64::MIN,
            floor_ms: i64::MIN,
            max_event_ms: i64::MIN,
        }
    }

    /// Rebuilds the watermark from a checkpoint written by [`PartitionWatermark::snapshot`].
    pub fn restore(confirm_events: usize, lateness_ms: i64, snapshot: &WatermarkSnapshot) -> Self {
        let mut watermark = PartitionWatermark::new(confirm_events, lateness_ms);
        watermark.floor_ms = snapshot.watermark_ms;
        watermark.max_event_ms = snapshot.max_event_ms;
        let keep = snapshot.recent_ms.len().saturating_sub(watermark.confirm_events);
        watermark.recent.extend(&snapshot.recent_ms[keep..]);
        watermark
    }

    /// Records an event time.
    #[inline]
    pub fn observe(&mut self, timestamp_ms: i64) {
        if self.recent.len() == self.confirm_events {
            self.recent.pop_front();
        }
        self.recent.push_back(timestamp_ms);
        self.max_event_ms = self.max_event_ms.max(timestamp_ms);
        if self.recent.len() == self.confirm_events {
            let run_min = self.recent.iter().copied().min().unwrap_or(i64::MIN);
            self.max_confirmed_ms = self.max_confirmed_ms.max(run_min);
        }
    }

    /// Returns the current watermark in epoch milliseconds, or `i64::MIN` before any event.
    #[inline]
    pub fn current(&self) -> i64 {
        self.max_confirmed_ms.saturating_sub(self.lateness_ms).max(self.floor_ms)
    }

    /// Moves the floor up to `watermark_ms`. A lower value changes nothing.
    pub fn raise_to(&mut self, watermark_ms: i64) {
        self.floor_ms = self.floor_ms.max(watermark_ms);
    }

    /// Returns the largest event time seen, or `i64::MIN` before any event.
    pub fn max_event_ms(&self) -> i64 {
        self.max_event_ms
    }

    pub fn snapshot(&self) -> WatermarkSnapshot {
        WatermarkSnapshot {
            watermark_ms: self.current(),
            max_event_ms: self.max_event_ms,
            recent_ms: self.recent.iter().copied().collect(),
        }
    }
}

/// The part of a partition's watermark state that a checkpoint stores.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WatermarkSnapshot {
    pub watermark_ms: i64,
    pub max_event_ms: i64,
    pub recent_ms: Vec<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_future_event_does_not_move_watermark() {
        let mut watermark = PartitionWatermark::new(3, 5_000);
        for t in [100_000, 101_000, 102_000] {
            watermark.observe(t);
        }
        assert_eq!(watermark.current(), 95_000);
        watermark.observe(10_000_000);
        watermark.observe(103_000);
        watermark.observe(104_000);
        assert_eq!(watermark.current(), 98_000);
    }

    #[test]
    fn confirm_one_is_max_minus_lateness() {
        let mut watermark = PartitionWatermark::new(1, 2_000);
        watermark.observe(50_000);
        watermark.observe(40_000);
        assert_eq!(watermark.current(), 48_000);
    }

    #[test]
    fn no_watermark_before_a_full_run() {
        let mut watermark = PartitionWatermark::new(3, 0);
        watermark.observe(10_000);
        watermark.observe(11_000);
        assert_eq!(watermark.current(), i64::MIN);
    }

    #[test]
    fn floor_raises_but_never_lowers() {
        let mut watermark = PartitionWatermark::new(1, 0);
        watermark.observe(10_000);
        watermark.raise_to(20_000);
        assert_eq!(watermark.current(), 20_000);
        watermark.raise_to(15_000);
        assert_eq!(watermark.current(), 20_000);
    }

    proptest! {
        #[test]
        fn restore_continues_identically(
            times in proptest::collection::vec(0i64..1_000_000, 1..60),
            split in 0usize..60,
            confirm in 1usize..5,
        ) {
            let split = split.min(times.len());
            let mut whole = PartitionWatermark::new(confirm, 1_000);
            let mut first = PartitionWatermark::new(confirm, 1_000);
            for &t in &times[..split] {
                whole.observe(t);
                first.observe(t);
            }
            let mut resumed = PartitionWatermark::restore(confirm, 1_000, &first.snapshot());
            for &t in &times[split..] {
                whole.observe(t);
                resumed.observe(t);
                prop_assert_eq!(whole.current(), resumed.current());
            }
        }

        #[test]
        fn watermark_never_decreases(times in proptest::collection::vec(0i64..1_000_000, 1..100)) {
            let mut watermark = PartitionWatermark::new(2, 500);
            let mut previous = i64::MIN;
            for t in times {
                watermark.observe(t);
                prop_assert!(watermark.current() >= previous);
                previous = watermark.current();
            }
        }
    }
}
