//! Periodic upkeep: snapshot rebuilds, reloads when another process changed
//! keys, usage counts written behind, scheduled refresh, log retention
//! (the last two on the leader only, see `cluster`).

use std::time::Duration;

use crate::state::AppState;

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
        // Instances that hear announcements reload on them instead.
        if n.is_multiple_of(4) && !state.membership.is_listening() {
            match state.store.keys_version().await {
                Ok(version) if version != seen_version => {
                    seen_version = version;
                    if let Err(e) = state.keys.reload_all().await {
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
/// few seconds and at shutdown, as deltas: instances sharing the database
/// add to the stored figures, none overwrites another's.
pub async fn run_usage_flush(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        let stopping = tokio::select! {
            _ = state.shutdown.cancelled() => true,
            _ = tick.tick() => false,
        };
        let snapshot = state.pool.snapshot();
        let mut taken = Vec::new();
        let mut deltas = Vec::new();
        for entry in snapshot.entries.iter() {
            let (requests, spent) = entry.take_deltas();
            if requests > 0 || spent > 0 {
                deltas.push((entry.id, requests, spent as f64 / 1e6));
                taken.push((entry, (requests, spent)));
            }
        }
        if !deltas.is_empty() {
            if let Err(e) = state.store.add_key_usage(&deltas).await {
                tracing::warn!(error = %e, "writing key usage failed; keeping it for the next write");
                for (entry, delta) in taken {
                    entry.return_deltas(delta);
                }
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
            // One instance refreshes for all (and probes free models after).
            if state.membership.is_leader() {
                state.keys.start_refresh(None);
            }
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
        if days == 0 || !state.membership.is_leader() {
            continue;
        }
        let before = crate::clock::now_ms() - i64::from(days) * 86_400_000;
        match state.store.delete_logs(Some(before)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, days, "old request logs removed"),
            Err(e) => tracing::warn!(error = %e, "log retention failed"),
        }
    }
}
