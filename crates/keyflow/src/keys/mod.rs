//! The key service: import, validation, refresh, enable/disable, delete,
//! and the masked list every surface shows.
//!
//! Every change goes to the store first (the store's unique key makes
//! concurrent imports of the same key collapse into one row) and then to
//! the in-memory pool, so the pool never holds a key the store lost.
//!
//! [`Keys`] holds the handles the service works with, so it needs nothing
//! above its floor (the app's state holds a `Keys`, not the other way
//! round); validation goes through the one upstream sender.

mod list;
mod refresh;
pub mod validate;

use std::ops::Deref;
use std::sync::Arc;

use serde::Serialize;
use tokio_util::task::TaskTracker;

pub use list::{list, view, KeyPage, KeyQuery, KeySort, KeyView, UnknownSort};
pub use refresh::{ProgressView, RefreshSummary};

use crate::clock::now_secs;
use crate::models::Models;
use crate::pool::import::parse_keys;
use crate::pool::KeyPool;
use crate::secret::mask;
use crate::store::{KeyId, KeyRecord, KeyState, NewKey, Store, StoreResult};
use crate::upstream::Upstream;
use refresh::RefreshProgress;

/// The key service. Cheap to clone: background checks take their own copy.
#[derive(Clone)]
pub struct Keys(Arc<Shared>);

struct Shared {
    handles: Handles,
    progress: RefreshProgress,
}

/// What the key service works with.
pub struct Handles {
    pub store: Arc<dyn Store>,
    pub pool: Arc<KeyPool>,
    /// Validation goes through it.
    pub upstream: Arc<Upstream>,
    /// Probes which models are free after a refresh.
    pub models: Models,
    /// Refreshes and re-validations run on it.
    pub tracker: TaskTracker,
    /// `TEST_MODEL`: validates a key once user info is retired.
    pub test_model: String,
    /// `PURGE_INVALID`: a key found dead is deleted rather than kept marked.
    pub purge_invalid: bool,
}

impl Keys {
    pub fn new(handles: Handles) -> Keys {
        Keys(Arc::new(Shared { handles, progress: RefreshProgress::default() }))
    }

    /// The background refresh's progress, for the console to poll.
    pub fn progress(&self) -> ProgressView {
        self.0.progress.view()
    }
}

impl Deref for Keys {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0.handles
    }
}

/// What one import did (SPEC §6 shape).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub added: usize,
    pub already_present: usize,
    pub malformed: usize,
    pub invalid: usize,
    pub details: Vec<ImportDetail>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportDetail {
    /// Masked key (or the malformed token, masked).
    pub key: String,
    pub id: Option<KeyId>,
    /// `added`, `already_present`, `malformed`, `invalid`.
    pub result: &'static str,
    pub state: Option<String>,
    pub balance: Option<f64>,
    pub error: Option<String>,
}

impl Keys {
    /// Imports keys from pasted text. With `validate`, new keys are checked
    /// upstream (bounded concurrency, 429s retried) and keys found dead count
    /// as `invalid` (deleted when `PURGE_INVALID` is on, kept marked otherwise).
    pub async fn import(&self, text: &str, validate: bool) -> StoreResult<ImportReport> {
        let parsed = parse_keys(text);
        let mut report = ImportReport { malformed: parsed.malformed.len(), ..Default::default() };
        for token in &parsed.malformed {
            report.details.push(ImportDetail {
                key: mask(token),
                id: None,
                result: "malformed",
                state: None,
                balance: None,
                error: Some("not a key: expected `sk-` followed by letters and digits".into()),
            });
        }
        let now = now_secs();
        let new: Vec<NewKey> = parsed
            .keys
            .iter()
            .map(|k| NewKey {
                secret: k.key.clone(),
                state: initial_state(k.balance_hint),
                balance_hint: k.balance_hint,
                created_at: now,
            })
            .collect();
        let ids = self.store.insert_keys(&new).await?;
        let mut added_ids = Vec::new();
        for (key, (id, inserted)) in parsed.keys.iter().zip(&ids) {
            if *inserted {
                added_ids.push(*id);
            }
            report.details.push(ImportDetail {
                key: mask(&key.key),
                id: Some(*id),
                result: if *inserted { "added" } else { "already_present" },
                state: None,
                balance: key.balance_hint,
                error: None,
            });
        }
        report.already_present = ids.iter().filter(|(_, inserted)| !inserted).count();
        report.added = added_ids.len();
        self.reload_keys(&added_ids).await?;

        if validate && !added_ids.is_empty() {
            let summary = self.refresh(Some(added_ids.clone())).await?;
            report.invalid = summary.invalid_ids.len();
            for detail in &mut report.details {
                let Some(id) = detail.id.filter(|_| detail.result == "added") else { continue };
                if summary.invalid_ids.contains(&id) {
                    detail.result = "invalid";
                    report.added -= 1;
                }
                if let Some(entry) = self.pool.get(id) {
                    detail.state = Some(entry.state().as_str().to_string());
                    detail.balance = entry.balance();
                    detail.error = entry.last_error();
                }
            }
        }
        Ok(report)
    }

    /// Loads the given keys from the store into the pool.
    pub async fn reload_keys(&self, ids: &[KeyId]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let wanted: std::collections::HashSet<KeyId> = ids.iter().copied().collect();
        let records: Vec<KeyRecord> =
            self.store.load_keys().await?.into_iter().filter(|r| wanted.contains(&r.id)).collect();
        self.pool.upsert(&records);
        Ok(())
    }

    /// Reloads the whole pool from the store (another instance or the CLI
    /// changed keys).
    pub async fn reload_all(&self) -> StoreResult<()> {
        let records = self.store.load_keys().await?;
        self.pool.replace_all(&records);
        Ok(())
    }

    pub async fn set_enabled(&self, id: KeyId, enabled: bool) -> StoreResult<bool> {
        let found = self.store.set_key_enabled(id, enabled).await?;
        if let Some(entry) = self.pool.get(id) {
            entry.set_enabled(enabled);
            self.pool.mark_dirty();
            self.pool.rebuild_if_dirty();
        }
        Ok(found)
    }

    pub async fn delete(&self, ids: &[KeyId]) -> StoreResult<u64> {
        let n = self.store.delete_keys(ids).await?;
        self.pool.remove(ids);
        Ok(n)
    }
}

/// The state a new key starts in, before upstream has been asked: a key
/// the import text says is empty (`sk-…----0`) serves free models only.
pub fn initial_state(balance_hint: Option<f64>) -> KeyState {
    match balance_hint {
        Some(balance) if balance <= 0.0 => KeyState::Free,
        _ => KeyState::Active,
    }
}
