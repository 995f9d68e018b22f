//! Outages of ClickHouse and Kafka in the middle of a run lose and double-count nothing.
//!
//! These tests stop and start the shared services with the project's scripts, so they need the
//! services folder in `PULSO_TEST_SERVICES_DIR` (`scripts/test.sh` sets it). They run one at a
//! time and skip, saying so, when the variable is absent.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

static SERVICES: Mutex<()> = Mutex::new(());

fn services_dir() -> Option<PathBuf> {
    match std::env::var("PULSO_TEST_SERVICES_DIR") {
        Ok(dir) => Some(PathBuf::from(dir)),
        Err(_) => {
            eprintln!("SKIPPED: PULSO_TEST_SERVICES_DIR is not set; run the tests through scripts/test.sh to include outage tests");
            None
        }
    }
}

fn service(script: &str, action: &str, dir: &PathBuf) {
    let status = Command::new(repo_root().join("scripts").join(script)).args([action, dir.to_str().unwrap()]).stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "{script} {action} failed");
}

fn outage_run(prefix: &str, script: &str, outage: Duration) {
    let Some(dir) = services_dir() else { return };
    let _guard = SERVICES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let pipeline = TestPipeline::new(prefix, 4);
    let mut processor = pipeline.spawn_processor("a", &[]);
    let oracle_path = pipeline.dir.join("oracle.csv");
    let generator_log = std::fs::File::create(pipeline.dir.join("generator.log")).unwrap();
    let mut generator = pipeline
        .pulso(&["generate", "--oracle", oracle_path.to_str().unwrap(), "--count", "150000", "--rate", "5000", "--seed", "9", "--late", "0.01", "--duplicates", "0.01"])
        .stdout(Stdio::null())
        .stderr(generator_log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while pipeline.stored_counts().is_empty() {
        assert!(Instant::now() < deadline, "no counts before the outage");
        std::thread::sleep(Duration::from_millis(200));
    }
    service(script, "stop", &dir);
    std::thread::sleep(outage);
    service(script, "start", &dir);

    let status = wait_with_timeout(&mut generator, Duration::from_secs(400));
    assert!(status.success(), "generator exited with {status}");
    let oracle = Oracle::read(&oracle_path);
    let deadline = Instant::now() + Duration::from_secs(180);
    while pipeline.stored_counts() != oracle.counts && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(terminate(&mut processor).success(), "processor did not exit cleanly; log in {}", pipeline.dir.display());
    assert_counts_equal(&oracle.counts, &pipeline.stored_counts());
    let mut stored = pipeline.dead_letters();
    stored.sort();
    stored.dedup();
    let mut expected = oracle.rejections.clone();
    expected.sort();
    assert_eq!(stored, expected, "dead letters differ from the oracle");
}

#[test]
fn clickhouse_outage_loses_nothing() {
    outage_run("chdown", "clickhouse.sh", Duration::from_secs(8));
}

#[test]
fn kafka_outage_loses_nothing() {
    outage_run("kafkadown", "kafka.sh", Duration::from_secs(8));
}
