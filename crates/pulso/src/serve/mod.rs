//! `pulso serve`: the live dashboard and its JSON API.
//!
//! - `/`: the dashboard page, with its script, styles and the vendored uPlot chart library
//!   embedded in the binary (`assets.rs`);
//! - `/api/v1/top-pages`, `series`, `windows`, `status`: the JSON API (`api.rs`), described by
//!   the OpenAPI document at `/api/v1/openapi.json` (`openapi.rs`);
//! - `/metrics`, `/healthz`, `/readyz` (`health.rs`), added by [`run`] only.
//!
//! The page refreshes by polling the API every `refresh_interval` (2 s by default), one round
//! of requests at a time, instead of holding a server-sent event stream open. Polling needs no
//! connection state on the server and recovers by itself after a store outage.
//!
//! [`router`] depends only on [`CountsQuery`], so any store can serve the same dashboard, and
//! [`run`] wires it to ClickHouse.

pub mod api;
mod assets;
pub mod health;
pub mod openapi;
pub mod params;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::any;
use axum::Router;
use clap::Args;

use crate::config::{duration_ms, Config};
use crate::query::clickhouse::ClickHouseQuery;
use crate::query::CountsQuery;
use crate::shutdown::Stop;
use crate::sinks::clickhouse::Client;

/// Fastest and slowest accepted `--refresh-every`.
const REFRESH_BOUNDS: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(2));

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the dashboard, the API and /metrics, /healthz, /readyz, as HOST:PORT. Port 0
    /// picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// How often the dashboard page polls the API, from 250ms to 2s.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub refresh_every: Duration,
}

/// Settings of the dashboard that do not depend on the store.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Name of the store shown in `/api/v1/status`, such as `clickhouse`.
    pub store: String,
    /// Window size, `processor.window`, in milliseconds.
    pub window_ms: i64,
    /// `processor.click_event_types`, shown in `/api/v1/status`.
    pub click_event_types: Vec<String>,
    /// How often the page polls the API.
    pub refresh_interval: Duration,
}

impl ServeOptions {
    /// Options from the configuration, for a store named `store`.
    pub fn from_config(config: &Config, store: &str) -> ServeOptions {
        ServeOptions {
            store: store.to_string(),
            window_ms: duration_ms(config.processor.window),
            click_event_types: config.processor.click_event_types.clone(),
            refresh_interval: Duration::from_secs(2),
        }
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions::from_config(&Config::default(), "clickhouse")
    }
}

/// Builds the dashboard page, its files and the JSON API over `query`. The router contains no
/// telemetry routes, so it can be merged into a router that has its own.
pub fn router(query: Arc<dyn CountsQuery>, options: ServeOptions) -> Router {
    assert!(options.window_ms > 0, "window size must be positive");
    let state = Arc::new(api::AppState::new(query, options));
    let mut router = Router::new();
    for (path, handler) in api::routes() {
        router = router.route(path, handler);
    }
    router
        .route("/api/v1/{*rest}", any(api::not_found))
        .merge(assets::routes())
        .layer(axum::middleware::from_fn(health::observe))
        .with_state(state)
}

/// Runs `pulso serve` against ClickHouse until SIGINT or SIGTERM.
pub fn run(config: &Config, args: &ServeArgs, stop: &Stop) -> anyhow::Result<()> {
    let address: SocketAddr =
        args.listen.parse().with_context(|| format!("invalid --listen address {:?}; use HOST:PORT such as 127.0.0.1:8080", args.listen))?;
    let (fastest, slowest) = REFRESH_BOUNDS;
    if args.refresh_every < fastest || args.refresh_every > slowest {
        anyhow::bail!("--refresh-every {:?} is out of range; use a duration from 250ms to 2s", args.refresh_every);
    }

    let client = Client::new(&config.clickhouse);
    match client.version() {
        Ok(version) => tracing::info!(url = client.url(), version = %format!("{}.{}", version.major, version.minor), "connected to ClickHouse"),
        Err(error) => tracing::warn!(%error, "ClickHouse is unreachable; the dashboard shows an error until ClickHouse responds"),
    }
    let query: Arc<dyn CountsQuery> =
        Arc::new(ClickHouseQuery::new(client, &config.clickhouse.database, &config.processor.click_event_types));
    let mut options = ServeOptions::from_config(config, "clickhouse");
    options.refresh_interval = args.refresh_every;
    let app = router(query.clone(), options).merge(health::telemetry_router(query, "clickhouse"));
    crate::telemetry::metrics::register_common();

    let listener = std::net::TcpListener::bind(address)
        .with_context(|| format!("failed to bind {address}; pick a free port with --listen"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("failed to start the Tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        tracing::info!(address = %bound, database = %config.clickhouse.database, "serving the dashboard at http://{bound}/");
        axum::serve(listener, app).with_graceful_shutdown(stopped(stop.clone())).await?;
        tracing::info!("dashboard stopped");
        anyhow::Ok(())
    })
}

/// Completes once SIGINT or SIGTERM has arrived.
async fn stopped(stop: Stop) {
    while !stop.requested() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
