//! The embedded default: the same input gives the same counts as the Kafka and ClickHouse
//! pipeline, and restarts after SIGKILL count nothing twice.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

fn embedded(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulso"));
    command
        .args(["run", "--data-dir", data_dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(args)
        .env("PULSO_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn sqlite(data_dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data_dir.join("pulso.sqlite")).unwrap()
}

fn embedded_counts(data_dir: &Path) -> BTreeMap<CountKey, u64> {
    let connection = sqlite(data_dir);
    let mut statement = connection.prepare("SELECT window_start_ms, page, event_type, count FROM counts").unwrap();
    let rows = statement
        .query_map([], |row| Ok(((row.get(0)?, row.get(1)?, row.get(2)?), row.get::<_, i64>(3)? as u64)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("pulso-tests").join(format!("{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn same_input_same_counts_in_both_modes() {
    let file = repo_root().join("testdata/otto/train_sample.jsonl");
    let pipeline = TestPipeline::new("modes", 4);
    pipeline.pulso(&["replay", file.to_str().unwrap(), "--format", "otto"]).run_ok();
    pipeline.process_until_idle("a", "5s");
    let kafka_counts = pipeline.stored_counts();

    let data_dir = fresh_dir("modes_embedded");
    let status = embedded(&data_dir, &["--replay", file.to_str().unwrap(), "--partitions", "4", "--exit-when-idle", "3s"]).status().unwrap();
    assert!(status.success(), "embedded run exited with {status}");
    let embedded_counts = embedded_counts(&data_dir);

    assert!(kafka_counts.values().sum::<u64>() > 300, "too few events counted to compare");
    assert_counts_equal(&kafka_counts, &embedded_counts);
    let late: i64 = sqlite(&data_dir).query_row("SELECT COALESCE(SUM(count), 0) FROM rejections WHERE reason = 'late'", [], |row| row.get(0)).unwrap();
    let kafka_late = pipeline.dead_letters().iter().filter(|(_, _, reason)| reason == "late").count() as i64;
    assert_eq!(late, kafka_late, "both modes must reject the same events as late");
}

fn kill_after(child: &mut Child, after: Duration) {
    std::thread::sleep(after);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn restarts_after_sigkill_count_nothing_twice() {
    let data_dir = fresh_dir("embedded_restart");
    for round in 0..3 {
        let mut child = embedded(&data_dir, &["--rate", "5000", "--seed", &(round + 1).to_string()]).spawn().unwrap();
        kill_after(&mut child, Duration::from_millis(2500 + round * 700));
    }
    let mut child = embedded(&data_dir, &["--rate", "5000", "--seed", "9"]).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let status = terminate(&mut child);
    assert!(status.success(), "SIGTERM must flush and exit 0, got {status}");

    // Every message up to each partition's checkpoint is either counted or rejected exactly once.
    let connection = sqlite(&data_dir);
    let counted: i64 = connection.query_row("SELECT SUM(count) FROM counts", [], |row| row.get(0)).unwrap();
    let rejected: i64 = connection.query_row("SELECT COALESCE(SUM(count), 0) FROM rejections", [], |row| row.get(0)).unwrap();
    let processed: i64 = connection.query_row("SELECT SUM(next_offset) FROM checkpoints", [], |row| row.get(0)).unwrap();
    assert!(processed > 20_000, "only {processed} messages processed over four runs");
    assert_eq!(counted + rejected, processed, "counted {counted} + rejected {rejected} must equal the {processed} messages processed");
}

#[test]
fn second_instance_on_same_folder_rejected() {
    let data_dir = fresh_dir("embedded_lock");
    let mut first = ChildGuard(embedded(&data_dir, &["--rate", "100"]).spawn().unwrap());
    std::thread::sleep(Duration::from_secs(2));
    let output = embedded(&data_dir, &["--rate", "100"]).stderr(Stdio::piped()).output().unwrap();
    assert!(!output.status.success(), "a second instance on the same data folder must fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("in use by another running Pulso"), "{stderr}");
    assert!(terminate(&mut first).success());
}

#[test]
fn missing_replay_file_fails() {
    let data_dir = fresh_dir("embedded_missing_replay");
    let output = embedded(&data_dir, &["--replay", "/nonexistent/events.jsonl"]).stderr(Stdio::piped()).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/events.jsonl") && stderr.contains("not found"), "{stderr}");
}
