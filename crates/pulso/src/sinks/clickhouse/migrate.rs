//! Versioned, idempotent schema migrations, applied by `pulso migrate` and never implicitly.
//!
//! Each migration is a SQL file with `{database}` and feature placeholders. Placeholders are
//! filled from `SELECT version()`, so one file serves ClickHouse 18.16 and current releases. The
//! `schema_migrations` table records what ran with a checksum of the file. A file changed after
//! it ran is an error, since a new migration is the way to change a schema.

use anyhow::{bail, Context};

use super::client::{quote, Client, ServerVersion};
use crate::cli::MigrateArgs;
use crate::config::Config;

/// One migration: a version, a name and SQL statements separated by `;` at a line end.
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "page_counts", sql: include_str!("migrations/0001_page_counts.sql") },
    Migration { version: 2, name: "views", sql: include_str!("migrations/0002_views.sql") },
];

/// The schema version this build writes to.
pub fn latest_version() -> u32 {
    MIGRATIONS.iter().map(|migration| migration.version).max().unwrap_or(0)
}

pub fn run(config: &Config, args: &MigrateArgs) -> anyhow::Result<()> {
    let client = Client::new(&config.clickhouse);
    let database = &config.clickhouse.database;
    if args.status {
        return print_status(&client, database);
    }
    let applied = apply(&client, database)?;
    println!("schema of database {database} is at version {} ({applied} migrations applied now)", latest_version());
    Ok(())
}

/// Applies every migration not yet recorded, and returns how many ran.
pub fn apply(client: &Client, database: &str) -> anyhow::Result<usize> {
    let version = client.version().with_context(|| format!("failed to reach ClickHouse at {}", client.url()))?;
    client.query(&format!("CREATE DATABASE IF NOT EXISTS {database}"))?;
    client.query(&format!(
        "CREATE TABLE IF NOT EXISTS {database}.schema_migrations \
         (version UInt32, name String, checksum String, applied_at DateTime('UTC'), server_version String) \
         ENGINE = MergeTree PARTITION BY tuple() ORDER BY version"
    ))?;
    let recorded = recorded_checksums(client, database)?;
    let mut applied = 0;
    for migration in MIGRATIONS {
        let checksum = checksum(migration.sql);
        match recorded.iter().find(|(version, _)| *version == migration.version) {
            Some((_, stored)) if *stored == checksum => continue,
            Some((_, stored)) => bail!(
                "migration {} ({}) changed after it ran (recorded checksum {stored}, file {checksum}); \
                 restore the file and add a new migration for the change",
                migration.version,
                migration.name
            ),
            None => {}
        }
        for statement in render(migration.sql, database, version).split(";\n") {
            if !statement.lines().all(|line| line.trim().is_empty() || line.trim_start().starts_with("--")) {
                client.query(statement).with_context(|| format!("migration {} ({}) failed", migration.version, migration.name))?;
            }
        }
        client.query(&format!(
            "INSERT INTO {database}.schema_migrations (version, name, checksum, applied_at, server_version) \
             SELECT {}, {}, {}, now(), version()",
            migration.version,
            quote(migration.name),
            quote(&checksum)
        ))?;
        tracing::info!(version = migration.version, name = migration.name, "applied migration");
        applied += 1;
    }
    Ok(applied)
}

/// Fails unless every migration in this build has run, so the processor never writes to a
/// schema it does not expect and never creates one itself.
pub fn ensure_current(client: &Client, database: &str) -> anyhow::Result<()> {
    let recorded = recorded_checksums(client, database).with_context(|| {
        format!("failed to read {database}.schema_migrations; run `pulso migrate` first")
    })?;
    let missing: Vec<u32> = MIGRATIONS
        .iter()
        .map(|migration| migration.version)
        .filter(|version| !recorded.iter().any(|(recorded, _)| recorded == version))
        .collect();
    if !missing.is_empty() {
        bail!("ClickHouse database {database} lacks migrations {missing:?}; run `pulso migrate`");
    }
    Ok(())
}

fn recorded_checksums(client: &Client, database: &str) -> anyhow::Result<Vec<(u32, String)>> {
    let text = client.query(&format!(
        "SELECT version, checksum FROM {database}.schema_migrations ORDER BY version FORMAT TabSeparated"
    ))?;
    text.lines()
        .map(|line| {
            let (version, checksum) = line.split_once('\t').context("malformed schema_migrations row")?;
            Ok((version.parse()?, checksum.to_string()))
        })
        .collect()
}

fn print_status(client: &Client, database: &str) -> anyhow::Result<()> {
    let recorded = recorded_checksums(client, database).unwrap_or_default();
    for migration in MIGRATIONS {
        let state = if recorded.iter().any(|(version, _)| *version == migration.version) { "applied" } else { "pending" };
        println!("{:04} {:<20} {state}", migration.version, migration.name);
    }
    Ok(())
}

/// Fills placeholders. Features newer than 18.16 are used only where the server has them.
fn render(sql: &str, database: &str, version: ServerVersion) -> String {
    let low_cardinality_string = if version.at_least(20, 1) { "LowCardinality(String)" } else { "String" };
    sql.replace("{database}", database).replace("{low_cardinality_string}", low_cardinality_string)
}

/// FNV-1a of the file text, written as hex. It detects edits, not tampering.
fn checksum(sql: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in sql.bytes() {
        hash ^= byte as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_unique_and_ordered() {
        let versions: Vec<u32> = MIGRATIONS.iter().map(|migration| migration.version).collect();
        let mut sorted = versions.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(versions, sorted);
    }

    #[test]
    fn render_gates_low_cardinality() {
        let old = render(MIGRATIONS[0].sql, "db", ServerVersion { major: 18, minor: 16 });
        let new = render(MIGRATIONS[0].sql, "db", ServerVersion { major: 24, minor: 8 });
        assert!(!old.contains("LowCardinality"), "{old}");
        assert!(old.contains("db.page_counts"), "{old}");
        assert!(new.contains("LowCardinality(String)"));
        assert!(!new.contains('{'), "unfilled placeholder in {new}");
    }
}
