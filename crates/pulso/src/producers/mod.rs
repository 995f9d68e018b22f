//! Producers of events into Kafka: `generate` makes synthetic traffic with an oracle of the
//! exact expected counts, `replay` sends recorded clickstream.
//!
//! Both choose each message's partition themselves with Kafka's default partitioner, so they
//! know the order in which the processor reads every partition, and both share [`sender`] for
//! delivery tracking, back-pressure, progress and end-of-input markers.

pub mod generate;
pub mod replay;
pub mod sender;
pub mod wire;

/// Serves the producer's `/metrics`, `/healthz` and `/readyz` on
/// `telemetry.producer_metrics_address`, unless it is empty.
pub fn serve_telemetry(config: &crate::config::Config) -> anyhow::Result<()> {
    use std::sync::atomic::Ordering;
    crate::telemetry::metrics::register_common();
    let address = &config.telemetry.producer_metrics_address;
    if address.is_empty() {
        return Ok(());
    }
    let health = std::sync::Arc::new(crate::telemetry::server::Health::default());
    // A producer needs neither ClickHouse nor partitions; it is ready once Kafka answered.
    health.store_reachable.store(true, Ordering::Relaxed);
    health.source_reachable.store(true, Ordering::Relaxed);
    crate::telemetry::server::spawn(address, health)?;
    Ok(())
}
