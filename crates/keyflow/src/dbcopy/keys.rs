//! Keys: inserted where the target lacks them (they collapse on their
//! fingerprint, as imports do), then brought to the source's state, enabled
//! flag, balances, account, last error, check time and counters. A run cut
//! short between the two steps is finished by the next one.

use std::collections::HashMap;

use super::Report;
use crate::store::{KeyId, KeyRecord, KeyStatusUpdate, NewKey, Store, StoreError, StoreResult};

/// What a target key needs to equal its source key.
#[derive(Debug, Default)]
struct KeyPlan {
    status: Option<KeyStatusUpdate>,
    enabled: Option<bool>,
    /// Requests and spend (CNY) to add.
    usage: Option<(u64, f64)>,
}

impl KeyPlan {
    fn changes(&self) -> bool {
        self.status.is_some() || self.enabled.is_some() || self.usage.is_some()
    }
}

/// Equal up to rounding: `spent` is brought over by adding a difference.
fn same_spend(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The writes that make `target` equal `source`. A status update cannot
/// clear an account or a check time (the store keeps the old one), so
/// only a source that has one is compared on it.
fn plan(source: &KeyRecord, target: &KeyRecord) -> KeyPlan {
    let status_differs = source.state != target.state
        || source.balance != target.balance
        || source.charge_balance != target.charge_balance
        || source.last_error != target.last_error
        || (source.account_id.is_some() && source.account_id != target.account_id)
        || (source.checked_at.is_some() && source.checked_at != target.checked_at);
    let status = status_differs.then(|| KeyStatusUpdate {
        id: target.id,
        state: source.state,
        balance: Some(source.balance),
        charge_balance: Some(source.charge_balance),
        account_id: source.account_id.clone(),
        last_error: source.last_error.clone(),
        checked_at: source.checked_at,
    });
    // Setting the balance zeroes `spent` (spend since that reading), so
    // the whole source spend is added back after a status update.
    let spent_after = if status.is_some() { 0.0 } else { target.spent };
    let n_requests = source.usage_count.saturating_sub(target.usage_count);
    let usage =
        (n_requests > 0 || !same_spend(source.spent, spent_after)).then_some((n_requests, source.spent - spent_after));
    let enabled = (source.enabled != target.enabled).then_some(source.enabled);
    KeyPlan { status, enabled, usage }
}

/// Copies every key and returns the target's id for each source id.
pub(super) async fn copy_keys(
    source: &dyn Store,
    target: &dyn Store,
    report: &mut Report,
) -> StoreResult<HashMap<KeyId, KeyId>> {
    let keys = source.load_keys().await?;
    let before: HashMap<String, KeyId> = target.load_keys().await?.into_iter().map(|k| (k.secret, k.id)).collect();
    let new_keys: Vec<NewKey> = keys
        .iter()
        .filter(|k| !before.contains_key(&k.secret))
        .map(|k| NewKey { secret: k.secret.clone(), state: k.state, balance_hint: k.balance, created_at: k.created_at })
        .collect();
    if !new_keys.is_empty() {
        target.insert_keys(&new_keys).await?;
    }
    let held: HashMap<String, KeyRecord> =
        target.load_keys().await?.into_iter().map(|k| (k.secret.clone(), k)).collect();
    let mut key_ids = HashMap::with_capacity(keys.len());
    let (mut updates, mut toggles, mut usage) = (Vec::new(), Vec::new(), Vec::new());
    for key in &keys {
        let copy = held
            .get(&key.secret)
            .ok_or_else(|| StoreError::Corrupt("a key just copied is missing from the target".into()))?;
        key_ids.insert(key.id, copy.id);
        let plan = plan(key, copy);
        report.keys.count(before.contains_key(&key.secret), plan.changes());
        report.n_disabled += u64::from(!key.enabled);
        updates.extend(plan.status);
        toggles.extend(plan.enabled.map(|enabled| (copy.id, enabled)));
        usage.extend(plan.usage.map(|(n, spend)| (copy.id, n, spend)));
    }
    report.n_target_only = held.len().saturating_sub(keys.len()) as u64;
    if !updates.is_empty() {
        target.update_key_status(&updates).await?;
    }
    for (id, enabled) in toggles {
        target.set_key_enabled(id, enabled).await?;
    }
    if !usage.is_empty() {
        target.add_key_usage(&usage).await?;
    }
    Ok(key_ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::KeyState;

    fn record(id: KeyId) -> KeyRecord {
        KeyRecord {
            id,
            secret: "sk-test".into(),
            state: KeyState::Active,
            enabled: true,
            balance: Some(10.0),
            charge_balance: None,
            account_id: None,
            usage_count: 0,
            last_error: None,
            checked_at: None,
            created_at: 1,
            spent: 0.0,
        }
    }

    #[test]
    fn an_equal_key_needs_nothing() {
        let mut source = record(7);
        source.spent = 0.1 + 0.2;
        let mut target = record(3);
        target.spent = 0.3;
        assert!(!plan(&source, &target).changes());
    }

    #[test]
    fn a_changed_state_also_brings_the_spend_back() {
        let mut source = record(7);
        source.state = KeyState::Free;
        source.enabled = false;
        source.usage_count = 12;
        source.spent = 1.5;
        source.account_id = Some("acct".into());
        let mut target = record(3);
        target.usage_count = 2;
        target.spent = 1.5;
        let plan = plan(&source, &target);
        let status = plan.status.as_ref().map(|s| (s.id, s.state, s.account_id.clone()));
        assert_eq!(status, Some((3, KeyState::Free, Some("acct".to_string()))));
        assert_eq!(plan.enabled, Some(false));
        assert_eq!(plan.usage, Some((10, 1.5)), "the status update zeroed the spend");
    }

    #[test]
    fn what_a_status_update_cannot_clear_is_not_a_difference() {
        let source = record(7);
        let mut target = record(3);
        target.account_id = Some("acct".into());
        target.checked_at = Some(99);
        target.usage_count = 5;
        assert!(!plan(&source, &target).changes(), "a busier target is not rolled back");
    }
}
