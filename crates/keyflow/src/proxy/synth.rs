//! Answers keyflow makes itself: the model list from the cached catalogue,
//! pool totals as `/v1/user/info`, and OpenAI's billing shapes.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ProxyError;
use crate::state::AppState;

/// `GET /v1/models`: the catalogue minus banned models, filtered by
/// `type` and `sub_type` like upstream.
pub async fn models(state: &AppState, query: Option<&str>) -> Result<Response, ProxyError> {
    if let Err(e) = state.models.refresh_if_stale().await {
        if state.catalog.data().models.is_empty() {
            return Err(ProxyError::NoKey(format!("cannot fetch the model list: {e}")));
        }
        tracing::warn!(error = %e, "serving a stale model list");
    }
    let (mut want_type, mut want_sub) = (None, None);
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("type", v)) if !v.is_empty() => want_type = Some(v.to_string()),
            Some(("sub_type", v)) if !v.is_empty() => want_sub = Some(v.to_string()),
            _ => {}
        }
    }
    let settings = state.settings();
    let data = state.catalog.data();
    let list: Vec<Value> = data
        .models
        .iter()
        .filter(|m| !settings.ban_models.contains(&m.id))
        .filter(|m| want_type.as_ref().is_none_or(|t| m.kind.as_ref() == Some(t)))
        .filter(|m| want_sub.as_ref().is_none_or(|s| m.sub_type.as_ref() == Some(s)))
        .map(|m| m.raw.clone())
        .collect();
    Ok(Json(json!({"object": "list", "data": list})).into_response())
}

fn money(v: f64) -> String {
    format!("{v:.2}")
}

/// `GET /v1/user/info`: the pool's totals, never one key's data.
pub fn user_info(state: &AppState) -> Response {
    let snapshot = state.pool.snapshot();
    let usable = snapshot.entries.iter().filter(|e| e.enabled() && e.state() != crate::store::KeyState::Invalid);
    let (mut total, mut charge) = (0.0, 0.0);
    for e in usable {
        total += e.balance().unwrap_or(0.0);
        charge += e.charge_balance().unwrap_or(0.0);
    }
    let counts = state.pool.counts();
    Json(json!({
        "code": 20000,
        "message": "OK",
        "status": true,
        "data": {
            "id": "keyflow-pool",
            "name": "keyflow",
            "image": "",
            "email": "",
            "isAdmin": false,
            "balance": money((total - charge).max(0.0)),
            "chargeBalance": money(charge),
            "totalBalance": money(total),
            "status": "normal",
            "introduction": "",
            "role": "",
            "keys": counts,
        }
    }))
    .into_response()
}

/// `GET /v1/dashboard/billing/subscription`: the pool balance as the limit.
pub fn billing_subscription(state: &AppState) -> Response {
    let balance = state.pool.total_balance();
    let spent = state.meters.totals().spend;
    let limit = ((balance + spent) * 100.0).round() / 100.0;
    Json(json!({
        "object": "billing_subscription",
        "has_payment_method": true,
        "soft_limit_usd": limit,
        "hard_limit_usd": limit,
        "system_hard_limit_usd": limit,
        "access_until": crate::clock::now_secs() + 365 * 86_400,
    }))
    .into_response()
}

/// `GET /v1/dashboard/billing/usage?start_date=&end_date=`: logged spend
/// in the range, in hundredths as OpenAI reports cents (values are CNY).
/// A reporting call, not a proxied one: it reads the log.
pub async fn billing_usage(state: &AppState, query: Option<&str>) -> Response {
    let mut filter = crate::store::LogFilter::default();
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("start_date", v)) => filter.from_ms = crate::clock::parse_time(v).ok(),
            Some(("end_date", v)) => filter.to_ms = crate::clock::parse_time(v).ok(),
            _ => {}
        }
    }
    match state.store.log_totals(&filter).await {
        Ok(totals) => Json(json!({"object": "list", "total_usage": (totals.cost * 100.0 * 100.0).round() / 100.0}))
            .into_response(),
        Err(e) => ProxyError::Internal(e.to_string()).into_response(),
    }
}
