use std::collections::{BTreeMap, HashMap};

use pulso_core::decode::ValidationConfig;
use pulso_core::page::PageOptions;
use pulso_core::{InputMessage, Outcome, Processor, ProcessorConfig};

use super::*;
use crate::producers::generate::oracle::Oracle;

const START: i64 = 1_714_575_600_000; // 2024-05-01T15:00:00Z
const WINDOW_MS: i64 = 60_000;
const LATENESS_MS: i64 = 5_000;

fn settings(seed: u64, fractions: Fractions) -> Settings {
    Settings {
        seed,
        start_ms: START,
        rate: 50.0,
        partitions: 4,
        window_ms: WINDOW_MS,
        allowed_lateness_ms: LATENESS_MS,
        watermark_confirm_events: 3,
        dedup_horizon_ms: 600_000,
        limits: Limits { max_message_bytes: 64 * 1024, page_max_length: 2048 },
        query_allowlist: Vec::new(),
        fractions,
    }
}

fn all_faults() -> Fractions {
    Fractions { malformed: 0.03, late: 0.03, duplicates: 0.03, variants: 0.2, jitter: 0.05 }
}

fn generate(settings: Settings, count: usize) -> Vec<GeneratedMessage> {
    let mut generator = Generator::new(settings);
    (0..count).map(|_| generator.next_message()).collect()
}

fn timestamp_of(message: &GeneratedMessage) -> i64 {
    let event: serde_json::Value = serde_json::from_slice(message.value.as_ref().unwrap()).unwrap();
    match &event["timestamp"] {
        serde_json::Value::Number(number) => number.as_i64().unwrap(),
        serde_json::Value::String(text) => chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis(),
        other => panic!("unexpected timestamp {other}"),
    }
}

fn reason_of(message: &GeneratedMessage) -> Option<Reason> {
    match message.expected {
        Expected::Rejected(reason) => Some(reason),
        Expected::Counted { .. } => None,
    }
}

#[test]
fn same_seed_gives_identical_messages() {
    let first = generate(settings(11, all_faults()), 3000);
    let second = generate(settings(11, all_faults()), 3000);
    for (index, (a, b)) in first.iter().zip(&second).enumerate() {
        assert_eq!(a.value, b.value, "message {index}");
        assert_eq!((a.partition, &a.key, &a.expected), (b.partition, &b.key, &b.expected), "message {index}");
    }
}

#[test]
fn different_seed_gives_different_messages() {
    let first = generate(settings(11, all_faults()), 100);
    let second = generate(settings(12, all_faults()), 100);
    let same = first.iter().zip(&second).filter(|(a, b)| a.value == b.value).count();
    assert!(same < 5, "{same} of 100 messages identical");
}

#[test]
fn partition_follows_key() {
    for message in generate(settings(3, all_faults()), 2000) {
        assert_eq!(message.partition, kafka::partition_for_key(message.key.as_bytes(), 4));
    }
}

#[test]
fn counted_times_stay_near_partition_max() {
    let mut partition_max: HashMap<i32, i64> = HashMap::new();
    for message in generate(settings(5, all_faults()), 5000) {
        let Expected::Counted { timestamp_ms, .. } = message.expected else { continue };
        let max = partition_max.entry(message.partition).or_insert(i64::MIN);
        assert!(
            timestamp_ms > max.saturating_sub(LATENESS_MS / 2),
            "event at {timestamp_ms} is too far below max {max}"
        );
        *max = (*max).max(timestamp_ms);
    }
}

#[test]
fn late_events_older_than_recent_minimum() {
    let mut observed: HashMap<i32, Vec<i64>> = HashMap::new();
    let mut late_events = 0;
    for message in generate(settings(6, Fractions { late: 0.1, ..all_faults() }), 5000) {
        let times = observed.entry(message.partition).or_default();
        match reason_of(&message) {
            Some(Reason::Late) => {
                let timestamp_ms = timestamp_of(&message);
                assert!(times.len() >= 10, "late event on a partition with {} events", times.len());
                let recent_min = times[times.len() - 10..].iter().copied().min().unwrap();
                assert!(timestamp_ms <= recent_min - LATENESS_MS - WINDOW_MS - 1000);
                times.push(timestamp_ms);
                late_events += 1;
            }
            None => times.push(timestamp_of(&message)),
            Some(_) => {}
        }
    }
    assert!(late_events > 300, "only {late_events} late events");
}

#[test]
fn duplicates_repeat_recent_counted_bytes() {
    let messages = generate(settings(7, all_faults()), 5000);
    let mut duplicates = 0;
    for (index, message) in messages.iter().enumerate() {
        if reason_of(message) != Some(Reason::Duplicate) {
            continue;
        }
        duplicates += 1;
        let same_bytes: Vec<&GeneratedMessage> = messages[..index]
            .iter()
            .rev()
            .take(DUPLICATE_CANDIDATES * 2)
            .filter(|earlier| earlier.value == message.value)
            .collect();
        let originals =
            same_bytes.iter().filter(|earlier| matches!(earlier.expected, Expected::Counted { .. })).count();
        assert_eq!(originals, 1, "message {index} repeats {} recent messages", same_bytes.len());
        assert!(same_bytes.iter().all(|earlier| earlier.partition == message.partition));
    }
    assert!(duplicates > 100, "only {duplicates} duplicates");
}

#[test]
fn fractions_roughly_respected() {
    let messages = generate(settings(8, all_faults()), 20_000);
    let mut per_reason: BTreeMap<&str, usize> = BTreeMap::new();
    for message in &messages {
        if let Some(reason) = reason_of(message) {
            let family = match reason {
                Reason::Late | Reason::Duplicate => reason.code(),
                _ => "malformed",
            };
            *per_reason.entry(family).or_insert(0) += 1;
        }
    }
    for family in ["late", "duplicate", "malformed"] {
        let share = per_reason.get(family).copied().unwrap_or(0) as f64 / 20_000.0;
        assert!((0.02..0.04).contains(&share), "{family} share {share}");
    }
}

#[test]
fn malformed_kinds_all_appear() {
    let messages = generate(settings(9, Fractions { malformed: 0.2, ..Fractions::default() }), 2000);
    for kind in MalformedKind::ALL {
        assert!(messages.iter().any(|message| reason_of(message) == Some(kind.reason())), "{kind:?} never generated");
    }
}

#[test]
fn top_page_far_more_viewed_than_median() {
    let mut views: HashMap<String, u32> = HashMap::new();
    for message in generate(settings(10, Fractions::default()), 30_000) {
        if let Expected::Counted { page, event_type: EventType::PageView, .. } = message.expected {
            if page.starts_with("/produto/") {
                *views.entry(page).or_insert(0) += 1;
            }
        }
    }
    let mut counts: Vec<u32> = views.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let median = counts[counts.len() / 2];
    assert!(counts[0] >= 20 * median, "top {} median {median}", counts[0]);
}

#[test]
fn variant_pages_normalise_to_recorded_page() {
    let mut settings = settings(12, Fractions { variants: 1.0, ..Fractions::default() });
    settings.query_allowlist = vec!["q".into()];
    let options = PageOptions { query_allowlist: vec!["q".into()], ..PageOptions::default() };
    let mut non_canonical = 0;
    for message in generate(settings, 3000) {
        let Expected::Counted { page, .. } = &message.expected else { continue };
        let event: serde_json::Value = serde_json::from_slice(message.value.as_ref().unwrap()).unwrap();
        let written = event["page"].as_str().unwrap();
        assert_eq!(&pulso_core::page::normalize(written, &options).unwrap(), page, "written {written:?}");
        non_canonical += usize::from(written != page);
    }
    assert!(non_canonical > 2500, "only {non_canonical} non-canonical pages");
}

/// Feeds the messages through the processor core, partition by partition in send order, and
/// returns its counts and the outcome of each message.
type Counts = BTreeMap<(i64, String, &'static str), u64>;

fn process_all(messages: &[GeneratedMessage], settings: &Settings) -> (Counts, Vec<Outcome>) {
    let config = ProcessorConfig {
        window_ms: settings.window_ms,
        allowed_lateness_ms: settings.allowed_lateness_ms,
        watermark_confirm_events: settings.watermark_confirm_events,
        dedup_horizon_ms: settings.dedup_horizon_ms,
        validation: ValidationConfig {
            page: PageOptions { query_allowlist: settings.query_allowlist.clone(), ..PageOptions::default() },
            ..ValidationConfig::default()
        },
        ..ProcessorConfig::default()
    };
    let mut processor = Processor::new(config).unwrap();
    for partition in 0..settings.partitions {
        processor.assign(partition, None, START);
    }
    let mut offsets = vec![0i64; settings.partitions as usize];
    let mut outcomes = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let offset = &mut offsets[message.partition as usize];
        let input = InputMessage {
            partition: message.partition,
            offset: *offset,
            payload: message.value.as_deref(),
            end_of_input: false,
        };
        *offset += 1;
        let now_ms = START + (index as f64 * 1000.0 / settings.rate) as i64;
        outcomes.push(processor.process(&input, now_ms));
    }
    let flush = processor.take_flush(START + 3_600_000);
    let mut counts = BTreeMap::new();
    for row in &flush.counts {
        *counts.entry((row.window_start_ms, flush.page(row).to_string(), row.event_type.as_str())).or_insert(0) +=
            row.count;
    }
    (counts, outcomes)
}

#[test]
fn processor_core_agrees_with_tags() {
    let mut settings = settings(13, Fractions { malformed: 0.05, late: 0.05, duplicates: 0.05, variants: 0.3, jitter: 0.05 });
    settings.rate = 20.0;
    let messages = generate(settings.clone(), 20_000);
    let (counts, outcomes) = process_all(&messages, &settings);
    for (index, (message, outcome)) in messages.iter().zip(&outcomes).enumerate() {
        match (&message.expected, outcome) {
            (Expected::Counted { event_type, .. }, Outcome::Counted { event_type: actual, .. }) => {
                assert_eq!(event_type, actual)
            }
            (Expected::Rejected(reason), Outcome::Rejected(rejection)) => {
                assert_eq!(*reason, rejection.reason, "message {index}: {}", rejection.detail)
            }
            (expected, actual) => panic!("message {index}: expected {expected:?}, processor gave {actual:?}"),
        }
    }

    let mut oracle = Oracle::new(settings.window_ms);
    for message in &messages {
        oracle.record(message);
    }
    let mut oracle_csv = Vec::new();
    oracle.write_counts(&mut oracle_csv).unwrap();
    let mut processor_csv = String::from("window_start_ms,page,event_type,count\n");
    for ((window_start_ms, page, event_type), count) in &counts {
        processor_csv.push_str(&format!("{window_start_ms},{page},{event_type},{count}\n"));
    }
    assert_eq!(String::from_utf8(oracle_csv).unwrap(), processor_csv);
}

#[test]
fn oracle_total_equals_counted_events() {
    let messages = generate(settings(14, all_faults()), 5000);
    let mut oracle = Oracle::new(WINDOW_MS);
    for message in &messages {
        oracle.record(message);
    }
    let counted = messages.iter().filter(|message| matches!(message.expected, Expected::Counted { .. })).count() as u64;
    assert_eq!(oracle.counted(), counted);
    assert_eq!(oracle.count_total(), counted);
    assert_eq!(oracle.rejected() + counted, 5000);
}

#[test]
fn late_events_late_with_ten_confirm_events() {
    let mut settings = settings(15, Fractions { late: 0.1, ..Fractions::default() });
    settings.watermark_confirm_events = 10;
    let messages = generate(settings.clone(), 5000);
    let (_, outcomes) = process_all(&messages, &settings);
    for (message, outcome) in messages.iter().zip(&outcomes) {
        if reason_of(message) == Some(Reason::Late) {
            assert!(matches!(outcome, Outcome::Rejected(rejection) if rejection.reason == Reason::Late), "{outcome:?}");
        }
    }
}
