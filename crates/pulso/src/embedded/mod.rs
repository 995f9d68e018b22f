//! The embedded default: the same processing loop with an in-process log in place of Kafka and
//! SQLite in place of ClickHouse, so Pulso runs with no services at all.
//!
//! Everything lives in one SQLite database in the data folder (WAL mode). The log, the counts,
//! the checkpoints and the dead letters are separate tables. A flush stores counts and
//! checkpoints in one transaction, which gives the same exactly-once argument as ClickHouse's
//! single-part insert.

pub mod dashboard;
pub mod dead_letters;
pub mod log;
pub mod run;
pub mod store;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rusqlite::Connection;

/// Opens the embedded database with the settings every connection needs.
pub fn open(path: &Path) -> anyhow::Result<Connection> {
    let connection = Connection::open(path).with_context(|| format!("failed to open the embedded database {}", path.display()))?;
    connection.busy_timeout(Duration::from_secs(30))?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(connection)
}
