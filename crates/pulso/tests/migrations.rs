//! Schema migrations against the real ClickHouse.

mod common;

use std::process::Command;

use common::*;

fn pulso(database: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulso"));
    command.args(args).args(["--clickhouse-url", &clickhouse_url(), "--database", database]);
    command
}

fn unique_database(prefix: &str) -> String {
    format!("test_{prefix}_{}_{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros())
}

#[test]
fn migrate_is_idempotent() {
    let database = unique_database("migrate");
    pulso(&database, &["migrate"]).run_ok();
    pulso(&database, &["migrate"]).run_ok();
    let rows = clickhouse_query(&format!("SELECT count() FROM {database}.schema_migrations"));
    assert_eq!(rows.trim(), "2");
    let engine = clickhouse_query(&format!("SELECT engine FROM system.tables WHERE database = '{database}' AND name = 'page_counts'"));
    assert_eq!(engine.trim(), "SummingMergeTree");
    let status = pulso(&database, &["migrate", "--status"]).run_ok();
    assert!(status.contains("0002 views"), "{status}");
    assert!(!status.contains("pending"), "{status}");
}

#[test]
fn changed_migration_rejected() {
    let database = unique_database("tampered");
    pulso(&database, &["migrate"]).run_ok();
    clickhouse_query(&format!("ALTER TABLE {database}.schema_migrations UPDATE checksum = 'x' WHERE version = 1"));
    // ALTER UPDATE is asynchronous on MergeTree; wait until it is visible.
    for _ in 0..50 {
        if clickhouse_query(&format!("SELECT checksum FROM {database}.schema_migrations WHERE version = 1")).trim() == "x" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = pulso(&database, &["migrate"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("migration 1"), "{stderr}");
    assert!(stderr.contains("changed after it ran"), "{stderr}");
}

#[test]
fn processor_refuses_unmigrated_database() {
    let database = unique_database("unmigrated");
    let output = pulso(&database, &["process", "--brokers", &brokers()]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pulso migrate"), "{stderr}");
    let exists = clickhouse_query(&format!("SELECT count() FROM system.databases WHERE name = '{database}'"));
    assert_eq!(exists.trim(), "0", "the processor must not create a schema");
}

#[test]
fn global_flags_accepted_before_command() {
    let database = unique_database("flags_first");
    let output = Command::new(env!("CARGO_BIN_EXE_pulso"))
        .args(["--clickhouse-url", &clickhouse_url(), "--database", &database, "migrate", "--status"])
        .run_ok();
    assert!(output.contains("0001 page_counts"), "{output}");
}
