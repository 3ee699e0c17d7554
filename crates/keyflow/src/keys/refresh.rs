//! Refreshing keys: validation and balance for all or some keys, with
//! bounded concurrency and progress the console can poll.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use serde::Serialize;

use super::validate::{validate_patiently, Validation};
use crate::pool::KeyEntry;
use crate::state::AppState;
use crate::store::{now_secs, KeyId, KeyState, KeyStatusUpdate, StoreResult};

/// Upstream checks in flight at once.
const CONCURRENCY: usize = 16;
/// Attempts per key before a rate-limited check is left for the next round.
const ATTEMPTS: u32 = 4;

#[derive(Default)]
pub struct RefreshProgress {
    /// Keys being re-validated one by one after an ambiguous 401.
    rechecking: std::sync::Mutex<HashSet<KeyId>>,
    running: AtomicBool,
    total: AtomicUsize,
    done: AtomicUsize,
    invalid: AtomicUsize,
    failed: AtomicUsize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgressView {
    pub running: bool,
    pub total: usize,
    pub done: usize,
    pub invalid: usize,
    pub failed: usize,
}

impl RefreshProgress {
    pub fn view(&self) -> ProgressView {
        ProgressView {
            running: self.running.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            done: self.done.load(Ordering::Relaxed),
            invalid: self.invalid.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RefreshSummary {
    pub checked: usize,
    pub valid: usize,
    pub invalid_ids: Vec<KeyId>,
    /// Keys whose check could not complete (429, 5xx, network): unchanged.
    pub unverified: usize,
}

/// Starts a refresh in the background unless one is running; returns
/// whether it started.
pub fn start_refresh(state: &AppState, ids: Option<Vec<KeyId>>) -> bool {
    if state.refresh.running.swap(true, Ordering::AcqRel) {
        return false;
    }
    let job_state = state.clone();
    state.tracker.spawn(async move {
        let progress = &job_state.refresh;
        if let Err(e) = refresh(&job_state, ids, Some(progress)).await {
            tracing::warn!(error = %e, "key refresh failed");
        }
        progress.running.store(false, Ordering::Release);
        // With fresh states known, learn which models the empty keys can serve.
        match crate::jobs::maintenance::probe_free_models(&job_state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(models = n, "classified models by probing with an empty key"),
            Err(e) => tracing::debug!(error = %e, "free-model probe skipped"),
        }
    });
    true
}

/// Re-validates one key in the background after an answer that may or may
/// not mean it is dead: a 401 on a route where the client's own request can
/// cause one (an unknown pass-through path, someone else's resource). Only
/// upstream's verdict on the key itself condemns it. One check per key at a time.
pub fn recheck(state: &AppState, id: KeyId) {
    let mut rechecking = state.refresh.rechecking.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !rechecking.insert(id) {
        return;
    }
    drop(rechecking);
    let job_state = state.clone();
    state.tracker.spawn(async move {
        match refresh(&job_state, Some(vec![id]), None).await {
            Ok(summary) if !summary.invalid_ids.is_empty() => {
                tracing::warn!(key_id = id, "re-validation after a 401 found the key invalid");
            }
            Ok(_) => tracing::debug!(key_id = id, "re-validation after a 401: the key is not dead"),
            Err(e) => tracing::warn!(key_id = id, error = %e, "re-validating a key failed"),
        }
        job_state.refresh.rechecking.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
    });
}

/// Validates `ids` (all keys when `None`) and applies the results.
pub async fn refresh(
    state: &AppState,
    ids: Option<Vec<KeyId>>,
    progress: Option<&RefreshProgress>,
) -> StoreResult<RefreshSummary> {
    let snapshot = state.pool.snapshot();
    let targets: Vec<Arc<KeyEntry>> = match &ids {
        Some(ids) => {
            let wanted: HashSet<KeyId> = ids.iter().copied().collect();
            snapshot.entries.iter().filter(|e| wanted.contains(&e.id)).cloned().collect()
        }
        None => snapshot.entries.to_vec(),
    };
    if let Some(p) = progress {
        p.total.store(targets.len(), Ordering::Relaxed);
        p.done.store(0, Ordering::Relaxed);
        p.invalid.store(0, Ordering::Relaxed);
        p.failed.store(0, Ordering::Relaxed);
    }
    let upstream = &state.upstream;
    let test_model = state.config.test_model.as_str();
    let mut results = futures_util::stream::iter(targets)
        .map(|entry| async move {
            let verdict = validate_patiently(upstream, &entry.secret, test_model, ATTEMPTS).await;
            (entry, verdict)
        })
        .buffer_unordered(CONCURRENCY);

    let mut summary = RefreshSummary::default();
    let mut updates = Vec::new();
    while let Some((entry, verdict)) = results.next().await {
        summary.checked += 1;
        let is_invalid = matches!(verdict, Validation::Invalid(_));
        if let Some(update) = apply(&entry, &verdict) {
            updates.push(update);
        }
        match verdict {
            Validation::Valid { .. } => summary.valid += 1,
            Validation::Invalid(_) => summary.invalid_ids.push(entry.id),
            Validation::Transient(_) => summary.unverified += 1,
        }
        if let Some(p) = progress {
            p.done.fetch_add(1, Ordering::Relaxed);
            if is_invalid {
                p.invalid.fetch_add(1, Ordering::Relaxed);
            }
        }
        if updates.len() >= 500 {
            state.store.update_key_status(&std::mem::take(&mut updates)).await?;
        }
    }
    if let Some(p) = progress {
        p.failed.store(summary.unverified, Ordering::Relaxed);
    }
    state.store.update_key_status(&updates).await?;
    if state.config.purge_invalid && !summary.invalid_ids.is_empty() {
        super::delete(state, &summary.invalid_ids).await?;
    }
    state.pool.mark_dirty();
    state.pool.rebuild_if_dirty();
    Ok(summary)
}

/// Applies a verdict to the in-memory key and returns the row update.
fn apply(entry: &KeyEntry, verdict: &Validation) -> Option<KeyStatusUpdate> {
    let now = now_secs();
    match verdict {
        Validation::Valid { balance, charge_balance, account_id } => {
            let state = match balance {
                Some(b) if *b > 0.0 => KeyState::Active,
                Some(_) => KeyState::Free,
                // Balance unknown (user info retired): keep what traffic taught.
                None if entry.state() == KeyState::Free => KeyState::Free,
                None => KeyState::Active,
            };
            entry.set_state(state);
            entry.set_reported_balance(*balance, *charge_balance);
            entry.set_account(account_id.as_deref());
            entry.set_last_error(None);
            entry.set_checked_at(now);
            entry.clear_blocked_models();
            Some(KeyStatusUpdate {
                id: entry.id,
                state,
                balance: Some(*balance),
                charge_balance: Some(*charge_balance),
                account_id: account_id.clone(),
                last_error: None,
                checked_at: Some(now),
            })
        }
        Validation::Invalid(reason) => {
            entry.set_state(KeyState::Invalid);
            entry.set_last_error(Some(reason.clone()));
            entry.set_checked_at(now);
            Some(KeyStatusUpdate {
                id: entry.id,
                state: KeyState::Invalid,
                balance: None,
                charge_balance: None,
                account_id: None,
                last_error: Some(reason.clone()),
                checked_at: Some(now),
            })
        }
        Validation::Transient(reason) => {
            // Nothing is decided on a transient error; only the note changes.
            let note = format!("check pending: {reason}");
            entry.set_last_error(Some(note.clone()));
            Some(KeyStatusUpdate {
                id: entry.id,
                state: entry.state(),
                balance: None,
                charge_balance: None,
                account_id: None,
                last_error: Some(note),
                checked_at: None,
            })
        }
    }
}
