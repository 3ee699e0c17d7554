//! Refreshing keys: validation and balance for all or some keys, with
//! bounded concurrency and progress the console can poll.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::StreamExt;
use serde::Serialize;

use super::validate::{validate_patiently, Validation};
use super::Keys;
use crate::clock::now_secs;
use crate::pool::KeyEntry;
use crate::store::{KeyId, KeyState, KeyStatusUpdate, StoreResult};
use crate::upstream::failover::Recheck;

/// Upstream checks in flight at once.
const CONCURRENCY: usize = 16;
/// Attempts per key before a rate-limited check is left for the next round.
const ATTEMPTS: u32 = 4;

/// A refresh's progress, and the keys being re-validated one by one.
#[derive(Default)]
pub(super) struct RefreshProgress {
    /// Keys being re-validated one by one after an ambiguous 401.
    rechecking: parking_lot::Mutex<HashSet<KeyId>>,
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

impl Keys {
    /// Starts a refresh in the background unless one is running; returns
    /// whether it started.
    pub fn start_refresh(&self, ids: Option<Vec<KeyId>>) -> bool {
        if self.0.progress.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        let keys = self.clone();
        self.tracker.spawn(async move {
            let progress = &keys.0.progress;
            if let Err(e) = keys.refresh_tracked(ids, Some(progress)).await {
                tracing::warn!(error = %e, "key refresh failed");
            }
            progress.running.store(false, Ordering::Release);
            // With fresh states known, learn which models the empty keys can serve.
            match keys.models.probe_free_models().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(models = n, "classified models by probing with an empty key"),
                Err(e) => tracing::debug!(error = %e, "free-model probe skipped"),
            }
        });
        true
    }

    /// Validates `ids` (all keys when `None`) and applies the results.
    pub async fn refresh(&self, ids: Option<Vec<KeyId>>) -> StoreResult<RefreshSummary> {
        self.refresh_tracked(ids, None).await
    }

    /// [`Keys::refresh`], reporting progress to `progress`.
    async fn refresh_tracked(
        &self,
        ids: Option<Vec<KeyId>>,
        progress: Option<&RefreshProgress>,
    ) -> StoreResult<RefreshSummary> {
        let snapshot = self.pool.snapshot();
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
        let upstream = &self.upstream;
        let test_model = self.test_model.as_str();
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
                self.store.update_key_status(&std::mem::take(&mut updates)).await?;
            }
        }
        if let Some(p) = progress {
            p.failed.store(summary.unverified, Ordering::Relaxed);
        }
        self.store.update_key_status(&updates).await?;
        if self.purge_invalid && !summary.invalid_ids.is_empty() {
            self.delete(&summary.invalid_ids).await?;
        }
        self.pool.mark_dirty();
        self.pool.rebuild_if_dirty();
        Ok(summary)
    }
}

/// Re-validates one key in the background after an answer that may or may
/// not mean it is dead: a 401 on a route where the client's own request can
/// cause one (an unknown pass-through path, someone else's resource). Only
/// upstream's verdict on the key itself condemns it. One check per key at a time.
impl Recheck for Keys {
    fn recheck(&self, id: KeyId) {
        if !self.0.progress.rechecking.lock().insert(id) {
            return;
        }
        let keys = self.clone();
        self.tracker.spawn(async move {
            match keys.refresh(Some(vec![id])).await {
                Ok(summary) if !summary.invalid_ids.is_empty() => {
                    tracing::warn!(key_id = id, "re-validation after a 401 found the key invalid");
                }
                Ok(_) => tracing::debug!(key_id = id, "re-validation after a 401: the key is not dead"),
                Err(e) => tracing::warn!(key_id = id, error = %e, "re-validating a key failed"),
            }
            keys.0.progress.rechecking.lock().remove(&id);
        });
    }
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
