//! The key service: import, validation, refresh, enable/disable, delete.
//!
//! Every change goes to the store first (the store's unique key makes
//! concurrent imports of the same key collapse into one row) and then to
//! the in-memory pool, so the pool never holds a key the store lost.

mod refresh;
pub mod validate;

use serde::Serialize;

pub use refresh::{recheck, refresh, start_refresh, RefreshProgress, RefreshSummary};

use crate::pool::import::parse_keys;
use crate::secret::mask;
use crate::state::AppState;
use crate::store::{now_secs, KeyId, KeyRecord, NewKey, StoreResult};

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

/// Imports keys from pasted text. With `validate`, new keys are checked
/// upstream (bounded concurrency, 429s retried) and keys found dead count
/// as `invalid` (deleted when `PURGE_INVALID` is on, kept marked otherwise).
pub async fn import(state: &AppState, text: &str, validate: bool) -> StoreResult<ImportReport> {
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
        .map(|k| NewKey { secret: k.key.clone(), balance_hint: k.balance_hint, created_at: now })
        .collect();
    let ids = state.store.insert_keys(&new).await?;
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
    reload_keys(state, &added_ids).await?;

    if validate && !added_ids.is_empty() {
        let summary = refresh(state, Some(added_ids.clone()), None).await?;
        report.invalid = summary.invalid_ids.len();
        for detail in &mut report.details {
            let Some(id) = detail.id.filter(|_| detail.result == "added") else { continue };
            if summary.invalid_ids.contains(&id) {
                detail.result = "invalid";
                report.added -= 1;
            }
            if let Some(entry) = state.pool.get(id) {
                detail.state = Some(entry.state().as_str().to_string());
                detail.balance = entry.balance();
                detail.error = entry.last_error();
            }
        }
    }
    Ok(report)
}

/// Loads the given keys from the store into the pool.
pub async fn reload_keys(state: &AppState, ids: &[KeyId]) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let wanted: std::collections::HashSet<KeyId> = ids.iter().copied().collect();
    let records: Vec<KeyRecord> =
        state.store.load_keys().await?.into_iter().filter(|r| wanted.contains(&r.id)).collect();
    state.pool.upsert(&records);
    Ok(())
}

/// Reloads the whole pool from the store (another instance or the CLI
/// changed keys).
pub async fn reload_all(state: &AppState) -> StoreResult<()> {
    let records = state.store.load_keys().await?;
    state.pool.replace_all(&records);
    Ok(())
}

pub async fn set_enabled(state: &AppState, id: KeyId, enabled: bool) -> StoreResult<bool> {
    let found = state.store.set_key_enabled(id, enabled).await?;
    if let Some(entry) = state.pool.get(id) {
        entry.set_enabled(enabled);
        state.pool.mark_dirty();
        state.pool.rebuild_if_dirty();
    }
    Ok(found)
}

pub async fn delete(state: &AppState, ids: &[KeyId]) -> StoreResult<u64> {
    let n = state.store.delete_keys(ids).await?;
    state.pool.remove(ids);
    Ok(n)
}
