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
        if n.is_multiple_of(240) {
            state.pool.cooldowns().sweep();
        }
    }
}

/// Writes request counts per key behind traffic, every few seconds and at
/// shutdown.
pub async fn run_usage_flush(state: AppState) {
    let mut persisted: HashMap<KeyId, u64> =
        state.pool.snapshot().entries.iter().map(|e| (e.id, e.usage_count())).collect();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        let stopping = tokio::select! {
            _ = state.shutdown.cancelled() => true,
            _ = tick.tick() => false,
        };
        let mut deltas = Vec::new();
        for e in state.pool.snapshot().entries.iter() {
            let now = e.usage_count();
            let before = persisted.entry(e.id).or_insert(now);
            if now > *before {
                deltas.push((e.id, now - *before));
                *before = now;
            }
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

/// Fetches the model catalogue with any usable key and labels each model
/// with its type; then probes unknown chat models' price class.
pub async fn refresh_catalog(state: &AppState) -> anyhow::Result<()> {
    let _guard = state.catalog.refresh_lock().await;
    if !state.catalog.is_stale() {
        return Ok(());
    }
    let settings = state.settings();
    let lease = state
        .pool
        .pick(&Pick {
            model: "",
            class: ModelClass::Free,
            exclude: &[],
            session: None,
            strategy: crate::config::Strategy::Random,
            rpm_limit: None,
        })
        .context("no usable key to read the model list with")?;
    let key = lease.key().secret.clone();
    drop(lease);
    let timeout = Duration::from_secs(settings.first_byte_timeout_secs.clamp(1, 60));
    let all = fetch_list(state, &key, "/v1/models", timeout).await?;
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
