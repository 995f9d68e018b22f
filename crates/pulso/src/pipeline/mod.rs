//! The processing loop: a [`Source`], the processor core, a [`DeadLetters`] sink and a
//! [`CountStore`]. The same loop runs on Kafka and ClickHouse (`pulso process`) and on the
//! embedded log and store.
//!
//! The loop is single-threaded and batch-oriented: it drains whatever the consumer has buffered,
//! runs each message through the core, queues dead letters, and every flush interval commits one
//! [`Flush`](pulso_core::Flush) to the count store. Before a commit it waits for the dead letters
//! of the flush to be acknowledged, and only after the commit does it record progress in the source.
//!
//! If a commit or a dead-letter delivery fails for good, the loop rewinds: it drops all
//! uncommitted state and seeks every partition back to its stored checkpoint, so the events are
//! read and counted again rather than lost.

pub mod tally;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use pulso_core::{InputMessage, Outcome, PartitionId, Processor};

use crate::shutdown::Stop;
use crate::sinks::{CountStore, DeadLetters};
use crate::sources::{PollError, RebalanceEvent, Source, SourceMessage};
use crate::telemetry::metrics::{self, ProcessorMetrics};
use crate::telemetry::server::Health;
use tally::Tally;

/// Messages handled between checks of the flush timer.
const MAX_BATCH_MESSAGES: usize = 10_000;

/// Running totals for progress lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub consumed: u64,
    /// Messages read again below a checkpoint, only to rebuild the de-duplication state.
    pub replayed: u64,
    pub counted: u64,
    pub rejected: u64,
    pub flushes: u64,
    /// When the first and the latest message arrived.
    pub first_message_at: Option<Instant>,
    pub last_message_at: Option<Instant>,
}

impl Totals {
    /// Messages per second between the first and the latest message.
    pub fn active_rate(&self) -> Option<f64> {
        let span = self.last_message_at?.duration_since(self.first_message_at?).as_secs_f64();
        (span > 0.0).then(|| self.consumed as f64 / span)
    }
}

/// When the loop flushes, stops and reports.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    pub flush_interval: Duration,
    pub max_pending_keys: usize,
    /// Stop after this long without a message (bounded runs and tests).
    pub exit_when_idle: Option<Duration>,
    pub progress_every: Duration,
}

/// Runs the loop until `stop` is requested or the source stays idle, then flushes. Returns the
/// totals.
pub fn run_loop<S: Source, D: DeadLetters>(
    source: S,
    dead_letters: D,
    store: Arc<dyn CountStore>,
    processor: Processor,
    health: Arc<Health>,
    options: &LoopOptions,
    stop: &Stop,
) -> anyhow::Result<Totals> {
    metrics::register_common();
    let registry = metrics::processor();
    // Failure counters start at 0, so that rate() and increase() see their first failure.
    for kind in ["transient", "unknown", "permanent"] {
        registry.insert_failures.with_label_values(&[kind]);
    }
    registry.dead_letter_failures.with_label_values(&[source.topic()]);
    registry.dead_letters_written.with_label_values(&[source.topic()]);
    let mut pipeline = Pipeline {
        source,
        store,
        dead_letters,
        processor,
        totals: Totals::default(),
        tally: Tally::default(),
        metrics: registry,
        health,
        stop: stop.clone(),
    };
    let result = pipeline.run(options);
    let totals = pipeline.totals;
    tracing::info!(
        consumed = totals.consumed,
        replayed = totals.replayed,
        counted = totals.counted,
        rejected = totals.rejected,
        flushes = totals.flushes,
        events_per_second = totals.active_rate().map(|rate| rate.round() as u64),
        "processor stopped"
    );
    result.map(|()| totals)
}

struct Pipeline<S, D> {
    source: S,
    store: Arc<dyn CountStore>,
    dead_letters: D,
    processor: Processor,
    totals: Totals,
    tally: Tally,
    metrics: &'static ProcessorMetrics,
    health: Arc<Health>,
    stop: Stop,
}

impl<S: Source, D: DeadLetters> Pipeline<S, D> {
    fn run(&mut self, options: &LoopOptions) -> anyhow::Result<()> {
        let flush_interval = options.flush_interval;
        let max_pending_keys = options.max_pending_keys;
        let mut last_flush = Instant::now();
        let mut last_message = Instant::now();
        let mut progress = Progress::new(options.progress_every);
        while !self.stop.requested() {
            let handled = self.consume_batch(flush_interval.saturating_sub(last_flush.elapsed()), max_pending_keys)?;
            if handled > 0 {
                last_message = Instant::now();
            }
            if last_flush.elapsed() >= flush_interval || self.processor.pending_keys() >= max_pending_keys {
                self.flush_or_rewind()?;
                last_flush = Instant::now();
            }
            if progress.report(&self.totals, &self.processor) && last_message.elapsed() > Duration::from_secs(5) {
                let reachable = self.source.probe(Duration::from_secs(2));
                self.health.source_reachable.store(reachable, Ordering::Relaxed);
            }
            // Joining a group can take seconds, so before the first message the wait is longer.
            let idle_limit = options.exit_when_idle.map(|idle| if self.totals.consumed > 0 { idle } else { idle * 4 });
            if idle_limit.is_some_and(|idle| last_message.elapsed() >= idle) {
                tracing::info!("no messages for the idle period; stopping");
                break;
            }
        }
        self.flush_or_rewind()
    }

    /// Handles buffered messages until the batch limit, the flush deadline or an empty poll.
    fn consume_batch(&mut self, wait: Duration, max_pending_keys: usize) -> anyhow::Result<usize> {
        let Pipeline { source, processor, dead_letters, totals, tally, metrics, health, .. } = self;
        let mut handled = 0;
        let mut fatal = false;
        let mut timeout = wait.min(Duration::from_millis(100));
        let now_ms = epoch_ms();
        while handled < MAX_BATCH_MESSAGES && processor.pending_keys() < max_pending_keys {
            let Some(result) = source.poll(timeout) else { break };
            apply_rebalance_events(source, processor, metrics, health);
            match result {
                Ok(message) => handle(processor, dead_letters, totals, tally, &message, source.topic(), now_ms)?,
                Err(PollError { error, fatal: true }) => {
                    tracing::error!(error = format!("{error:#}"), "fatal source error");
                    fatal = true;
                    break;
                }
                Err(PollError { error, .. }) => {
                    health.source_reachable.store(false, Ordering::Relaxed);
                    tracing::warn!(error = format!("{error:#}"), "source error");
                }
            }
            handled += 1;
            timeout = Duration::ZERO;
        }
        apply_rebalance_events(source, processor, metrics, health);
        if handled > 0 {
            health.source_reachable.store(true, Ordering::Relaxed);
            let now = Instant::now();
            totals.first_message_at.get_or_insert(now);
            totals.last_message_at = Some(now);
        }
        tally.batch(now_ms, handled as u64);
        if fatal {
            // Uncommitted state belongs to the old client's assignment; the new one starts from
            // the stored checkpoints.
            processor.revoke_all();
            source.reconnect()?;
        }
        Ok(handled)
    }

    /// Commits a flush; on a failure that retries cannot fix, rewinds to the stored checkpoints.
    fn flush_or_rewind(&mut self) -> anyhow::Result<()> {
        let windows_before = self.processor.open_window_count();
        let flush = self.processor.take_flush(epoch_ms());
        self.publish_watermarks(windows_before);
        if flush.checkpoints.is_empty() {
            return Ok(());
        }
        let topic = self.source.topic().to_string();
        if let Err(error) = self.dead_letters.flush(Duration::from_secs(60)) {
            self.metrics.dead_letter_failures.with_label_values(&[&topic]).inc();
            tracing::warn!(error = format!("{error:#}"), "dead letters not acknowledged; rewinding to the stored checkpoints");
            return self.rewind();
        }
        self.metrics.dead_letters_written.with_label_values(&[&topic]).inc_by(self.dead_letters.take_acknowledged());
        let stats = match self.store.commit(&topic, &flush, &self.stop) {
            Ok(stats) => stats,
            Err(error) => {
                self.health.store_reachable.store(false, Ordering::Relaxed);
                return Err(error);
            }
        };
        self.health.store_reachable.store(true, Ordering::Relaxed);
        self.tally.publish(self.metrics, &topic, epoch_ms());
        self.metrics.flushes.inc();
        self.totals.flushes += 1;
        tracing::debug!(rows = stats.rows, bytes = stats.bytes, attempts = stats.attempts, events = flush.event_count(), "flush committed");
        let offsets: Vec<(PartitionId, i64)> = flush.checkpoints.iter().map(|c| (c.partition, c.next_offset)).collect();
        self.source.commit_progress(&offsets);
        for (partition, next_offset) in offsets {
            if let Some(lag) = self.source.lag(partition, next_offset) {
                self.metrics.consumer_lag.with_label_values(&[&topic, &partition.to_string()]).set(lag);
            }
        }
        Ok(())
    }

    fn publish_watermarks(&self, windows_before: usize) {
        let now_ms = epoch_ms();
        let windows_after = self.processor.open_window_count();
        self.metrics.windows_closed.inc_by(windows_before.saturating_sub(windows_after) as u64);
        self.metrics.windows_open.set(windows_after as i64);
        let topic = self.source.topic();
        for (partition, watermark_ms) in self.processor.partition_watermarks() {
            if watermark_ms != i64::MIN {
                let delay = (now_ms - watermark_ms) as f64 / 1000.0;
                self.metrics.partition_watermark_delay.with_label_values(&[topic, &partition.to_string()]).set(delay);
            }
        }
        let combined = self.processor.combined_watermark_ms();
        if combined != i64::MIN {
            self.metrics.watermark_delay.set((now_ms - combined) as f64 / 1000.0);
            self.metrics.watermark_timestamp.set(combined as f64 / 1000.0);
        }
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
    dead_letters: &mut impl DeadLetters,
    totals: &mut Totals,
    tally: &mut Tally,
    message: &impl SourceMessage,
    topic: &str,
    now_ms: i64,
) -> anyhow::Result<()> {
    let input = InputMessage {
        partition: message.partition(),
        offset: message.offset(),
        payload: message.payload(),
        end_of_input: message.is_end_of_input(),
    };
    totals.consumed += 1;
    tally.consumed(input.partition);
    match processor.process(&input, now_ms) {
        Outcome::Counted { event_type, timestamp_ms } => {
            totals.counted += 1;
            tally.counted(event_type, timestamp_ms);
        }
        Outcome::Rejected(rejection) => {
            tracing::trace!(partition = input.partition, offset = input.offset, reason = %rejection.reason, "rejected event");
            totals.rejected += 1;
            tally.rejected(rejection.reason);
            dead_letters.send(message, topic, &rejection)?;
        }
        Outcome::Replayed => totals.replayed += 1,
        Outcome::EndOfInput | Outcome::Ignored => {}
    }
    Ok(())
}

/// Applies assignment changes: every change drops uncommitted state, and assigned partitions
/// restart from their stored checkpoints.
fn apply_rebalance_events(source: &impl Source, processor: &mut Processor, metrics: &ProcessorMetrics, health: &Health) {
    for event in source.take_rebalance_events() {
        metrics.rebalances.inc();
        health.source_reachable.store(true, Ordering::Relaxed);
        processor.revoke_all();
        if let RebalanceEvent::Assigned(partitions) = event {
            let now_ms = epoch_ms();
            for (partition, checkpoint) in &partitions {
                processor.assign(*partition, checkpoint.as_ref(), now_ms);
                if let Some(checkpoint) = checkpoint.as_ref().filter(|c| c.next_offset >= 0) {
                    tracing::info!(
                        partition,
                        next_offset = checkpoint.next_offset,
                        replay_from = checkpoint.replay_from,
                        "resuming from the stored checkpoint; offsets from replay_from are read again only to rebuild de-duplication"
                    );
                }
            }
        }
        let assigned: Vec<PartitionId> = processor.assigned_partitions().collect();
        metrics.partitions_assigned.set(assigned.len() as i64);
        health.partitions_assigned.store(assigned.len() as i64, Ordering::Relaxed);
        tally::forget_partitions(metrics, source.topic(), &assigned);
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

    /// Logs a progress line when one is due, and returns whether it did.
    fn report(&mut self, totals: &Totals, processor: &Processor) -> bool {
        let elapsed = self.last.elapsed();
        if elapsed < self.every {
            return false;
        }
        let rate = (totals.consumed - self.last_consumed) as f64 / elapsed.as_secs_f64();
        let watermark = processor.combined_watermark_ms();
        let delay_s = if watermark == i64::MIN { None } else { Some((epoch_ms() - watermark) / 1000) };
        tracing::info!(
            consumed = totals.consumed,
            replayed = totals.replayed,
            counted = totals.counted,
            rejected = totals.rejected,
            events_per_second = rate.round() as u64,
            open_windows = processor.open_window_count(),
            watermark_delay_s = delay_s,
            "progress"
        );
        self.last = Instant::now();
        self.last_consumed = totals.consumed;
        true
    }
}

pub fn epoch_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis() as i64).unwrap_or(0)
}
