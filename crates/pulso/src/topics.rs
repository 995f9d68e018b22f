//! `pulso topics`: creates the event and dead-letter topics if they do not exist.

use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::cli::TopicsArgs;
use crate::config::Config;
use crate::kafka::client_config;

pub fn run(config: &Config, args: &TopicsArgs) -> anyhow::Result<()> {
    if args.partitions < 1 {
        bail!("--partitions {} is invalid; use 1 or more", args.partitions);
    }
    let admin: AdminClient<DefaultClientContext> =
        client_config(&config.kafka).create().context("failed to create Kafka admin client")?;
    let topics = [
        NewTopic::new(&config.kafka.topic, args.partitions, TopicReplication::Fixed(args.replication)),
        NewTopic::new(&config.kafka.dead_letter_topic, args.partitions, TopicReplication::Fixed(args.replication)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = block_on(admin.create_topics(&topics, &options))
        .with_context(|| format!("failed to create topics on {}", config.kafka.brokers))?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, "created topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => tracing::info!(topic, "topic already exists"),
            Err((topic, code)) => bail!("failed to create topic {topic:?}: {code}"),
        }
    }
    Ok(())
}

/// Runs a future from rdkafka's admin API to completion on the current thread.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(future)
}
