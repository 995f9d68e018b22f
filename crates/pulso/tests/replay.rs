//! Replays of recorded clickstream through Kafka into ClickHouse.

mod common;

use std::process::Command;

use common::*;

#[test]
fn rees46_replay_matches_independent_count() {
    let file = repo_root().join("../shared/data/rees46-ecommerce-2019oct-sample/events_2019-10-01_head.csv");
    if !file.exists() {
        eprintln!("SKIPPED: {} is absent; the REES46 sample lives only in ../shared", file.display());
        return;
    }
    let pipeline = TestPipeline::new("rees46", 4);
    pipeline.pulso(&["replay", file.to_str().unwrap(), "--format", "rees46", "--speed", "max"]).run_ok();
    pipeline.process_until_idle("a", "5s");

    let script = repo_root().join("scripts/oracle/rees46_counts.py");
    let expected_text = Command::new("python3").arg(&script).arg(&file).run_ok();
    let expected = parse_counts(&expected_text, ',');
    let stored = pipeline.stored_counts();
    let total: u64 = stored.values().sum();
    println!("REES46 replay: {total} events in {} (minute, product, type) keys", stored.len());
    assert_eq!(expected.values().sum::<u64>(), 17_434, "the independent count should cover every data row");
    assert_counts_equal(&expected, &stored);
    assert!(pipeline.dead_letters().is_empty(), "no REES46 row should be rejected");
    assert_eq!(pipeline.open_windows(), 0);
}

#[test]
fn otto_replay_counts_or_dead_letters_every_event() {
    let file = repo_root().join("testdata/otto/train_sample.jsonl");
    let pipeline = TestPipeline::new("otto", 4);
    pipeline.pulso(&["replay", file.to_str().unwrap(), "--format", "otto", "--speed", "max"]).run_ok();
    pipeline.process_until_idle("a", "5s");

    let counted: u64 = pipeline.stored_counts().values().sum();
    let dead_letters = pipeline.dead_letters();
    println!("OTTO replay: {counted} counted, {} dead letters", dead_letters.len());
    assert_eq!(counted + dead_letters.len() as u64, 862, "every OTTO event is either counted or dead-lettered");
    assert!(dead_letters.iter().all(|(_, _, reason)| reason == "late" || reason == "duplicate"), "{dead_letters:?}");
    assert!(dead_letters.iter().any(|(_, _, reason)| reason == "late"), "sessions jump back weeks, so some events must be late");
}
