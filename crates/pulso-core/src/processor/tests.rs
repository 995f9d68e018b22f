use super::*;
use proptest::prelude::*;

const T0: i64 = 1_714_575_600_000; // 2024-05-01T15:00:00Z, a minute boundary
const NOW: i64 = T0 + 3_600_000;

fn config() -> ProcessorConfig {
    ProcessorConfig { watermark_confirm_events: 1, allowed_lateness_ms: 5_000, ..ProcessorConfig::default() }
}

fn event_json(id: u128, page: &str, event_type: &str, timestamp_ms: i64) -> Vec<u8> {
    format!(
        r#"{{"event_id":"{}","event_type":"{event_type}","page":"{page}","user_id":"u","session_id":"s","timestamp":{timestamp_ms}}}"#,
        uuid::Uuid::from_u128(id)
    )
    .into_bytes()
}

fn message(partition: PartitionId, offset: i64, payload: &[u8]) -> InputMessage<'_> {
    InputMessage { partition, offset, payload: Some(payload), end_of_input: false }
}

fn totals(flushes: &[Flush]) -> BTreeMap<(i64, String, EventType), u64> {
    let mut totals = BTreeMap::new();
    for flush in flushes {
        for row in &flush.counts {
            *totals.entry((row.window_start_ms, flush.page(row).to_string(), row.event_type)).or_insert(0) += row.count;
        }
    }
    totals
}

#[test]
fn counts_events_per_window_page_and_type() {
    let mut processor = Processor::new(config()).unwrap();
    processor.assign(0, None, NOW);
    let inputs = [
        event_json(1, "/a", "click", T0 + 1_000),
        event_json(2, "/a", "click", T0 + 59_999),
        event_json(3, "/a/", "click", T0 + 60_000),
        event_json(4, "/b", "page_view", T0 + 2_000),
    ];
    for (offset, payload) in inputs.iter().enumerate() {
        let outcome = processor.process(&message(0, offset as i64, payload), NOW);
        assert!(matches!(outcome, Outcome::Counted { .. }), "{outcome:?}");
    }
    let flush = processor.take_flush(NOW);
    let totals = totals(&[flush.clone()]);
    assert_eq!(totals[&(T0, "/a".to_string(), EventType::Click)], 2);
    assert_eq!(totals[&(T0 + 60_000, "/a".to_string(), EventType::Click)], 1);
    assert_eq!(totals[&(T0, "/b".to_string(), EventType::PageView)], 1);
    assert_eq!(flush.checkpoints.len(), 1);
    assert_eq!(flush.checkpoints[0].next_offset, 4);
}

#[test]
fn duplicate_event_id_counted_once() {
    let mut processor = Processor::new(config()).unwrap();
    processor.assign(0, None, NOW);
    let payload = event_json(9, "/a", "click", T0);
    assert!(matches!(processor.process(&message(0, 0, &payload), NOW), Outcome::Counted { .. }));
    match processor.process(&message(0, 1, &payload), NOW) {
        Outcome::Rejected(rejection) => assert_eq!(rejection.reason, Reason::Duplicate),
        other => panic!("expected duplicate, got {other:?}"),
    }
    let flush = processor.take_flush(NOW);
    assert_eq!(flush.event_count(), 1);
    assert_eq!(flush.rejections, vec![RejectionRow { window_start_ms: NOW - NOW % 60_000, reason: Reason::Duplicate, count: 1 }]);
}

#[test]
fn event_for_closed_window_is_late() {
    let mut processor = Processor::new(config()).unwrap();
    processor.assign(0, None, NOW);
    let newer = event_json(1, "/a", "click", T0 + 65_000);
    let older = event_json(2, "/a", "click", T0 + 30_000);
    let borderline = event_json(3, "/a", "click", T0 + 60_000);
    processor.process(&message(0, 0, &newer), NOW);
    match processor.process(&message(0, 1, &older), NOW) {
        Outcome::Rejected(rejection) => assert_eq!(rejection.reason, Reason::Late),
        other => panic!("expected late, got {other:?}"),
    }
    assert!(matches!(processor.process(&message(0, 2, &borderline), NOW), Outcome::Counted { .. }));
}

#[test]
fn idle_partition_stops_holding_watermark() {
    let mut processor = Processor::new(config()).unwrap();
    processor.assign(0, None, NOW);
    processor.assign(1, None, NOW);
    processor.process(&message(0, 0, &event_json(1, "/a", "click", T0 + 120_000)), NOW);
    processor.process(&message(1, 0, &event_json(2, "/a", "click", T0)), NOW);
    processor.advance(NOW + 1_000);
    assert_eq!(processor.combined_watermark_ms(), T0 - 5_000);
    // Partition 1 goes quiet past the idle timeout while partition 0 keeps going.
    let later = NOW + processor.config().idle_timeout_ms + 1;
    processor.process(&message(0, 1, &event_json(3, "/a", "click", T0 + 121_000)), later);
    processor.advance(later);
    assert_eq!(processor.combined_watermark_ms(), T0 + 116_000);
    match processor.process(&message(1, 1, &event_json(4, "/a", "click", T0 + 1_000)), later) {
        Outcome::Rejected(rejection) => assert_eq!(rejection.reason, Reason::Late),
        other => panic!("expected late after idle raise, got {other:?}"),
    }
}

#[test]
fn end_of_input_closes_every_window() {
    let mut processor = Processor::new(config()).unwrap();
    processor.assign(0, None, NOW);
    processor.process(&message(0, 0, &event_json(1, "/a", "click", T0 + 10_000)), NOW);
    assert_eq!(processor.open_window_count(), 1);
    let marker = InputMessage { partition: 0, offset: 1, payload: None, end_of_input: true };
    assert_eq!(processor.process(&marker, NOW), Outcome::EndOfInput);
    assert_eq!(processor.advance(NOW), 1);
    assert_eq!(processor.open_window_count(), 0);
    assert_eq!(processor.combined_watermark_ms(), T0 + 60_000);
}

#[test]
fn invalid_message_advances_offset() {
    let mut processor = Processor::new(config()).unwrap();
    processor.assign(3, None, NOW);
    let outcome = processor.process(&message(3, 41, b"not json"), NOW);
    assert!(matches!(outcome, Outcome::Rejected(ref r) if r.reason == Reason::MalformedJson));
    assert_eq!(processor.take_flush(NOW).checkpoints[0].next_offset, 42);
}

#[test]
fn unassigned_partition_ignored() {
    let mut processor = Processor::new(config()).unwrap();
    let payload = event_json(1, "/a", "click", T0);
    assert_eq!(processor.process(&message(5, 0, &payload), NOW), Outcome::Ignored);
}

#[test]
fn horizon_shorter_than_window_rejected() {
    let config = ProcessorConfig { dedup_horizon_ms: 1_000, ..config() };
    let error = Processor::new(config).unwrap_err();
    assert!(error.contains("horizon"), "{error}");
}

/// Generates a partition log: mostly in-order events with duplicates, late ones and garbage.
fn arbitrary_log() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec((0u8..10, 0i64..300_000, 0u128..40, 0usize..5), 1..120).prop_map(|entries| {
        let mut clock = T0;
        entries
            .into_iter()
            .map(|(kind, jitter, id, page)| {
                clock += 700;
                match kind {
                    0 => b"{broken".to_vec(),
                    1 => event_json(id, &format!("/p{page}"), "click", clock - jitter),
                    _ => event_json(1_000 + id * 1_000 + clock as u128, &format!("/p{page}"), "page_view", clock),
                }
            })
            .collect()
    })
}

proptest! {
    /// Killing the processor after any flush and restarting it from the stored checkpoint gives
    /// exactly the counts of an uninterrupted run.
    #[test]
    fn restart_from_checkpoint_changes_no_count(log in arbitrary_log(), flush_every in 1usize..20, crash_at in 0usize..120) {
        let config = ProcessorConfig { watermark_confirm_events: 2, ..config() };
        let mut reference = Processor::new(config.clone()).unwrap();
        reference.assign(0, None, NOW);
        for (offset, payload) in log.iter().enumerate() {
            reference.process(&message(0, offset as i64, payload), NOW);
        }
        let expected = totals(&[reference.take_flush(NOW)]);

        let mut stored: Vec<Flush> = Vec::new();
        let mut processor = Processor::new(config.clone()).unwrap();
        processor.assign(0, None, NOW);
        let crash_at = crash_at.min(log.len());
        for (offset, payload) in log.iter().enumerate().take(crash_at) {
            processor.process(&message(0, offset as i64, payload), NOW);
            if (offset + 1) % flush_every == 0 {
                stored.push(processor.take_flush(NOW));
            }
        }
        // The crash loses everything since the last stored flush.
        let checkpoint = stored.last().map(|flush| flush.checkpoints[0].clone());
        let mut restarted = Processor::new(config).unwrap();
        let start = restarted.assign(0, checkpoint.as_ref(), NOW).unwrap_or(0);
        for offset in start as usize..log.len() {
            restarted.process(&message(0, offset as i64, &log[offset]), NOW);
        }
        stored.push(restarted.take_flush(NOW));
        prop_assert_eq!(totals(&stored), expected);
    }

    /// Every valid, non-duplicate event is either counted in exactly one window or rejected as late.
    #[test]
    fn every_valid_event_counted_once_or_late(log in arbitrary_log()) {
        let mut processor = Processor::new(config()).unwrap();
        processor.assign(0, None, NOW);
        let mut counted = 0u64;
        for (offset, payload) in log.iter().enumerate() {
            if let Outcome::Counted { .. } = processor.process(&message(0, offset as i64, payload), NOW) {
                counted += 1;
            }
        }
        prop_assert_eq!(processor.take_flush(NOW).event_count(), counted);
    }
}
