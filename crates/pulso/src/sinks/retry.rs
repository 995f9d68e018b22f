//! Exponential backoff for retrying transient failures.

use std::time::Duration;

/// Doubles the delay from 100 ms up to a maximum, with up to 25% jitter so that processors
/// restarted together do not retry in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff { next: Duration::from_millis(100).min(max), max }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter_range = delay.as_millis() as u64 / 4;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos() as u64;
        delay + Duration::from_millis(if jitter_range == 0 { 0 } else { nanos % jitter_range })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_up_to_max() {
        let mut backoff = Backoff::new(Duration::from_millis(500));
        let delays: Vec<u128> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert!((100..125).contains(&delays[0]), "{delays:?}");
        assert!((200..250).contains(&delays[1]), "{delays:?}");
        assert!((400..500).contains(&delays[2]), "{delays:?}");
        assert!((500..625).contains(&delays[4]), "{delays:?}");
    }
}
