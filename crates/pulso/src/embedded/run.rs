//! The embedded default command: a producer thread (the traffic generator, or a replay of a
//! recorded file) appends to the embedded log, and the processing loop counts into the embedded
//! store, while the dashboard reads it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use pulso_core::{EventType, Processor};

use super::dead_letters::SqliteDeadLetters;
use super::log::{EmbeddedLog, Record};
use super::store::SqliteStore;
use crate::config::{duration_ms, Config};
use crate::kafka::partition_for_key;
use crate::pipeline::{self, LoopOptions};
use crate::producers::generate::generator::{Fractions, Generator, Settings};
use crate::producers::generate::malformed::Limits;
use crate::producers::replay::{self, Format};
use crate::shutdown::Stop;
use crate::sinks::CountStore;
use crate::telemetry::server::Health;

/// Most records the generator appends in one transaction.
const MAX_APPEND_BATCH: u64 = 20_000;

/// Name of the embedded log, stored in checkpoints the way a Kafka topic name is.
const LOG_NAME: &str = "events";

#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Folder of the embedded database; it keeps counts and the log across restarts.
    #[arg(long, default_value = "pulso-data")]
    pub data_dir: PathBuf,
    /// Address of the dashboard.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Generated events per second.
    #[arg(long, default_value_t = 200.0, allow_negative_numbers = true)]
    pub rate: f64,
    /// Partitions of the embedded log. Fixed when the data folder is created; a different value
    /// on an existing folder is an error.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Replay this recorded clickstream (REES46 CSV or OTTO JSONL) as fast as possible instead of
    /// generating traffic. Events keep their recorded timestamps, so a file from the past fills
    /// past windows (read them through the API), not the dashboard's last 24 hours.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Seed of the generator [default: from the clock].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop once no message has arrived for this long, such as `3s` (bounded runs).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub exit_when_idle: Option<Duration>,
}

impl Default for RunArgs {
    fn default() -> Self {
        RunArgs {
            data_dir: PathBuf::from("pulso-data"),
            listen: "127.0.0.1:8080".into(),
            rate: 200.0,
            partitions: 4,
            replay: None,
            seed: None,
            exit_when_idle: None,
        }
    }
}

pub fn run(config: &Config, args: &RunArgs, stop: &Stop) -> anyhow::Result<()> {
    if args.partitions < 1 {
        anyhow::bail!("--partitions {} is invalid; use 1 or more", args.partitions);
    }
    if !(args.rate > 0.0) {
        anyhow::bail!("--rate {} is invalid; use a positive number of events per second", args.rate);
    }
    if let Some(file) = &args.replay {
        if !file.is_file() {
            anyhow::bail!("replay file {} not found; pass an existing REES46 CSV or OTTO JSONL file", file.display());
        }
    }
    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("failed to create data folder {}", args.data_dir.display()))?;
    let _lock = lock_data_dir(&args.data_dir)?;
    let database = args.data_dir.join("pulso.sqlite");
    let core_config = config.processor_config()?;
    let click_types: Vec<EventType> = config.processor.click_event_types.iter().filter_map(|name| EventType::parse(name)).collect();
    let store = Arc::new(SqliteStore::open(&database, core_config.window_ms, &click_types)?);
    let log = EmbeddedLog::open(&database, LOG_NAME, args.partitions)?;
    let health = Arc::new(Health::named("log", "store"));
    health.source_reachable.store(true, std::sync::atomic::Ordering::Relaxed);
    health.store_reachable.store(true, std::sync::atomic::Ordering::Relaxed);
    super::dashboard::spawn(&args.listen, store.clone(), config, health.clone())?;

    let producer = spawn_producer(config, args, log.clone(), store.clone(), stop.clone())?;
    let source = log.source(store.clone())?;
    let dead_letters = SqliteDeadLetters::open(&database)?;
    let processor = Processor::new(core_config).map_err(anyhow::Error::msg)?;
    let options = LoopOptions {
        flush_interval: config.processor.flush_interval,
        max_pending_keys: config.processor.max_pending_keys,
        exit_when_idle: args.exit_when_idle,
        progress_every: Duration::from_secs(5),
    };
    tracing::info!(data = %database.display(), "embedded pipeline started");
    let result = pipeline::run_loop(source, dead_letters, store, processor, health, &options, stop);
    stop.request();
    let produced = producer.join().map_err(|_| anyhow::anyhow!("the producer thread panicked"))?;
    result?;
    produced
}

/// Takes an exclusive lock on the data folder for the life of the process. A second Pulso on the
/// same folder would append to the same log and commit the same checkpoints, counting events
/// twice, so it is refused.
fn lock_data_dir(data_dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = data_dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "data folder {} is in use by another running Pulso; stop it, or pass another --data-dir",
            data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => Err(error).with_context(|| format!("failed to lock {}", path.display())),
    }
}

/// Starts the thread that feeds the log, and trims the log below every partition's replay point.
/// Starts the thread that feeds the log. Its error, if any, is returned by `join`, after it has
/// asked the processing loop to stop.
fn spawn_producer(
    config: &Config,
    args: &RunArgs,
    log: EmbeddedLog,
    store: Arc<SqliteStore>,
    stop: Stop,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    let config = config.clone();
    let args = args.clone();
    let thread = std::thread::Builder::new().name("producer".into()).spawn(move || {
        let result = match &args.replay {
            Some(file) => replay_file(file, &log, &stop),
            None => generate(&config, &args, &log, store.as_ref(), &stop),
        };
        if let Err(error) = &result {
            tracing::error!(error = format!("{error:#}"), "embedded producer failed; stopping");
            stop.request();
        }
        result
    })?;
    Ok(thread)
}

/// Appends generated traffic at `args.rate` until stopped, paced in steps of 100 ms.
fn generate(config: &Config, args: &RunArgs, log: &EmbeddedLog, store: &dyn CountStore, stop: &Stop) -> anyhow::Result<()> {
    let seed = args.seed.unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1));
    let mut generator = Generator::new(Settings {
        seed,
        start_ms: now_ms(),
        rate: args.rate,
        partitions: log.partitions(),
        window_ms: duration_ms(config.processor.window),
        allowed_lateness_ms: duration_ms(config.processor.allowed_lateness),
        watermark_confirm_events: config.processor.watermark_confirm_events,
        dedup_horizon_ms: duration_ms(config.processor.dedup_horizon),
        limits: Limits { max_message_bytes: config.validation.max_message_bytes, page_max_length: config.validation.page_max_length },
        query_allowlist: config.validation.query_allowlist.clone(),
        fractions: Fractions { malformed: 0.005, late: 0.002, duplicates: 0.002, variants: 0.05, jitter: 0.05 },
    });
    tracing::info!(seed, rate = args.rate, "generating traffic");
    let started = Instant::now();
    let mut sent: u64 = 0;
    let mut last_trim = Instant::now();
    while !stop.requested() {
        // At most one batch per step, so a rate the machine cannot keep up with falls behind
        // instead of piling generated events up in memory.
        let due = ((started.elapsed().as_secs_f64() * args.rate) as u64).min(sent + MAX_APPEND_BATCH);
        let records: Vec<_> = (sent..due)
            .map(|_| {
                let message = generator.next_message();
                (message.partition, Record { key: Some(message.key.into_bytes()), payload: message.value, end_of_input: false })
            })
            .collect();
        sent = due;
        if !records.is_empty() {
            log.append(&records)?;
        }
        if last_trim.elapsed() >= Duration::from_secs(10) {
            trim(log, store)?;
            last_trim = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Deletes log records that no checkpoint needs any more.
fn trim(log: &EmbeddedLog, store: &dyn CountStore) -> anyhow::Result<()> {
    let partitions: Vec<i32> = (0..log.partitions()).collect();
    for checkpoint in store.load_checkpoints(LOG_NAME, &partitions)? {
        if checkpoint.next_offset >= 0 {
            log.trim(checkpoint.partition, checkpoint.replay_from.min(checkpoint.next_offset))?;
        }
    }
    Ok(())
}

/// Appends every event of a recorded file, then an end-of-input marker to each partition.
fn replay_file(file: &Path, log: &EmbeddedLog, stop: &Stop) -> anyhow::Result<()> {
    let format = replay::resolve_format(file, Format::Auto)?;
    let mut reader = replay::Source::open(file, format)?;
    let partitions = log.partitions();
    let mut batch = Vec::with_capacity(5_000);
    let mut sent = 0u64;
    while !stop.requested() {
        let Some(event) = reader.next_event()? else { break };
        let partition = partition_for_key(event.session_id.as_bytes(), partitions);
        batch.push((partition, Record { key: Some(event.session_id.clone().into_bytes()), payload: Some(event.to_json()), end_of_input: false }));
        if batch.len() == batch.capacity() {
            sent += batch.len() as u64;
            log.append(&std::mem::take(&mut batch))?;
        }
    }
    sent += batch.len() as u64;
    batch.extend((0..partitions).map(|partition| (partition, Record { key: None, payload: None, end_of_input: true })));
    log.append(&batch)?;
    tracing::info!(file = %file.display(), events = sent, "replay appended to the embedded log");
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
