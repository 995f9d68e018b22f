//! An in-process, partitioned and durable log with Kafka's shape: records are appended to a
//! partition and read back by offset. Producers append through [`EmbeddedLog`]; the processing
//! loop reads through [`LogSource`], which implements [`Source`].

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use pulso_core::PartitionId;
use rusqlite::{params, Connection};

use crate::sinks::CountStore;
use crate::sources::{PollError, RebalanceEvent, Source, SourceMessage};

/// Records fetched from one partition per read.
const FETCH_LIMIT: usize = 5_000;

/// One record to append.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub end_of_input: bool,
}

/// Wakes readers when records are appended.
#[derive(Debug, Default)]
struct Signal {
    appended: Mutex<u64>,
    condvar: Condvar,
}

/// The writing side of the log. Cloning shares the connection.
#[derive(Clone)]
pub struct EmbeddedLog {
    connection: Arc<Mutex<Connection>>,
    next_offsets: Arc<Mutex<Vec<i64>>>,
    signal: Arc<Signal>,
    path: PathBuf,
    name: String,
}

impl EmbeddedLog {
    /// Opens (or creates) the log `name` with `partitions` partitions in the database at `path`.
    pub fn open(path: &Path, name: &str, partitions: i32) -> anyhow::Result<EmbeddedLog> {
        let connection = super::open(path)?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS log (
                log TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
                key BLOB, payload BLOB, end_of_input INTEGER NOT NULL,
                PRIMARY KEY (log, partition, offset)) WITHOUT ROWID;",
        )?;
        let existing: i64 =
            connection.query_row("SELECT COUNT(DISTINCT partition) FROM log WHERE log = ?1", params![name], |row| row.get(0))?;
        if existing > i64::from(partitions) {
            anyhow::bail!(
                "the embedded log already has {existing} partitions, more than --partitions {partitions}; \
                 use --partitions {existing} or a new --data-dir"
            );
        }
        let mut next_offsets = Vec::with_capacity(partitions as usize);
        for partition in 0..partitions {
            let next: i64 = connection.query_row(
                "SELECT COALESCE(MAX(offset) + 1, 0) FROM log WHERE log = ?1 AND partition = ?2",
                params![name, partition],
                |row| row.get(0),
            )?;
            next_offsets.push(next);
        }
        Ok(EmbeddedLog {
            connection: Arc::new(Mutex::new(connection)),
            next_offsets: Arc::new(Mutex::new(next_offsets)),
            signal: Arc::new(Signal::default()),
            path: path.to_path_buf(),
            name: name.to_string(),
        })
    }

    pub fn partitions(&self) -> i32 {
        self.next_offsets.lock().expect("log offsets lock").len() as i32
    }

    /// Appends records, each to its partition, in one transaction. Returns their offsets.
    pub fn append(&self, records: &[(PartitionId, Record)]) -> anyhow::Result<Vec<i64>> {
        let mut connection = self.connection.lock().expect("log connection lock");
        let mut next_offsets = self.next_offsets.lock().expect("log offsets lock");
        let transaction = connection.transaction()?;
        let mut offsets = Vec::with_capacity(records.len());
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO log (log, partition, offset, key, payload, end_of_input) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (partition, record) in records {
                let slot = next_offsets.get_mut(*partition as usize).with_context(|| format!("partition {partition} does not exist"))?;
                insert.execute(params![self.name, partition, *slot, record.key, record.payload, record.end_of_input])?;
                offsets.push(*slot);
                *slot += 1;
            }
        }
        transaction.commit()?;
        *self.signal.appended.lock().expect("signal lock") += records.len() as u64;
        self.signal.condvar.notify_all();
        Ok(offsets)
    }

    /// Deletes records below `offset` in `partition`, once they are no longer needed for a replay.
    pub fn trim(&self, partition: PartitionId, offset: i64) -> anyhow::Result<usize> {
        let connection = self.connection.lock().expect("log connection lock");
        Ok(connection.execute("DELETE FROM log WHERE log = ?1 AND partition = ?2 AND offset < ?3", params![self.name, partition, offset])?)
    }

    /// Creates a reader that owns every partition, positioned from the store's checkpoints.
    pub fn source(&self, store: Arc<dyn CountStore>) -> anyhow::Result<LogSource> {
        LogSource::new(self.clone(), store)
    }

    /// Returns the position one past the last record of `partition`.
    pub fn end_offset(&self, partition: PartitionId) -> i64 {
        self.next_offsets.lock().expect("log offsets lock").get(partition as usize).copied().unwrap_or(0)
    }
}

/// One record read back from the log.
#[derive(Debug, Clone)]
pub struct LogMessage {
    partition: PartitionId,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
    end_of_input: bool,
}

impl SourceMessage for LogMessage {
    fn partition(&self) -> PartitionId {
        self.partition
    }

    fn offset(&self) -> i64 {
        self.offset
    }

    fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    fn payload(&self) -> Option<&[u8]> {
        self.payload.as_deref()
    }

    fn headers(&self) -> Vec<(String, Option<Vec<u8>>)> {
        Vec::new()
    }

    fn is_end_of_input(&self) -> bool {
        self.end_of_input
    }
}

/// The reading side: the only member of its group, so it owns every partition.
pub struct LogSource {
    log: EmbeddedLog,
    connection: Connection,
    positions: RefCell<Vec<Option<i64>>>,
    buffer: RefCell<VecDeque<LogMessage>>,
    events: RefCell<Vec<RebalanceEvent>>,
    next_partition: RefCell<usize>,
}

impl LogSource {
    fn new(log: EmbeddedLog, store: Arc<dyn CountStore>) -> anyhow::Result<LogSource> {
        let partitions: Vec<PartitionId> = (0..log.partitions()).collect();
        let checkpoints = store.load_checkpoints(&log.name, &partitions)?;
        let mut positions = Vec::with_capacity(partitions.len());
        let mut assigned = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let checkpoint = checkpoints.iter().find(|c| c.partition == partition).cloned();
            positions.push(checkpoint.as_ref().filter(|c| c.next_offset >= 0).map(|c| c.replay_from.min(c.next_offset)));
            assigned.push((partition, checkpoint));
        }
        let connection = super::open(&log.path)?;
        Ok(LogSource {
            log,
            connection,
            positions: RefCell::new(positions),
            buffer: RefCell::new(VecDeque::new()),
            events: RefCell::new(vec![RebalanceEvent::Assigned(assigned)]),
            next_partition: RefCell::new(0),
        })
    }

    /// Reads the next chunk of up to [`FETCH_LIMIT`] records, trying partitions in turn.
    fn fetch(&self) -> anyhow::Result<()> {
        let partitions = self.positions.borrow().len();
        for _ in 0..partitions {
            let partition = {
                let mut next = self.next_partition.borrow_mut();
                let partition = *next;
                *next = (*next + 1) % partitions;
                partition
            };
            let from = self.positions.borrow()[partition].unwrap_or(0);
            let records = self.read(partition as PartitionId, from)?;
            if let Some(last) = records.last() {
                self.positions.borrow_mut()[partition] = Some(last.offset + 1);
                self.buffer.borrow_mut().extend(records);
                return Ok(());
            }
        }
        Ok(())
    }

    fn read(&self, partition: PartitionId, from: i64) -> anyhow::Result<Vec<LogMessage>> {
        let mut statement = self.connection.prepare_cached(
            "SELECT offset, key, payload, end_of_input FROM log WHERE log = ?1 AND partition = ?2 AND offset >= ?3 ORDER BY offset LIMIT ?4",
        )?;
        let rows = statement.query_map(params![self.log.name, partition, from, FETCH_LIMIT as i64], |row| {
            Ok(LogMessage { partition, offset: row.get(0)?, key: row.get(1)?, payload: row.get(2)?, end_of_input: row.get(3)? })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Waits for an append, at most until `deadline`.
    fn wait_for_append(&self, deadline: Instant) {
        let signal = &self.log.signal;
        let seen = *signal.appended.lock().expect("signal lock");
        let guard = signal.appended.lock().expect("signal lock");
        let timeout = deadline.saturating_duration_since(Instant::now());
        let _ = signal.condvar.wait_timeout_while(guard, timeout, |appended| *appended == seen);
    }
}

impl Source for LogSource {
    type Message<'a> = LogMessage;

    fn topic(&self) -> &str {
        &self.log.name
    }

    fn poll(&self, timeout: Duration) -> Option<Result<LogMessage, PollError>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(message) = self.buffer.borrow_mut().pop_front() {
                return Some(Ok(message));
            }
            if let Err(error) = self.fetch() {
                return Some(Err(PollError { error, fatal: false }));
            }
            if !self.buffer.borrow().is_empty() {
                continue;
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.wait_for_append(deadline);
        }
    }

    /// Nothing can fence the only reader of an embedded log.
    fn reconnect(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    fn take_rebalance_events(&self) -> Vec<RebalanceEvent> {
        std::mem::take(&mut *self.events.borrow_mut())
    }

    fn seek(&self, offsets: &[(PartitionId, Option<i64>)]) -> anyhow::Result<()> {
        self.buffer.borrow_mut().clear();
        let mut positions = self.positions.borrow_mut();
        for (partition, offset) in offsets {
            if let Some(position) = positions.get_mut(*partition as usize) {
                *position = *offset;
            }
        }
        Ok(())
    }

    fn commit_progress(&self, _offsets: &[(PartitionId, i64)]) {}

    fn lag(&self, partition: PartitionId, next_offset: i64) -> Option<i64> {
        Some((self.log.end_offset(partition) - next_offset.max(0)).max(0))
    }

    fn probe(&self, _timeout: Duration) -> bool {
        true
    }
}
