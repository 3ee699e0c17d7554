//! `GET /health`: whether the gateway, its database and its jobs are well.

use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

use crate::state::AppState;

pub async fn health(State(state): State<AppState>) -> Response {
    let database = match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: no answer within 2 s".to_string(),
    };
    let healthy = database == "ok";
    let settings = state.settings();
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started_at.elapsed().as_secs(),
        "database": database,
        "keys": state.pool.counts(),
        "jobs": {
            "refresh": state.refresh.view(),
            "auto_refresh_interval_secs": settings.auto_refresh_interval_secs,
        },
        "requests": state.meters.totals(),
        "log_queue_depth": state.recorder.queue_depth() + state.meters.rows_pending.load(std::sync::atomic::Ordering::Relaxed),
    });
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text format. Gauges that describe the pool
/// are read at scrape time.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let counts = state.pool.counts();
    let m = &state.meters.metrics;
    for (name, n) in [
        ("active", counts.active),
        ("free", counts.free),
        ("invalid", counts.invalid),
        ("disabled", counts.disabled),
        ("cooling", counts.cooling),
    ] {
        m.gauge("keyflow_keys", &[("state", name)], n as f64);
    }
    m.gauge("keyflow_log_queue_depth", &[], crate::admin::queue_depth(&state) as f64);
    m.gauge("keyflow_pool_balance_cny", &[], state.pool.total_balance());
    let written = state.meters.rows_written.load(std::sync::atomic::Ordering::Relaxed);
    m.gauge("keyflow_log_rows_written", &[], written as f64);
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], m.render()).into_response()
}
