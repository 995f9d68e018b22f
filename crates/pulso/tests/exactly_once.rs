//! Exactly-once across crashes and rebalances, on the real Kafka and ClickHouse.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A small deterministic generator for kill moments; the seed is printed so a failure can be
/// replayed.
struct Lcg(u64);

impl Lcg {
    fn from_clock() -> Lcg {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
        println!("kill schedule seed: {seed}");
        Lcg(seed)
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        Duration::from_millis(low + (self.0 >> 33) % (high - low))
    }
}

fn spawn_generator(pipeline: &TestPipeline, args: &[&str]) -> Child {
    let oracle = pipeline.dir.join("oracle.csv");
    let mut all = vec!["generate", "--oracle", oracle.to_str().unwrap()];
    all.extend_from_slice(args);
    let log = std::fs::File::create(pipeline.dir.join("generator.log")).unwrap();
    pipeline.pulso(&all).stdout(Stdio::null()).stderr(log).spawn().unwrap()
}

fn stored_total(pipeline: &TestPipeline) -> u64 {
    pipeline.stored_counts().values().sum()
}

/// Waits until ClickHouse holds more than `above` counted events.
fn wait_for_progress(pipeline: &TestPipeline, above: u64, timeout: Duration) -> u64 {
    let deadline = Instant::now() + timeout;
    loop {
        let total = stored_total(pipeline);
        if total > above {
            return total;
        }
        assert!(Instant::now() < deadline, "no progress past {above} events within {timeout:?}; logs in {}", pipeline.dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_dead_letters_match(pipeline: &TestPipeline, oracle: &Oracle) {
    let mut stored = pipeline.dead_letters();
    stored.sort();
    stored.dedup();
    let mut expected = oracle.rejections.clone();
    expected.sort();
    assert_eq!(stored.len(), expected.len(), "distinct dead letters differ from the oracle");
    assert_eq!(stored, expected, "dead letters differ from the oracle");
}

#[test]
fn sigkill_restarts_keep_counts_exact() {
    let pipeline = TestPipeline::new("kill", 4);
    let mut generator = spawn_generator(
        &pipeline,
        &["--count", "1000000", "--rate", "60000", "--seed", "11", "--malformed", "0.002", "--late", "0.002", "--duplicates", "0.002"],
    );
    let mut random = Lcg::from_clock();
    let mut kills_mid_run = 0;
    let mut last_total = 0;
    while kills_mid_run < 6 {
        let mut processor = pipeline.spawn_processor("a", &[]);
        wait_for_progress(&pipeline, last_total, Duration::from_secs(120));
        std::thread::sleep(random.millis(200, 2500));
        processor.kill().unwrap();
        processor.wait().unwrap();
        let total = stored_total(&pipeline);
        println!("SIGKILL {} at {total} stored events", kills_mid_run + 1);
        if generator.try_wait().unwrap().is_none() {
            kills_mid_run += 1;
        } else {
            break;
        }
        last_total = total;
    }
    assert!(kills_mid_run >= 5, "only {kills_mid_run} kills happened while events were still arriving");
    let status = wait_with_timeout(&mut generator, Duration::from_secs(300));
    assert!(status.success(), "generator exited with {status}");

    pipeline.process_until_idle("a", "5s");
    let oracle = Oracle::read(&pipeline.dir.join("oracle.csv"));
    assert!(oracle.total() >= 990_000, "oracle counts only {}", oracle.total());
    assert_counts_equal(&oracle.counts, &pipeline.stored_counts());
    assert_dead_letters_match(&pipeline, &oracle);
    assert_eq!(pipeline.open_windows(), 0);
}

#[test]
fn second_processor_joining_moves_partitions() {
    let pipeline = TestPipeline::new("rebalance", 4);
    let mut generator = spawn_generator(&pipeline, &["--count", "300000", "--rate", "20000", "--seed", "5", "--duplicates", "0.01", "--late", "0.01"]);
    let mut first = pipeline.spawn_processor("a", &[]);
    let before = wait_for_progress(&pipeline, 0, Duration::from_secs(60));
    let mut second = pipeline.spawn_processor("b", &[]);
    wait_for_progress(&pipeline, before + 20_000, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(3));
    // The first processor dies; after the session timeout its partitions move to the second.
    first.kill().unwrap();
    first.wait().unwrap();
    let status = wait_with_timeout(&mut generator, Duration::from_secs(300));
    assert!(status.success(), "generator exited with {status}");
    let oracle = Oracle::read(&pipeline.dir.join("oracle.csv"));
    let deadline = Instant::now() + Duration::from_secs(120);
    while pipeline.stored_counts() != oracle.counts && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(terminate(&mut second).success());

    let second_log = std::fs::read_to_string(pipeline.dir.join("processor-b.log")).unwrap();
    assert!(second_log.matches("partitions assigned").count() >= 2, "the second processor never took over partitions:\n{second_log}");
    assert_counts_equal(&oracle.counts, &pipeline.stored_counts());
    assert_dead_letters_match(&pipeline, &oracle);
}
