//! RowBinary encoding, the compact input format both ClickHouse 18.16 and current servers accept.

/// Appends values in RowBinary layout.
#[derive(Debug, Default)]
pub struct RowBinary {
    buffer: Vec<u8>,
}

impl RowBinary {
    pub fn with_capacity(bytes: usize) -> Self {
        RowBinary { buffer: Vec::with_capacity(bytes) }
    }

    pub fn i8(&mut self, value: i8) {
        self.buffer.push(value as u8);
    }

    pub fn i32(&mut self, value: i32) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u32(&mut self, value: u32) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    pub fn i64(&mut self, value: i64) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    pub fn u64(&mut self, value: u64) {
        self.buffer.extend_from_slice(&value.to_le_bytes());
    }

    /// A `DateTime`: seconds since the epoch as UInt32. Values outside 1970..2106 are clamped,
    /// which validation prevents for event times.
    pub fn date_time_ms(&mut self, epoch_ms: i64) {
        self.u32((epoch_ms.div_euclid(1000)).clamp(0, u32::MAX as i64) as u32);
    }

    pub fn string(&mut self, value: &str) {
        self.varint(value.len() as u64);
        self.buffer.extend_from_slice(value.as_bytes());
    }

    pub fn array_i64(&mut self, values: &[i64]) {
        self.varint(values.len() as u64);
        for value in values {
            self.i64(*value);
        }
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.buffer.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.buffer.push(value as u8);
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths() {
        let mut row = RowBinary::default();
        row.string(&"x".repeat(300));
        let bytes = row.into_bytes();
        assert_eq!(&bytes[..2], &[0xAC, 0x02]);
        assert_eq!(bytes.len(), 302);
    }

    #[test]
    fn date_time_is_seconds() {
        let mut row = RowBinary::default();
        row.date_time_ms(1_714_575_600_999);
        assert_eq!(row.into_bytes(), 1_714_575_600u32.to_le_bytes());
    }
}
