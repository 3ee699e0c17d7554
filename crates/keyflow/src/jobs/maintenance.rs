//! Periodic upkeep: snapshot rebuilds, reloads when another process changed
//! keys, usage counts written behind, scheduled refresh, the catalogue.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

use crate::catalog::{label, SUB_TYPES};
use crate::pool::{ModelClass, Pick};
use crate::state::AppState;
use crate::store::KeyId;

/// Rebuilds the pool's orders when states changed, sweeps old cool-downs,
/// and reloads keys when the store's version moved (CLI or another instance).
pub async fn run_pool_upkeep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut seen_version = state.store.keys_version().await.unwrap_or(0);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        n += 1;
        state.pool.rebuild_if_dirty();
        if n.is_multiple_of(4) {
            match state.store.keys_version().await {
                Ok(version) if version != seen_version => {
                    seen_version = version;
                    if let Err(e) = crate::keys::reload_all(&state).await {
                        tracing::warn!(error = %e, "reloading keys failed");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the keys version failed"),
            }
        }
        if n.is_multiple_of(20) {
            state.meters.metrics.upkeep();
        }
        if n.is_multiple_of(240) {
            state.pool.cooldowns().sweep();
        }
    }
}

/// Writes request counts and metered spend per key behind traffic, every
/// few seconds and at shutdown.
pub async fn run_usage_flush(state: AppState) {
    let mut persisted: HashMap<KeyId, (u64, i64)> =
        state.pool.snapshot().entries.iter().map(|e| (e.id, (e.usage_count(), e.spent_micros()))).collect();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        let stopping = tokio::select! {
            _ = state.shutdown.cancelled() => true,
            _ = tick.tick() => false,
        };
        let mut deltas = Vec::new();
        for e in state.pool.snapshot().entries.iter() {
            let now = (e.usage_count(), e.spent_micros());
            let before = persisted.entry(e.id).or_insert(now);
            // A refresh resets the spend: only growth is written.
            let spent = (now.1 - before.1).max(0);
            if now.0 > before.0 || spent > 0 {
                deltas.push((e.id, now.0.saturating_sub(before.0), spent as f64 / 1e6));
            }
            *before = now;
        }
        if !deltas.is_empty() {
            if let Err(e) = state.store.add_key_usage(&deltas).await {
                tracing::warn!(error = %e, "writing key usage failed");
            }
        }
        if stopping {
            return;
        }
    }
}

/// Refreshes every key each `AUTO_REFRESH_INTERVAL` (0 = off; read live).
pub async fn run_auto_refresh(state: AppState) {
    let mut waited = Duration::ZERO;
    let step = Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(step) => {}
        }
        let interval = state.settings().auto_refresh_interval_secs;
        if interval == 0 {
            waited = Duration::ZERO;
            continue;
        }
        waited += step;
        if waited >= Duration::from_secs(interval) {
            waited = Duration::ZERO;
            crate::keys::start_refresh(&state, None);
        }
    }
}

/// Deletes log rows older than `LOG_RETENTION_DAYS` (0 keeps them), hourly.
pub async fn run_log_retention(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let days = state.settings().log_retention_days;
        if days == 0 {
            continue;
        }
        let before = crate::proxy::outcome::now_ms() - i64::from(days) * 86_400_000;
        match state.store.delete_logs(Some(before)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, days, "old request logs removed"),
            Err(e) => tracing::warn!(error = %e, "log retention failed"),
        }
    }
}

/// Keys tried at most to fetch the catalogue.
const CATALOG_KEYS: usize = 5;

/// Fetches the model catalogue with any usable key and labels each model
/// with its type; then probes unknown chat models' price class.
pub async fn refresh_catalog(state: &AppState) -> anyhow::Result<()> {
    let _guard = state.catalog.refresh_lock().await;
    if !state.catalog.is_stale() {
        return Ok(());
    }
    let settings = state.settings();
    let timeout = Duration::from_secs(settings.first_byte_timeout_secs.clamp(1, 60));
    // Like any request, the fetch moves on to another key when one fails
    // (a dead key answers 401 here too).
    let mut tried = Vec::new();
    let mut last_error = anyhow::anyhow!("no usable key to read the model list with");
    let (key, all) = loop {
        if tried.len() >= CATALOG_KEYS {
            return Err(last_error);
        }
        let pick = Pick {
            model: "",
            class: ModelClass::Free,
            exclude: &tried,
            session: None,
            strategy: crate::config::Strategy::Random,
            rpm_limit: None,
        };
        let Some(lease) = state.pool.pick(&pick) else { return Err(last_error) };
        let (id, key) = (lease.key().id, lease.key().secret.clone());
        drop(lease);
        match fetch_list(state, &key, "/v1/models", timeout).await {
            Ok(all) => break (key, all),
            Err(e) => {
                tracing::debug!(key = %key, error = %e, "model list fetch failed; trying another key");
                last_error = e;
                tried.push(id);
            }
        }
    };
    let mut by_sub = Vec::new();
    for (sub, _) in SUB_TYPES {
        let ids = fetch_list(state, &key, &format!("/v1/models?sub_type={sub}"), timeout)
            .await
            .map(|list| list.iter().filter_map(|m| m.get("id")?.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        by_sub.push((*sub, ids));
    }
    state.catalog.store(label(all, &by_sub));
    Ok(())
}

async fn fetch_list(
    state: &AppState,
    key: &crate::secret::Secret,
    path: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<Value>> {
    let headers = http::HeaderMap::new();
    let out = crate::upstream::Outbound {
        method: http::Method::GET,
        path_and_query: path,
        headers: &headers,
        body: bytes::Bytes::new(),
    };
    let response = state.upstream.send(out, key, timeout).await?;
    let status = response.status();
    let body = crate::upstream::read_body(response, 16 << 20, timeout).await?;
    anyhow::ensure!(status.is_success(), "{}", crate::proxy::classify::error_summary(status, &body));
    let value: Value = serde_json::from_slice(&body).context("model list is not JSON")?;
    Ok(value.get("data").and_then(|d| d.as_array()).cloned().unwrap_or_default())
}

/// Sub-types whose models can be probed cheaply, with a minimal request.
const PROBES: &[(&str, &str)] =
    &[("chat", "/v1/chat/completions"), ("embedding", "/v1/embeddings"), ("reranker", "/v1/rerank")];

fn probe_body(sub_type: &str, model: &str) -> serde_json::Value {
    match sub_type {
        "embedding" => serde_json::json!({"model": model, "input": "ping"}),
        "reranker" => serde_json::json!({"model": model, "query": "ping", "documents": ["ping"]}),
        _ => serde_json::json!({"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}),
    }
}

/// Learns which models are free by calling them with a key that has no
/// balance (`FREE_MODEL_TEST_KEY`, else a `free` key of the pool): 200 or
/// 429 means free, 30001 means paid. Only models not classified yet are
/// called, one minimal request each.
pub async fn probe_free_models(state: &AppState) -> anyhow::Result<usize> {
    let key = match &state.config.free_model_test_key {
        Some(key) => key.clone(),
        None => match state
            .pool
            .snapshot()
            .entries
            .iter()
            .find(|e| e.enabled() && e.state() == crate::store::KeyState::Free)
        {
            Some(entry) => entry.secret.clone(),
            None => return Ok(0),
        },
    };
    if state.catalog.is_stale() {
        refresh_catalog(state).await?;
    }
    let settings = state.settings();
    let timeout = Duration::from_secs(settings.first_byte_timeout_secs.clamp(1, 60));
    let targets: Vec<(String, &str, &str)> = state
        .catalog
        .data()
        .models
        .iter()
        .filter(|m| state.catalog.class_of(&m.id, &settings) == ModelClass::Unknown)
        .filter_map(|m| {
            let sub = m.sub_type.as_deref()?;
            PROBES.iter().find(|(s, _)| *s == sub).map(|(s, path)| (m.id.clone(), *s, *path))
        })
        .collect();
    let mut learned = 0;
    for (model, sub_type, path) in targets {
        let headers = http::HeaderMap::from_iter([(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )]);
        let body = bytes::Bytes::from(probe_body(sub_type, &model).to_string());
        let out =
            crate::upstream::Outbound { method: http::Method::POST, path_and_query: path, headers: &headers, body };
        let Ok(response) = state.upstream.send(out, &key, timeout).await else { continue };
        let status = response.status();
        let body = crate::upstream::read_body(response, 1 << 20, timeout).await.unwrap_or_default();
        let verdict = crate::proxy::classify::classify(status, &http::HeaderMap::new(), &body);
        use crate::proxy::classify::Verdict;
        match verdict {
            Verdict::Success | Verdict::RateLimited { .. } => state.catalog.learn(&state.writer, &model, true),
            Verdict::NoBalance => state.catalog.learn(&state.writer, &model, false),
            _ => continue,
        }
        learned += 1;
    }
    Ok(learned)
}
