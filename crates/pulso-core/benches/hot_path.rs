//! Hot-path benchmark: decode, validate and aggregate a batch of realistic events through
//! `Processor::process`, the same call the pipeline makes per message.
//!
//! Run with `cargo bench -p pulso-core --bench hot_path`. Throughput is reported in elements
//! (events) per second.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pulso_core::{InputMessage, Processor, ProcessorConfig};

const EVENTS: usize = 100_000;
const PAGES: usize = 10_000;
const T0: i64 = 1_714_575_600_000;

/// Events spread over 10,000 pages and 10 minutes, in time order, as a generator would send them.
fn sample_events() -> Vec<Vec<u8>> {
    let types = ["page_view", "click", "add_to_cart", "page_view", "click"];
    (0..EVENTS)
        .map(|i| {
            let page = (i * 7919) % PAGES;
            let timestamp = T0 + (i as i64) * 6;
            format!(
                r#"{{"event_id":"{}","event_type":"{}","page":"/produto/item-{page}","user_id":"user-{}","session_id":"session-{}","timestamp":{timestamp},"referrer":"https://www.google.com.br/","user_agent":"Mozilla/5.0 (Linux; Android 14)","properties":{{"price":129.9,"currency":"BRL"}}}}"#,
                uuid::Uuid::from_u128(0x1234_5678_9abc_def0_0000_0000_0000_0000 + i as u128),
                types[i % types.len()],
                i % 5000,
                i % 20000,
            )
            .into_bytes()
        })
        .collect()
}

fn process_all(events: &[Vec<u8>], metrics_sink: &mut u64) {
    let mut processor = Processor::new(ProcessorConfig::default()).expect("valid config");
    processor.assign(0, None, T0);
    let now = T0 + 3_600_000;
    for (offset, payload) in events.iter().enumerate() {
        let message = InputMessage { partition: 0, offset: offset as i64, payload: Some(payload), end_of_input: false };
        if let pulso_core::Outcome::Counted { .. } = processor.process(&message, now) {
            *metrics_sink += 1;
        }
    }
    let flush = processor.take_flush(now);
    *metrics_sink += flush.counts.len() as u64;
}

fn hot_path(c: &mut Criterion) {
    let events = sample_events();
    let bytes: usize = events.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("hot_path");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(20);
    group.bench_function(format!("decode_validate_aggregate_{EVENTS}_events_{}B_avg", bytes / EVENTS), |b| {
        let mut sink = 0u64;
        b.iter_batched(|| (), |()| process_all(&events, &mut sink), BatchSize::SmallInput);
        criterion::black_box(sink);
    });
    group.finish();
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
