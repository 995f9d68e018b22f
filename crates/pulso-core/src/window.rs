//! Tumbling event-time windows. A window is half-open, `[start, start + size)`, and aligned to
//! the Unix epoch, so every processor agrees on window boundaries without talking to the others.

/// The size of a tumbling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    size_ms: i64,
}

impl WindowSpec {
    /// Creates a window spec. The size must be a positive whole number of seconds because
    /// ClickHouse stores window starts as `DateTime`, which has one-second resolution.
    pub fn new(size_ms: i64) -> Result<WindowSpec, String> {
        if size_ms <= 0 || size_ms % 1000 != 0 {
            return Err(format!(
                "window size {size_ms} ms is invalid; use a positive whole number of seconds"
            ));
        }
        Ok(WindowSpec { size_ms })
    }

    pub fn size_ms(self) -> i64 {
        self.size_ms
    }

    /// Returns the start of the window that contains `timestamp_ms`.
    pub fn start_of(self, timestamp_ms: i64) -> i64 {
        timestamp_ms - timestamp_ms.rem_euclid(self.size_ms)
    }

    /// Returns the exclusive end of the window that contains `timestamp_ms`.
    pub fn end_of(self, timestamp_ms: i64) -> i64 {
        self.start_of(timestamp_ms) + self.size_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn minute_windows_are_half_open() {
        let minute = WindowSpec::new(60_000).unwrap();
        assert_eq!(minute.start_of(120_000), 120_000);
        assert_eq!(minute.start_of(179_999), 120_000);
        assert_eq!(minute.start_of(180_000), 180_000);
        assert_eq!(minute.end_of(120_000), 180_000);
    }

    #[test]
    fn sub_second_sizes_rejected() {
        assert!(WindowSpec::new(1500).is_err());
        assert!(WindowSpec::new(0).is_err());
    }

    proptest! {
        #[test]
        fn every_timestamp_lands_in_exactly_one_window(t in 0i64..4_000_000_000_000, secs in 1i64..3600) {
            let spec = WindowSpec::new(secs * 1000).unwrap();
            let start = spec.start_of(t);
            prop_assert!(start <= t && t < start + spec.size_ms());
            prop_assert_eq!(start % spec.size_ms(), 0);
            prop_assert_eq!(spec.start_of(start), start);
            prop_assert_eq!(spec.start_of(start + spec.size_ms() - 1), start);
        }
    }
}
