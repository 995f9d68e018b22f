//! Telemetry: logging, Prometheus metrics and the `/metrics`, `/healthz` and `/readyz` endpoints.
//!
//! Metric names follow Prometheus conventions (`pulso_` prefix, `_total` counters, base units).
//! Labels are bounded: topic, partition, reason, event type and kind, never a page or a user.

pub mod logging;
pub mod metrics;
pub mod server;

pub use logging::init_logging;
