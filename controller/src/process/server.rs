//! The HTTP endpoints of the process: `/metrics` on the metrics address; `/healthz` (the
//! process answers), `/readyz` (every cache has listed) and `/debug/log-level` (read with GET,
//! change with PUT and a `RUST_LOG`-style body) on the health address.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::logs::LogLevel;
use super::{Process, Readiness};

/// Why an endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("listening on {addr} for {what}: {cause}")]
pub(crate) struct ServeError {
    addr: SocketAddr,
    what: &'static str,
    cause: std::io::Error,
}

/// Binds both addresses (the same one serves both), then serves until the process stops.
/// Binding happens before this returns, so a taken port is an error at start.
pub(crate) async fn serve(
    process: &Process,
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    log_level: LogLevel,
) -> Result<tokio::task::JoinHandle<()>, ServeError> {
    let metrics = Router::new()
        .route("/metrics", get(metrics))
        .with_state(process.metrics.clone());
    let health = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(process.readiness.clone())
        .route(
            "/debug/log-level",
            get(read_level).put(set_level).with_state(log_level),
        );
    let bind = |addr: SocketAddr, what: &'static str| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|cause| ServeError { addr, what, cause })
    };
    let mut servers = Vec::new();
    if metrics_addr == health_addr {
        servers.push((
            bind(metrics_addr, "metrics and health").await?,
            metrics.merge(health),
        ));
    } else {
        servers.push((bind(metrics_addr, "metrics").await?, metrics));
        servers.push((bind(health_addr, "health").await?, health));
    }
    tracing::info!(%metrics_addr, %health_addr, "serving metrics and health");
    let stop = process.shutdown();
    Ok(tokio::spawn(async move {
        let tasks = servers.into_iter().map(|(listener, app)| async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("metrics/health server stopped: {e}");
            }
        });
        tokio::select! {
            _ = futures::future::join_all(tasks) => {}
            _ = stop => {}
        }
    }))
}

async fn metrics(State(m): State<Arc<super::metrics::Metrics>>) -> impl IntoResponse {
    tracing::debug!("served /metrics");
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}

async fn ready(State(r): State<Arc<Readiness>>) -> impl IntoResponse {
    let failing = r.failing();
    if failing.is_empty() {
        (StatusCode::OK, "ok".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: waiting for {}", failing.join(", ")),
        )
    }
}

async fn read_level(State(level): State<LogLevel>) -> String {
    level.get()
}

async fn set_level(State(level): State<LogLevel>, body: String) -> impl IntoResponse {
    match level.set(&body) {
        Ok(()) => (StatusCode::OK, format!("{}\n", level.get())),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}
