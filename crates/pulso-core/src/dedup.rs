//! De-duplication of event ids within an event-time horizon.
//!
//! An id is remembered while its event time is within `horizon_ms` of the partition's watermark.
//! The horizon must be at least one window long: then a duplicate that arrives after its id was
//! forgotten belongs to a window that has already closed, so it is rejected as late and still
//! never counted twice.

use ahash::RandomState;
use hashbrown::HashMap;

/// The ids seen recently in one partition, with their event times.
#[derive(Debug, Clone)]
pub struct DedupSet {
    horizon_ms: i64,
    seen: HashMap<u128, i64, RandomState>,
}

impl DedupSet {
    pub fn new(horizon_ms: i64) -> Self {
        DedupSet { horizon_ms, seen: HashMap::with_hasher(RandomState::with_seeds(1, 2, 3, 4)) }
    }

    /// Records `event_id` and returns whether it was already seen within the horizon.
    #[inline]
    pub fn check_and_insert(&mut self, event_id: u128, timestamp_ms: i64, watermark_ms: i64) -> bool {
        let cutoff = watermark_ms.saturating_sub(self.horizon_ms);
        match self.seen.get_mut(&event_id) {
            Some(seen_at) if *seen_at >= cutoff => true,
            Some(seen_at) => {
                *seen_at = timestamp_ms;
                false
            }
            None => {
                self.seen.insert(event_id, timestamp_ms);
                false
            }
        }
    }

    /// Forgets ids whose event time fell out of the horizon.
    pub fn evict(&mut self, watermark_ms: i64) {
        let cutoff = watermark_ms.saturating_sub(self.horizon_ms);
        self.seen.retain(|_, seen_at| *seen_at >= cutoff);
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The event-time distance from the watermark within which ids are remembered.
    pub fn horizon_ms(&self) -> i64 {
        self.horizon_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_within_horizon_is_duplicate() {
        let mut set = DedupSet::new(60_000);
        assert!(!set.check_and_insert(7, 100_000, 90_000));
        assert!(set.check_and_insert(7, 100_000, 120_000));
    }

    #[test]
    fn repeat_past_horizon_is_new() {
        let mut set = DedupSet::new(60_000);
        assert!(!set.check_and_insert(7, 100_000, 90_000));
        assert!(!set.check_and_insert(7, 100_000, 200_000));
    }

    #[test]
    fn eviction_drops_only_expired_ids() {
        let mut set = DedupSet::new(10_000);
        set.check_and_insert(1, 100_000, 0);
        set.check_and_insert(2, 150_000, 0);
        set.evict(145_000);
        assert_eq!(set.len(), 1);
        assert!(set.check_and_insert(2, 150_000, 145_000));
    }
}
