//! Metric definitions, registered once in the default Prometheus registry.

use std::sync::OnceLock;

use prometheus::{
    register_gauge, register_gauge_vec, register_histogram, register_int_counter, register_int_counter_vec,
    register_int_gauge, register_int_gauge_vec, Gauge, GaugeVec, Histogram, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec,
};

/// Latency buckets in seconds, fine below 2 s where the freshness goal sits.
const LATENCY_BUCKETS: &[f64] = &[0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0];

/// Metrics of `pulso process`.
pub struct ProcessorMetrics {
    pub events_consumed: IntCounterVec,
    pub events_valid: IntCounterVec,
    pub events_invalid: IntCounterVec,
    pub events_late: IntCounterVec,
    pub events_duplicate: IntCounterVec,
    pub dead_letters_written: IntCounterVec,
    pub dead_letter_failures: IntCounterVec,
    pub windows_open: IntGauge,
    pub windows_closed: IntCounter,
    pub watermark_delay: Gauge,
    pub watermark_timestamp: Gauge,
    pub partition_watermark_delay: GaugeVec,
    pub end_to_end_latency: Histogram,
    pub processing_latency: Histogram,
    pub consumer_lag: IntGaugeVec,
    pub partitions_assigned: IntGauge,
    pub insert_duration: Histogram,
    pub insert_rows: IntCounter,
    pub insert_bytes: IntCounter,
    pub insert_failures: IntCounterVec,
    pub insert_retries: IntCounter,
    pub flushes: IntCounter,
    pub rebalances: IntCounter,
}

/// Metrics of `pulso generate` and `pulso replay`.
pub struct ProducerMetrics {
    pub messages_sent: IntCounterVec,
    pub send_errors: IntCounterVec,
    pub queue_depth: IntGaugeVec,
}

/// Returns the processor metrics, registered on first use.
pub fn processor() -> &'static ProcessorMetrics {
    static METRICS: OnceLock<ProcessorMetrics> = OnceLock::new();
    METRICS.get_or_init(register_processor)
}

/// Returns the producer metrics, registered on first use.
pub fn producer() -> &'static ProducerMetrics {
    static METRICS: OnceLock<ProducerMetrics> = OnceLock::new();
    METRICS.get_or_init(|| ProducerMetrics {
        messages_sent: counter_vec("pulso_producer_messages_sent_total", "Messages acknowledged by Kafka.", &["topic", "command"]),
        send_errors: counter_vec("pulso_producer_send_errors_total", "Messages Kafka failed to acknowledge.", &["topic", "command"]),
        queue_depth: register_int_gauge_vec!("pulso_producer_queue_depth", "Messages queued in the producer, not yet acknowledged.", &["command"]).expect("metric"),
    })
}

/// Registers `pulso_build_info` and the process collector (CPU seconds, resident memory).
pub fn register_common() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let build_info = register_int_gauge_vec!("pulso_build_info", "Build information; the value is always 1.", &["version"]).expect("metric");
        build_info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let process = prometheus::process_collector::ProcessCollector::for_self();
        let _ = prometheus::register(Box::new(process));
    });
}

fn register_processor() -> ProcessorMetrics {
    ProcessorMetrics {
        events_consumed: counter_vec("pulso_events_consumed_total", "Messages read from Kafka.", &["topic", "partition"]),
        events_valid: counter_vec("pulso_events_valid_total", "Events counted in a window.", &["topic", "event_type"]),
        events_invalid: counter_vec("pulso_events_invalid_total", "Events rejected by validation.", &["topic", "reason"]),
        events_late: counter_vec("pulso_events_late_total", "Valid events whose window had closed.", &["topic"]),
        events_duplicate: counter_vec("pulso_events_duplicate_total", "Events whose id was already seen.", &["topic"]),
        dead_letters_written: counter_vec("pulso_dead_letters_written_total", "Dead letters acknowledged by Kafka.", &["topic"]),
        dead_letter_failures: counter_vec("pulso_dead_letter_failures_total", "Dead letters Kafka failed to acknowledge.", &["topic"]),
        windows_open: register_int_gauge!("pulso_windows_open", "Windows with counts that have not closed.").expect("metric"),
        windows_closed: register_int_counter!("pulso_windows_closed_total", "Windows closed by the watermark.").expect("metric"),
        watermark_delay: register_gauge!("pulso_watermark_delay_seconds", "Wall clock minus the combined watermark.").expect("metric"),
        watermark_timestamp: register_gauge!("pulso_watermark_timestamp_seconds", "The combined watermark as Unix time.").expect("metric"),
        partition_watermark_delay: register_gauge_vec!(
            "pulso_partition_watermark_delay_seconds",
            "Wall clock minus the partition's watermark.",
            &["topic", "partition"]
        )
        .expect("metric"),
        end_to_end_latency: histogram("pulso_end_to_end_latency_seconds", "Event time to counts committed in ClickHouse."),
        processing_latency: histogram("pulso_processing_latency_seconds", "Message consumed to counts committed in ClickHouse."),
        consumer_lag: register_int_gauge_vec!("pulso_consumer_lag_messages", "Messages behind the partition's end.", &["topic", "partition"]).expect("metric"),
        partitions_assigned: register_int_gauge!("pulso_partitions_assigned", "Partitions assigned to this processor.").expect("metric"),
        insert_duration: histogram("pulso_clickhouse_insert_duration_seconds", "Duration of one flush commit, retries included."),
        insert_rows: register_int_counter!("pulso_clickhouse_insert_rows_total", "Rows inserted into ClickHouse.").expect("metric"),
        insert_bytes: register_int_counter!("pulso_clickhouse_insert_bytes_total", "RowBinary bytes inserted into ClickHouse.").expect("metric"),
        insert_failures: counter_vec("pulso_clickhouse_insert_failures_total", "Failed insert attempts by kind.", &["kind"]),
        insert_retries: register_int_counter!("pulso_clickhouse_insert_retries_total", "Insert attempts after the first.").expect("metric"),
        flushes: register_int_counter!("pulso_flushes_total", "Flushes committed.").expect("metric"),
        rebalances: register_int_counter!("pulso_rebalances_total", "Partition assignments and revocations.").expect("metric"),
    }
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register_int_counter_vec!(name, help, labels).expect("metric")
}

fn histogram(name: &str, help: &str) -> Histogram {
    register_histogram!(name, help, LATENCY_BUCKETS.to_vec()).expect("metric")
}
