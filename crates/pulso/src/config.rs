//! Configuration: defaults, then a TOML file, then `PULSO_*` environment variables, then flags.
//!
//! Environment variables use a double underscore between section and key, for example
//! `PULSO_KAFKA__BROKERS=127.0.0.1:9092` or `PULSO_PROCESSOR__WINDOW=30s`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use pulso_core::decode::ValidationConfig;
use pulso_core::page::PageOptions;
use pulso_core::{EventType, ProcessorConfig};
use serde::{Deserialize, Serialize};

/// The whole configuration. Every field has a default, so an empty file is valid.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub clickhouse: ClickHouseConfig,
    pub processor: ProcessorSettings,
    pub validation: ValidationSettings,
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Address of the processor's `/metrics`, `/healthz` and `/readyz` endpoints; port 0 picks
    /// a free port, and an empty string turns the endpoints off.
    pub metrics_address: String,
    /// The same endpoints for `pulso generate` and `pulso replay`, on their own port so that a
    /// producer and a processor can run on one machine.
    pub producer_metrics_address: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig { metrics_address: "127.0.0.1:9464".into(), producer_metrics_address: "127.0.0.1:9465".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, comma-separated `host:port`.
    pub brokers: String,
    /// Topic the events are read from and produced to.
    pub topic: String,
    /// Topic rejected events are written to.
    pub dead_letter_topic: String,
    /// Consumer group of the processors.
    pub group_id: String,
    /// Static group membership id (`group.instance.id`). A processor restarted with the same id
    /// takes its partitions back at once instead of after the session timeout.
    pub group_instance_id: Option<String>,
    /// Start position of a partition with no checkpoint: `earliest` or `latest`.
    pub start_from: String,
    /// Extra librdkafka properties, such as `security.protocol`, passed through unchanged.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topic: "pulso.events".into(),
            dead_letter_topic: "pulso.events.dead-letter".into(),
            group_id: "pulso-processor".into(),
            group_instance_id: None,
            start_from: "earliest".into(),
            properties: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP interface URL.
    pub url: String,
    pub database: String,
    pub user: String,
    pub password: String,
    /// Timeout of one request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Maximum wait between retries of a transient failure.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://127.0.0.1:8123".into(),
            database: "pulso".into(),
            user: "default".into(),
            password: String::new(),
            request_timeout: Duration::from_secs(30),
            max_backoff: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSettings {
    /// Tumbling window size; a whole number of seconds.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How far the watermark trails the confirmed event time.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// Consecutive events of a partition that must reach a time before the watermark moves.
    pub watermark_confirm_events: usize,
    /// Processing time without events after which a partition stops holding the watermark.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Event-time horizon within which a repeated `event_id` counts once.
    #[serde(with = "humantime_serde")]
    pub dedup_horizon: Duration,
    /// How often partial counts of open windows are written.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Duration,
    /// Pending (window, page, event type) keys that force a flush before the interval ends.
    pub max_pending_keys: usize,
    /// Event types that count as clicks in "clicks per page".
    pub click_event_types: Vec<String>,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        ProcessorSettings {
            window: Duration::from_secs(60),
            allowed_lateness: Duration::from_secs(5),
            watermark_confirm_events: 3,
            idle_timeout: Duration::from_secs(30),
            dedup_horizon: Duration::from_secs(600),
            flush_interval: Duration::from_secs(1),
            max_pending_keys: 200_000,
            click_event_types: vec!["page_view".into(), "click".into()],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationSettings {
    /// Largest accepted message value, in bytes.
    pub max_message_bytes: usize,
    /// How far event time may be ahead of processing time.
    #[serde(with = "humantime_serde")]
    pub max_future: Duration,
    /// Largest normalised page, in bytes.
    pub page_max_length: usize,
    /// Query parameters kept in the page, such as `q` for search pages.
    pub query_allowlist: Vec<String>,
}

impl Default for ValidationSettings {
    fn default() -> Self {
        ValidationSettings {
            max_message_bytes: 64 * 1024,
            max_future: Duration::from_secs(300),
            page_max_length: 2048,
            query_allowlist: Vec::new(),
        }
    }
}

impl Config {
    /// Loads the layers below flags. `file` must exist when given.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                bail!("configuration file {} not found; pass an existing TOML file to --config", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        // Only `PULSO_SECTION__KEY` variables are configuration; `PULSO_LOG` and friends are not.
        figment = figment.merge(Env::prefixed("PULSO_").filter(|key| key.as_str().contains("__")).split("__"));
        figment.extract().map_err(|errors| anyhow::anyhow!(describe_errors(errors, file)))
    }

    /// Builds and checks the processor core settings.
    pub fn processor_config(&self) -> anyhow::Result<ProcessorConfig> {
        let settings = &self.processor;
        let config = ProcessorConfig {
            window_ms: duration_ms(settings.window),
            allowed_lateness_ms: duration_ms(settings.allowed_lateness),
            watermark_confirm_events: settings.watermark_confirm_events,
            idle_timeout_ms: duration_ms(settings.idle_timeout),
            dedup_horizon_ms: duration_ms(settings.dedup_horizon),
            validation: ValidationConfig {
                max_message_bytes: self.validation.max_message_bytes,
                max_future_ms: duration_ms(self.validation.max_future),
                page: PageOptions {
                    query_allowlist: self.validation.query_allowlist.clone(),
                    max_length: self.validation.page_max_length,
                },
            },
        };
        config.validate().map_err(|message| anyhow::anyhow!("invalid processor settings: {message}"))?;
        Ok(config)
    }

    /// Checks every setting that can be checked without a network.
    pub fn validate(&self) -> anyhow::Result<()> {
        let window_ms = duration_ms(self.processor.window);
        if window_ms < 1000 || window_ms % 1000 != 0 {
            bail!(
                "processor.window = {} is invalid; use a whole number of seconds such as \"1m\" or \"30s\"",
                humantime::format_duration(self.processor.window)
            );
        }
        self.processor_config()?;
        for name in &self.processor.click_event_types {
            if EventType::parse(name).is_none() {
                bail!(
                    "processor.click_event_types contains unknown event type {name:?}; use any of {}",
                    EventType::names()
                );
            }
        }
        if !matches!(self.kafka.start_from.as_str(), "earliest" | "latest") {
            bail!("kafka.start_from is {:?}; use \"earliest\" or \"latest\"", self.kafka.start_from);
        }
        if self.processor.flush_interval.is_zero() {
            bail!("processor.flush_interval is 0; use a positive duration such as \"1s\"");
        }
        if !self.clickhouse.url.starts_with("http://") && !self.clickhouse.url.starts_with("https://") {
            bail!("clickhouse.url {:?} is not an http(s) URL; use for example http://127.0.0.1:8123", self.clickhouse.url);
        }
        if self.clickhouse.database.is_empty() || !self.clickhouse.database.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            bail!("clickhouse.database {:?} must be letters, digits and underscores", self.clickhouse.database);
        }
        Ok(())
    }
}

/// Describes each configuration error on one line: the key, the problem and the value's source.
fn describe_errors(errors: figment::Error, file: Option<&Path>) -> String {
    let lines: Vec<String> = errors
        .into_iter()
        .map(|error| {
            // Figment puts the profile ("default") in front of every key; users never write it.
            let key = error.path.iter().skip_while(|part| *part == "default").cloned().collect::<Vec<_>>().join(".");
            let source = match error.metadata.as_ref().map(|metadata| metadata.name.as_ref()) {
                Some(name) if name.contains("TOML") => file.map_or_else(|| name.to_string(), |file| file.display().to_string()),
                Some(name) => name.to_string(),
                None => "the configuration".to_string(),
            };
            let mut problem = error.kind.to_string().replace("``", "`").replace("`one of ", "one of ");
            if problem.contains("expected a duration") {
                problem.push_str(", written as a string such as \"500ms\", \"5s\" or \"1m\"");
            }
            if key.is_empty() {
                format!("{problem} (in {source})")
            } else {
                format!("`{key}`: {problem} (in {source})")
            }
        })
        .collect();
    format!("invalid configuration: {}", lines.join("; "))
}

pub fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn toml_overrides_defaults() {
        // The jail serialises tests that read the environment, which Config::load does.
        figment::Jail::expect_with(|jail| {
            jail.create_file("pulso.toml", "[processor]\nwindow = \"30s\"\n[kafka]\ntopic = \"t\"\n")?;
            let config = Config::load(Some(Path::new("pulso.toml"))).map_err(|error| error.to_string())?;
            assert_eq!(config.processor.window, Duration::from_secs(30));
            assert_eq!(config.kafka.topic, "t");
            assert_eq!(config.kafka.brokers, "127.0.0.1:9092");
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_nested_keys_only() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PULSO_KAFKA__TOPIC", "from-env");
            jail.set_env("PULSO_LOG", "debug");
            let config = Config::load(None).map_err(|error| error.to_string())?;
            assert_eq!(config.kafka.topic, "from-env");
            Ok(())
        });
    }

    #[test]
    fn unknown_key_rejected() {
        let dir = std::env::temp_dir().join(format!("pulso-config-unknown-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pulso.toml");
        std::fs::write(&file, "[processor]\nwindw = \"30s\"\n").unwrap();
        let error = format!("{:#}", Config::load(Some(&file)).unwrap_err());
        assert!(error.contains("windw"), "{error}");
    }

    #[test]
    fn missing_file_named() {
        let error = Config::load(Some(Path::new("/nonexistent/pulso.toml"))).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/pulso.toml"), "{error}");
    }

    #[test]
    fn unknown_click_type_rejected() {
        let mut config = Config::default();
        config.processor.click_event_types = vec!["hover".into()];
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("hover"), "{error}");
    }
}
