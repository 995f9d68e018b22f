//! End to end on the real Kafka and ClickHouse: generated traffic with malformed, late and
//! duplicate events ends as ClickHouse counts equal to the generator's oracle, and every
//! rejected event is in the dead-letter topic with its reason.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn generated_traffic_matches_oracle() {
    let pipeline = TestPipeline::new("e2e", 4);
    let oracle = pipeline.generate(&[
        "--count", "60000", "--max-speed", "--seed", "42", "--malformed", "0.02", "--late", "0.01",
        "--duplicates", "0.01", "--variants", "0.05",
    ]);
    assert!(oracle.total() > 50_000, "oracle counts only {} events", oracle.total());
    assert!(oracle.rejections.len() > 1_000, "oracle expects only {} rejections", oracle.rejections.len());

    pipeline.process_until_idle("a", "5s");

    assert_counts_equal(&oracle.counts, &pipeline.stored_counts());
    let mut expected = oracle.rejections.clone();
    let mut stored = pipeline.dead_letters();
    expected.sort();
    stored.sort();
    assert_eq!(stored.len(), expected.len(), "dead-letter count differs from the oracle");
    assert_eq!(stored, expected, "dead letters differ from the oracle");
    for reason in ["late", "duplicate", "malformed_json", "tombstone", "empty", "timestamp_unit"] {
        assert!(stored.iter().any(|(_, _, r)| r == reason), "no dead letter with reason {reason}");
    }
    assert_eq!(pipeline.open_windows(), 0, "windows left open after the end-of-input markers");
}

#[test]
fn sigterm_flushes_and_exits_zero() {
    let pipeline = TestPipeline::new("sigterm", 2);
    let oracle = pipeline.generate(&["--count", "20000", "--max-speed", "--seed", "7"]);
    let mut processor = pipeline.spawn_processor("a", &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while pipeline.stored_counts().values().sum::<u64>() == 0 {
        assert!(Instant::now() < deadline, "no counts reached ClickHouse within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = terminate(&mut processor);
    assert!(status.success(), "processor exited with {status} after SIGTERM");

    pipeline.process_until_idle("a", "5s");
    assert_counts_equal(&oracle.counts, &pipeline.stored_counts());
}

#[test]
fn partial_counts_visible_before_window_closes() {
    let pipeline = TestPipeline::new("partial", 1);
    let mut processor = pipeline.spawn_processor("a", &[]);
    let oracle = pipeline.generate(&["--count", "300", "--rate", "100", "--seed", "3", "--no-end-marker"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stored = BTreeMap::new();
    while stored != oracle.counts && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        stored = pipeline.stored_counts();
    }
    assert_counts_equal(&oracle.counts, &stored);
    let open: u64 = pipeline.open_windows();
    assert!(open > 0, "without an end marker the newest window should still be partial");
    assert!(terminate(&mut processor).success());
}
