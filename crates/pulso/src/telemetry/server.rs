//! The telemetry HTTP server: `/metrics`, `/healthz` and `/readyz`, on its own thread so that
//! the processing loop never waits for a scrape.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{Encoder, TextEncoder};

/// Readiness inputs, updated by the command that owns them.
#[derive(Debug)]
pub struct Health {
    /// Names of the source and the store in `/readyz`, such as `kafka` and `clickhouse`.
    pub source_name: &'static str,
    pub store_name: &'static str,
    /// Whether the source (Kafka, or the embedded log) responded the last time it was used.
    pub source_reachable: AtomicBool,
    /// Whether the count store (ClickHouse, or the embedded store) accepted the last write.
    pub store_reachable: AtomicBool,
    pub partitions_assigned: AtomicI64,
    /// Commands without partitions, such as the producers, are ready once Kafka is reachable.
    pub needs_partitions: AtomicBool,
}

impl Default for Health {
    fn default() -> Self {
        Health::named("kafka", "clickhouse")
    }
}

impl Health {
    /// Readiness for a command whose source and store have these names.
    pub fn named(source_name: &'static str, store_name: &'static str) -> Health {
        Health {
            source_name,
            store_name,
            source_reachable: AtomicBool::new(false),
            store_reachable: AtomicBool::new(false),
            partitions_assigned: AtomicI64::new(0),
            needs_partitions: AtomicBool::new(false),
        }
    }

    pub fn ready(&self) -> bool {
        let partitions_ok = !self.needs_partitions.load(Ordering::Relaxed) || self.partitions_assigned.load(Ordering::Relaxed) > 0;
        self.source_reachable.load(Ordering::Relaxed) && self.store_reachable.load(Ordering::Relaxed) && partitions_ok
    }
}

/// Binds `address` and serves telemetry in a background thread. Returns the bound address, which
/// differs from `address` when its port is 0.
pub fn spawn(address: &str, health: Arc<Health>) -> anyhow::Result<SocketAddr> {
    let address: SocketAddr = address.parse().with_context(|| format!("invalid metrics address {address:?}; use HOST:PORT such as 127.0.0.1:9464"))?;
    let listener = std::net::TcpListener::bind(address).with_context(|| format!("failed to bind the metrics address {address}; pick a free port with --metrics-address"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new().name("telemetry".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            if let Err(error) = axum::serve(listener, router(health)).await {
                tracing::error!(%error, "telemetry server stopped");
            }
        });
    })?;
    tracing::info!(address = %bound, "serving /metrics, /healthz and /readyz");
    Ok(bound)
}

/// Routes `/metrics`, `/healthz` and `/readyz` over `health`.
pub fn router(health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(move || readyz(health.clone())))
}

async fn metrics() -> impl IntoResponse {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(error) = encoder.encode(&prometheus::gather(), &mut body) {
        return (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], error.to_string().into_bytes());
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

async fn readyz(health: Arc<Health>) -> impl IntoResponse {
    let mut body = serde_json::json!({
        "ready": health.ready(),
        "partitions_assigned": health.partitions_assigned.load(Ordering::Relaxed),
    });
    body[format!("{}_reachable", health.source_name)] = health.source_reachable.load(Ordering::Relaxed).into();
    body[format!("{}_reachable", health.store_name)] = health.store_reachable.load(Ordering::Relaxed).into();
    let status = if health.ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}
