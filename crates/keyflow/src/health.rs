//! `GET /health`: whether the gateway, its database and its jobs are well;
//! `GET /metrics`: Prometheus text.
//!
//! Both describe the pool (balances, key counts, models in use). In
//! `private` mode that is the operator's business: `/metrics` needs the
//! admin's credentials or `METRICS_TOKEN`, and anonymous `/health` only
//! says whether keyflow and its database are up.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde_json::json;

use crate::access::limiter::{locked_out_message, Way};
use crate::admin::error::ApiError;
use crate::config::AccessControl;
use crate::secret::constant_time_eq;
use crate::state::AppState;

/// Whether the caller may see the pool's figures: anyone unless the
/// dashboard is private; then the admin or the holder of `METRICS_TOKEN`.
async fn may_see_figures(state: &AppState, peer: SocketAddr, headers: &http::HeaderMap) -> Result<bool, ApiError> {
    if state.settings().access_control != AccessControl::Private {
        return Ok(true);
    }
    if let Some(expected) = &state.config.edge.metrics_token {
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        if let Some(token) = bearer {
            state.logins.check(peer.ip()).map_err(|wait| ApiError::TooManyRequests(locked_out_message(wait)))?;
            if constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) {
                return Ok(true);
            }
            state.logins.failed(peer.ip(), Way::MetricsToken);
            return Ok(false);
        }
    }
    crate::admin::is_admin(state, peer.ip(), headers).await
}

pub async fn health(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: http::HeaderMap,
) -> Response {
    let database = match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => "error: no answer within 2 s".to_string(),
    };
    let healthy = database == "ok";
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    // A failed check answers like an anonymous caller: health probes must
    // not start failing because of a locked-out address.
    if !may_see_figures(&state, peer, &headers).await.unwrap_or(false) {
        let database = if healthy { "ok" } else { "error" };
        let body = json!({"status": if healthy { "ok" } else { "degraded" }, "database": database});
        return (status, Json(body)).into_response();
    }
    let settings = state.settings();
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "instance": &*state.membership.instance,
        // Whether this instance runs the scheduled work of the instances
        // sharing its database (always, on a database of its own).
        "leader": state.membership.is_leader(),
        "uptime_secs": state.started_at.elapsed().as_secs(),
        "database": database,
        "keys": state.pool.counts(),
        "jobs": {
            "refresh": state.keys.progress(),
            "auto_refresh_interval_secs": settings.auto_refresh_interval_secs,
        },
        "requests": state.meters.totals(),
        "log_queue_depth": state.recorder.queue_depth() + state.meters.rows_pending.load(std::sync::atomic::Ordering::Relaxed),
        // Rows kept in the local journal while the database was away.
        "log_journal_rows": state.meters.rows_journaled.load(std::sync::atomic::Ordering::Relaxed),
    });
    (status, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text format. Gauges that describe the pool
/// are read at scrape time.
pub async fn metrics(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: http::HeaderMap,
) -> Response {
    match may_see_figures(&state, peer, &headers).await {
        Ok(true) => {}
        Ok(false) => {
            let message = "the gateway is private: scrape /metrics with the admin's HTTP Basic credentials \
                           or `Authorization: Bearer <METRICS_TOKEN>`";
            let body = Json(json!({"error": {"code": "unauthorized", "message": message}}));
            return (StatusCode::UNAUTHORIZED, body).into_response();
        }
        Err(e) => return e.into_response(),
    }
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
    let journaled = state.meters.rows_journaled.load(std::sync::atomic::Ordering::Relaxed);
    m.gauge("keyflow_log_rows_journaled", &[], journaled as f64);
    ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], m.render()).into_response()
}
