//! `/metrics`, `/healthz` and `/readyz` for `pulso serve`, on the dashboard's own address, and
//! the request metrics of the dashboard and its API.
//!
//! `/readyz` reports ready when a query to the count store succeeds, since that is all the
//! dashboard needs. `pulso process` has its own readiness, with Kafka and partitions, in
//! `telemetry::server`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{register_histogram_vec, register_int_counter_vec, Encoder, HistogramVec, IntCounterVec, TextEncoder};

use crate::query::CountsQuery;

/// Builds the routes `/metrics`, `/healthz` and `/readyz`. `/readyz` runs a query on `query`.
pub fn telemetry_router(query: Arc<dyn CountsQuery>, store: &str) -> Router {
    let store = store.to_string();
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(move || readyz(query.clone(), store.clone())))
}

async fn metrics() -> Response {
    let mut body = Vec::new();
    if let Err(error) = TextEncoder::new().encode(&prometheus::gather(), &mut body) {
        return (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], error.to_string()).into_response();
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

async fn readyz(query: Arc<dyn CountsQuery>, store: String) -> Response {
    let result = tokio::task::spawn_blocking(move || query.final_before_ms()).await;
    let error = match result {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => Some(format!("{error:#}")),
        Err(join_error) => Some(format!("the store query stopped unexpectedly: {join_error}")),
    };
    let status = if error.is_none() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({ "ready": error.is_none(), "store": store, "error": error });
    (status, Json(body)).into_response()
}

struct RequestMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

fn request_metrics() -> &'static RequestMetrics {
    static METRICS: OnceLock<RequestMetrics> = OnceLock::new();
    METRICS.get_or_init(|| RequestMetrics {
        requests: register_int_counter_vec!(
            "pulso_dashboard_requests_total",
            "HTTP requests to the dashboard and its API, by route and status code.",
            &["route", "status"]
        )
        .expect("metric"),
        duration: register_histogram_vec!(
            "pulso_dashboard_request_duration_seconds",
            "Time to answer a dashboard or API request, including the store query.",
            &["route"],
            vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
        )
        .expect("metric"),
    })
}

/// Middleware that counts and times each request under a bounded route label.
pub async fn observe(request: Request, next: Next) -> Response {
    let route = route_label(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = request_metrics();
    metrics.duration.with_label_values(&[route]).observe(started.elapsed().as_secs_f64());
    metrics.requests.with_label_values(&[route, response.status().as_str()]).inc();
    response
}

/// Maps a path to its route label: one per API endpoint, one for the page and its files, and
/// `other`, so that arbitrary paths cannot create new series.
fn route_label(path: &str) -> &'static str {
    const API: &[&str] = &["/api/v1/top-pages", "/api/v1/series", "/api/v1/windows", "/api/v1/status", "/api/v1/openapi.json"];
    if let Some(known) = API.iter().find(|known| **known == path) {
        return known;
    }
    match path {
        "/" => "/",
        _ if path.starts_with("/assets/") => "/assets",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_bounded() {
        assert_eq!(route_label("/api/v1/windows"), "/api/v1/windows");
        assert_eq!(route_label("/assets/app.js"), "/assets");
        assert_eq!(route_label("/api/v1/whatever"), "other");
        assert_eq!(route_label("/"), "/");
    }

    #[test]
    fn every_api_route_labelled() {
        for (path, _) in crate::serve::api::routes() {
            assert_eq!(route_label(path), path);
        }
    }
}
