//! `pulso process`: wires the Kafka source, the Kafka dead-letter sink and the ClickHouse store
//! into the processing loop.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pulso_core::Processor;

use crate::cli::ProcessArgs;
use crate::config::Config;
use crate::pipeline::{self, LoopOptions};
use crate::shutdown::Stop;
use crate::sinks::clickhouse::{migrate, ClickHouseStore};
use crate::sinks::dead_letter::DeadLetterSink;
use crate::sources::kafka::KafkaSource;
use crate::telemetry::server::{self, Health};

pub fn run(config: &Config, args: &ProcessArgs, stop: &Stop) -> anyhow::Result<()> {
    let core_config = config.processor_config()?;
    let health = Arc::new(Health::default());
    health.needs_partitions.store(true, Ordering::Relaxed);
    if !config.telemetry.metrics_address.is_empty() {
        server::spawn(&config.telemetry.metrics_address, health.clone())?;
    }
    let store = Arc::new(ClickHouseStore::new(&config.clickhouse, core_config.window_ms));
    migrate::ensure_current(store.client(), &config.clickhouse.database)?;
    health.store_reachable.store(true, Ordering::Relaxed);

    let group = args.group.clone().unwrap_or_else(|| config.kafka.group_id.clone());
    let instance_id = args.instance_id.as_deref().or(config.kafka.group_instance_id.as_deref());
    let source = KafkaSource::new(&config.kafka, &group, instance_id, store.clone(), stop.clone())?;
    let dead_letters = DeadLetterSink::new(&config.kafka)?;
    let processor = Processor::new(core_config).map_err(anyhow::Error::msg)?;
    let options = LoopOptions {
        flush_interval: config.processor.flush_interval,
        max_pending_keys: config.processor.max_pending_keys,
        exit_when_idle: args.exit_when_idle,
        progress_every: args.progress_every,
    };
    tracing::info!(topic = %config.kafka.topic, group = %group, clickhouse = %config.clickhouse.url, "processor started");
    pipeline::run_loop(source, dead_letters, store, processor, health, &options, stop).map(|_| ())
}
