//! Command-line interface. Flags override the configuration file and environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(name = "pulso", version, about = "Real-time clickstream analytics: exact per-page window counts from Kafka into ClickHouse")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run. Without one, the embedded default runs with its defaults; `pulso run
    /// --help` lists its options.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything in one process with no services: generator, in-process log, processor,
    /// embedded store and dashboard. This is what `pulso` with no command does.
    Run(crate::embedded::run::RunArgs),
    /// Apply the versioned ClickHouse schema (idempotent).
    Migrate(MigrateArgs),
    /// Create the event and dead-letter topics (idempotent).
    Topics(TopicsArgs),
    /// Consume events, count them per window and write the counts to ClickHouse.
    Process(ProcessArgs),
    /// Produce realistic e-commerce traffic and write an oracle of the exact expected counts.
    Generate(crate::producers::generate::GenerateArgs),
    /// Replay recorded clickstream (REES46 CSV or OTTO JSONL) into Kafka.
    Replay(crate::producers::replay::ReplayArgs),
    /// Serve the live dashboard and its JSON API.
    Serve(crate::serve::ServeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file. Environment variables `PULSO_SECTION__KEY` and flags override it.
    #[arg(long, global = true, env = "PULSO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Kafka bootstrap servers [default: 127.0.0.1:9092].
    #[arg(long, global = true)]
    pub brokers: Option<String>,
    /// Event topic [default: pulso.events].
    #[arg(long, global = true)]
    pub topic: Option<String>,
    /// Dead-letter topic [default: pulso.events.dead-letter].
    #[arg(long, global = true)]
    pub dead_letter_topic: Option<String>,
    /// ClickHouse HTTP URL [default: http://127.0.0.1:8123].
    #[arg(long, global = true)]
    pub clickhouse_url: Option<String>,
    /// ClickHouse database [default: pulso].
    #[arg(long, global = true)]
    pub database: Option<String>,
    /// Address of /metrics, /healthz and /readyz; port 0 picks a free port, "" turns them off
    /// [default: 127.0.0.1:9464 for process, 127.0.0.1:9465 for generate and replay; run and
    /// serve publish them on their --listen address instead].
    #[arg(long, global = true)]
    pub metrics_address: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "PULSO_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter in tracing's syntax, such as `info` or `pulso=debug` [default: info].
    #[arg(long, global = true, env = "PULSO_LOG")]
    pub log_level: Option<String>,
}

impl GlobalArgs {
    /// Applies the flags that were given on top of the loaded configuration.
    pub fn apply(&self, config: &mut Config) {
        let overrides = [
            (&self.brokers, &mut config.kafka.brokers),
            (&self.topic, &mut config.kafka.topic),
            (&self.dead_letter_topic, &mut config.kafka.dead_letter_topic),
            (&self.clickhouse_url, &mut config.clickhouse.url),
            (&self.database, &mut config.clickhouse.database),
            (&self.metrics_address, &mut config.telemetry.metrics_address),
        ];
        if let Some(address) = &self.metrics_address {
            config.telemetry.producer_metrics_address = address.clone();
        }
        for (flag, field) in overrides {
            if let Some(value) = flag {
                *field = value.clone();
            }
        }
    }
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Print the migrations and whether each has run, and change nothing.
    #[arg(long)]
    pub status: bool,
}

#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// Partitions of the event topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// Replication factor of both topics.
    #[arg(long, default_value_t = 1)]
    pub replication: i32,
}

#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Consumer group [default: from configuration, pulso-processor].
    #[arg(long)]
    pub group: Option<String>,
    /// Static membership id of this processor [default: from configuration, none].
    #[arg(long)]
    pub instance_id: Option<String>,
    /// Flush and stop once no message has arrived for this long, such as `10s` (for bounded
    /// runs and tests). Before the first message the wait is four times as long.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub exit_when_idle: Option<std::time::Duration>,
    /// Interval between progress lines, such as `5s`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub progress_every: std::time::Duration,
}
