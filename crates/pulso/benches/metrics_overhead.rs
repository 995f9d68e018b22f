//! What metrics cost on the hot path: the same events through `Processor::process` with and
//! without the per-event metric bookkeeping the processing loop does (the tally, published to
//! the Prometheus registry, latency histograms included, once per 10,000 events as a flush would).
//!
//! Run with `cargo bench -p pulso --bench metrics_overhead`. Both variants run in one process,
//! one after the other, so their figures are comparable.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pulso::pipeline::tally::Tally;
use pulso::telemetry::metrics;
use pulso_core::{InputMessage, Outcome, Processor, ProcessorConfig};

const EVENTS: usize = 100_000;
const PAGES: usize = 10_000;
const PUBLISH_EVERY: usize = 10_000;
const T0: i64 = 1_714_575_600_000;

fn sample_events() -> Vec<Vec<u8>> {
    (0..EVENTS)
        .map(|i| {
            format!(
                r#"{{"event_id":"{}","event_type":"{}","page":"/produto/item-{}","user_id":"user-{}","session_id":"session-{}","timestamp":{},"referrer":"https://www.google.com.br/","properties":{{"price":129.9}}}}"#,
                uuid::Uuid::from_u128(0xabcd_0000_0000_0000_0000_0000_0000_0000 + i as u128),
                ["page_view", "click", "add_to_cart"][i % 3],
                (i * 7919) % PAGES,
                i % 5000,
                i % 20000,
                T0 + i as i64 * 6,
            )
            .into_bytes()
        })
        .collect()
}

fn run(events: &[Vec<u8>], with_metrics: bool) -> u64 {
    let mut processor = Processor::new(ProcessorConfig::default()).expect("valid config");
    processor.assign(0, None, T0);
    let now = T0 + 3_600_000;
    let registry = metrics::processor();
    let mut tally = Tally::default();
    let mut counted = 0;
    for (offset, payload) in events.iter().enumerate() {
        let message = InputMessage { partition: 0, offset: offset as i64, payload: Some(payload), end_of_input: false };
        let outcome = processor.process(&message, now);
        if with_metrics {
            tally.consumed(0);
            match &outcome {
                Outcome::Counted { event_type, timestamp_ms } => tally.counted(*event_type, *timestamp_ms),
                Outcome::Rejected(rejection) => tally.rejected(rejection.reason),
                _ => {}
            }
            if (offset + 1) % PUBLISH_EVERY == 0 {
                tally.batch(now, PUBLISH_EVERY as u64);
                tally.publish(registry, "bench", now + 1_000);
            }
        }
        if matches!(outcome, Outcome::Counted { .. }) {
            counted += 1;
        }
    }
    counted + processor.take_flush(now).counts.len() as u64
}

fn metrics_overhead(c: &mut Criterion) {
    let events = sample_events();
    let mut group = c.benchmark_group("metrics_overhead");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(30);
    group.bench_function("metrics_off", |b| b.iter(|| run(&events, false)));
    group.bench_function("metrics_on", |b| b.iter(|| run(&events, true)));
    group.finish();
}

criterion_group!(benches, metrics_overhead);
criterion_main!(benches);
