//! The dashboard of the embedded default, served from the embedded store.

use std::sync::Arc;

use crate::config::Config;
use crate::embedded::store::SqliteStore;
use crate::telemetry::server::{self, Health};

/// Starts the dashboard on `listen` and prints its URL.
pub fn spawn(listen: &str, _store: Arc<SqliteStore>, _config: &Config, health: Arc<Health>) -> anyhow::Result<()> {
    // TODO: mount the dashboard router once `pulso serve` lands; until then only telemetry.
    let address = server::spawn(listen, health)?;
    println!("Pulso is running: open http://{address}/");
    Ok(())
}
