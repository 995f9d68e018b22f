//! Dead letters of the embedded default, kept in a SQLite table with the same fields as the
//! Kafka dead-letter headers.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pulso_core::Rejection;
use rusqlite::{params, Connection};

use crate::sinks::DeadLetters;
use crate::sources::SourceMessage;

struct Pending {
    source_topic: String,
    partition: i32,
    offset: i64,
    reason: &'static str,
    detail: String,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
}

pub struct SqliteDeadLetters {
    connection: Connection,
    pending: Vec<Pending>,
    acknowledged: u64,
}

impl SqliteDeadLetters {
    pub fn open(path: &Path) -> anyhow::Result<SqliteDeadLetters> {
        let connection = super::open(path)?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS dead_letters (
                id INTEGER PRIMARY KEY, source_topic TEXT NOT NULL, source_partition INTEGER NOT NULL,
                source_offset INTEGER NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
                key BLOB, payload BLOB, rejected_at_ms INTEGER NOT NULL);",
        )?;
        Ok(SqliteDeadLetters { connection, pending: Vec::new(), acknowledged: 0 })
    }
}

impl DeadLetters for SqliteDeadLetters {
    fn send(&mut self, message: &impl SourceMessage, source_topic: &str, rejection: &Rejection) -> anyhow::Result<()> {
        self.pending.push(Pending {
            source_topic: source_topic.to_string(),
            partition: message.partition(),
            offset: message.offset(),
            reason: rejection.reason.code(),
            detail: rejection.detail.clone(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
        });
        Ok(())
    }

    fn flush(&mut self, _timeout: Duration) -> anyhow::Result<()> {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        let transaction = self.connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO dead_letters (source_topic, source_partition, source_offset, reason, detail, key, payload, rejected_at_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for letter in &self.pending {
                insert.execute(params![
                    letter.source_topic,
                    letter.partition,
                    letter.offset,
                    letter.reason,
                    letter.detail,
                    letter.key,
                    letter.payload,
                    now_ms
                ])?;
            }
        }
        transaction.commit()?;
        self.acknowledged += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    fn take_acknowledged(&mut self) -> u64 {
        std::mem::take(&mut self.acknowledged)
    }
}
