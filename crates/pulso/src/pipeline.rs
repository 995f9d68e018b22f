//! `pulso process`: the loop that wires the Kafka source, the processor core and the sinks.
//!
//! The loop is single-threaded and batch-oriented: it drains whatever the consumer has buffered,
//! runs each message through the core, queues dead letters, and every flush interval commits one
//! [`Flush`](pulso_core::Flush) to the count store. Before a commit it waits for the dead letters
//! of the flush to be acknowledged, and only after the commit does it record offsets in Kafka.
//!
//! If a commit or a dead-letter delivery fails for good, the loop rewinds: it drops all
//! uncommitted state and seeks every partition back to its stored checkpoint, so the events are
//! read and counted again rather than lost.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use pulso_core::{InputMessage, Outcome, PartitionId, Processor};
use rdkafka::message::{BorrowedMessage, Message};

use crate::cli::ProcessArgs;
use crate::config::Config;
use crate::shutdown::Stop;
use crate::sinks::clickhouse::{migrate, ClickHouseStore};
use crate::sinks::dead_letter::DeadLetterSink;
use crate::sinks::CountStore;
use crate::sources::kafka::{is_end_of_input, KafkaSource, RebalanceEvent};

/// Messages handled between checks of the flush timer.
const MAX_BATCH_MESSAGES: usize = 10_000;

/// Running totals for progress lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub consumed: u64,
    pub counted: u64,
    pub rejected: u64,
    pub flushes: u64,
}

pub fn run(config: &Config, args: &ProcessArgs, stop: &Stop) -> anyhow::Result<()> {
    let core_config = config.processor_config()?;
    let store = Arc::new(ClickHouseStore::new(&config.clickhouse, core_config.window_ms));
    migrate::ensure_current(store.client(), &config.clickhouse.database)?;
    let group = args.group.clone().unwrap_or_else(|| config.kafka.group_id.clone());
    let instance_id = args.instance_id.as_deref().or(config.kafka.group_instance_id.as_deref());
    let source = KafkaSource::new(&config.kafka, &group, instance_id, store.clone(), stop.clone())?;
    let dead_letters = DeadLetterSink::new(&config.kafka)?;
    let processor = Processor::new(core_config).map_err(anyhow::Error::msg)?;
    tracing::info!(topic = %config.kafka.topic, group = %group, clickhouse = %config.clickhouse.url, "processor started");
    let mut pipeline = Pipeline { source, store, dead_letters, processor, totals: Totals::default(), stop: stop.clone() };
    let result = pipeline.run_loop(config, args);
    let totals = pipeline.totals;
    tracing::info!(consumed = totals.consumed, counted = totals.counted, rejected = totals.rejected, flushes = totals.flushes, "processor stopped");
    result
}

struct Pipeline {
    source: KafkaSource,
    store: Arc<ClickHouseStore>,
    dead_letters: DeadLetterSink,
    processor: Processor,
    totals: Totals,
    stop: Stop,
}

impl Pipeline {
    fn run_loop(&mut self, config: &Config, args: &ProcessArgs) -> anyhow::Result<()> {
        let flush_interval = config.processor.flush_interval;
        let max_pending_keys = config.processor.max_pending_keys;
        let mut last_flush = Instant::now();
        let mut last_message = Instant::now();
        let mut progress = Progress::new(args.progress_every);
        while !self.stop.requested() {
            let handled = self.consume_batch(flush_interval.saturating_sub(last_flush.elapsed()), max_pending_keys)?;
            if handled > 0 {
                last_message = Instant::now();
            }
            if last_flush.elapsed() >= flush_interval || self.processor.pending_keys() >= max_pending_keys {
                self.flush_or_rewind()?;
                last_flush = Instant::now();
            }
            progress.report(&self.totals, &self.processor);
            if args.exit_when_idle.is_some_and(|idle| last_message.elapsed() >= idle) {
                tracing::info!("no messages for the idle period; stopping");
                break;
            }
        }
        self.flush_or_rewind()
    }

    /// Handles buffered messages until the batch limit, the flush deadline or an empty poll.
    fn consume_batch(&mut self, wait: Duration, max_pending_keys: usize) -> anyhow::Result<usize> {
        let Pipeline { source, processor, dead_letters, totals, .. } = self;
        let mut handled = 0;
        let mut timeout = wait.min(Duration::from_millis(100));
        let now_ms = epoch_ms();
        while handled < MAX_BATCH_MESSAGES && processor.pending_keys() < max_pending_keys {
            let Some(result) = source.poll(timeout) else { break };
            apply_rebalance_events(source, processor);
            match result {
                Ok(message) => handle(processor, dead_letters, totals, &message, now_ms)?,
                Err(error) => tracing::warn!(%error, "Kafka consumer error"),
            }
            handled += 1;
            timeout = Duration::ZERO;
        }
        apply_rebalance_events(source, processor);
        Ok(handled)
    }

    /// Commits a flush; on a failure that retries cannot fix, rewinds to the stored checkpoints.
    fn flush_or_rewind(&mut self) -> anyhow::Result<()> {
        let flush = self.processor.take_flush(epoch_ms());
        if flush.checkpoints.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.dead_letters.flush(Duration::from_secs(60)) {
            tracing::warn!(error = format!("{error:#}"), "dead letters not acknowledged; rewinding to the stored checkpoints");
            return self.rewind();
        }
        let stats = self.store.commit(self.source.topic(), &flush, &self.stop)?;
        self.totals.flushes += 1;
        tracing::debug!(rows = stats.rows, bytes = stats.bytes, attempts = stats.attempts, events = flush.event_count(), "flush committed");
        let offsets: Vec<(PartitionId, i64)> = flush.checkpoints.iter().map(|c| (c.partition, c.next_offset)).collect();
        self.source.commit_progress(&offsets);
        Ok(())
    }

    fn rewind(&mut self) -> anyhow::Result<()> {
        let partitions: Vec<PartitionId> = self.processor.assigned_partitions().collect();
        let checkpoints = self.store.load_checkpoints(self.source.topic(), &partitions).context("failed to reload checkpoints")?;
        self.processor.revoke_all();
        let now_ms = epoch_ms();
        let mut offsets = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let checkpoint = checkpoints.iter().find(|c| c.partition == partition);
            offsets.push((partition, self.processor.assign(partition, checkpoint, now_ms)));
        }
        self.source.seek(&offsets)
    }
}

fn handle(
    processor: &mut Processor,
    dead_letters: &mut DeadLetterSink,
    totals: &mut Totals,
    message: &BorrowedMessage<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    let input = InputMessage {
        partition: message.partition(),
        offset: message.offset(),
        payload: message.payload(),
        end_of_input: is_end_of_input(message),
    };
    totals.consumed += 1;
    match processor.process(&input, now_ms) {
        Outcome::Counted { .. } => totals.counted += 1,
        Outcome::Rejected(rejection) => {
            tracing::trace!(partition = input.partition, offset = input.offset, reason = %rejection.reason, "rejected event");
            totals.rejected += 1;
            dead_letters.send(message, &rejection)?;
        }
        Outcome::Replayed | Outcome::EndOfInput | Outcome::Ignored => {}
    }
    Ok(())
}

/// Applies assignment changes: every change drops uncommitted state, and assigned partitions
/// restart from their stored checkpoints.
fn apply_rebalance_events(source: &KafkaSource, processor: &mut Processor) {
    for event in source.take_rebalance_events() {
        processor.revoke_all();
        if let RebalanceEvent::Assigned(partitions) = event {
            let now_ms = epoch_ms();
            for (partition, checkpoint) in &partitions {
                processor.assign(*partition, checkpoint.as_ref(), now_ms);
            }
        }
    }
}

/// Periodic progress lines: totals, rates and the watermark delay behind the wall clock.
struct Progress {
    every: Duration,
    last: Instant,
    last_consumed: u64,
}

impl Progress {
    fn new(every: Duration) -> Progress {
        Progress { every, last: Instant::now(), last_consumed: 0 }
    }

    fn report(&mut self, totals: &Totals, processor: &Processor) {
        let elapsed = self.last.elapsed();
        if elapsed < self.every {
            return;
        }
        let rate = (totals.consumed - self.last_consumed) as f64 / elapsed.as_secs_f64();
        let watermark = processor.combined_watermark_ms();
        let delay_s = if watermark == i64::MIN { None } else { Some((epoch_ms() - watermark) / 1000) };
        tracing::info!(
            consumed = totals.consumed,
            counted = totals.counted,
            rejected = totals.rejected,
            events_per_second = rate.round() as u64,
            open_windows = processor.open_window_count(),
            watermark_delay_s = delay_s,
            "progress"
        );
        self.last = Instant::now();
        self.last_consumed = totals.consumed;
    }
}

pub fn epoch_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or(0)
}
