//! The dashboard of the embedded default: the same router as `pulso serve`, reading the embedded
//! store, plus the processor's `/metrics`, `/healthz` and `/readyz`, on one address.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::embedded::store::SqliteStore;
use crate::query::CountsQuery;
use crate::serve::{self, ServeOptions};
use crate::telemetry::server::{self, Health};

/// Binds `listen`, serves the dashboard in a background thread and prints its URL.
pub fn spawn(listen: &str, store: Arc<SqliteStore>, config: &Config, health: Arc<Health>) -> anyhow::Result<SocketAddr> {
    let address: SocketAddr =
        listen.parse().with_context(|| format!("invalid --listen address {listen:?}; use HOST:PORT such as 127.0.0.1:8080"))?;
    let listener = std::net::TcpListener::bind(address)
        .with_context(|| format!("failed to bind {address}; is another Pulso running? pick a free port with --listen"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let query: Arc<dyn CountsQuery> = store;
    let app = serve::router(query, ServeOptions::from_config(config, "embedded")).merge(server::router(health));
    std::thread::Builder::new().name("dashboard".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "dashboard server stopped");
            }
        });
    })?;
    println!("Pulso is running. Dashboard: http://{bound}/   (Ctrl-C stops)");
    Ok(bound)
}
