//! The small tables: runtime settings, named values, client tokens, pins,
//! model facts and prices. Each row is compared with the target's and
//! written only when it differs, so a second run writes nothing.

use std::collections::{HashMap, HashSet};

use super::Report;
use crate::store::cipher::{self, KDF_ROW, RUNTIME_ROW};
use crate::store::{KeyId, Pin, Store, StoreError, StoreResult};

/// Equal as JSON (the stores may re-serialise what they open), else as text.
fn same_json(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The runtime settings, read plain and written through the target (which
/// seals their secret fields under its own salt), and every other named
/// value but the target's own: its salt record and the mark of this copy.
pub(super) async fn copy_settings(
    source: &dyn Store,
    target: &dyn Store,
    mark: &str,
    report: &mut Report,
) -> StoreResult<()> {
    if let Some(json) = source.load_settings().await? {
        let held = target.load_settings().await?;
        let changed = !held.as_deref().is_some_and(|h| same_json(h, &json));
        if changed {
            target.save_settings(&json).await?;
        }
        report.settings.count(held.is_some(), changed);
    }
    let mut n_sealed = 0;
    for (name, value) in source.load_values().await? {
        if name == KDF_ROW || name == RUNTIME_ROW || name == mark {
            continue;
        }
        // Only keys and runtime settings are sealed today; a sealed value
        // anywhere else would be bound to the source's salt and row.
        if cipher::is_sealed(&value) {
            n_sealed += 1;
            continue;
        }
        let held = target.load_value(&name).await?;
        let changed = held.as_deref() != Some(value.as_str());
        if changed {
            target.save_value(&name, &value).await?;
        }
        report.values.count(held.is_some(), changed);
    }
    if n_sealed > 0 {
        report.notes.push(format!("{n_sealed} sealed stored values were left behind (only keyflow's own are copied)"));
    }
    Ok(())
}

/// Client tokens, matched on their hash (the value itself is never stored).
pub(super) async fn copy_tokens(source: &dyn Store, target: &dyn Store, report: &mut Report) -> StoreResult<()> {
    let held: HashSet<String> = target.load_client_tokens().await?.into_iter().map(|t| t.token_hash).collect();
    for token in source.load_client_tokens().await? {
        if held.contains(&token.token_hash) {
            report.tokens.count(true, false);
            continue;
        }
        match target.insert_client_token(&token).await {
            Ok(_) => report.tokens.count(false, true),
            Err(StoreError::Conflict(_)) => report
                .notes
                .push(format!("client token `{}` not copied: the target holds another token of that name", token.name)),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Pins, re-pointed at the target's ids of the same keys.
pub(super) async fn copy_pins(
    source: &dyn Store,
    target: &dyn Store,
    key_ids: &HashMap<KeyId, KeyId>,
    report: &mut Report,
) -> StoreResult<()> {
    let held: HashMap<(String, String), Pin> =
        target.load_pins().await?.into_iter().map(|p| ((p.kind.clone(), p.resource_id.clone()), p)).collect();
    let mut writes = Vec::new();
    let mut n_orphans = 0;
    for mut pin in source.load_pins().await? {
        let Some(id) = key_ids.get(&pin.key_id) else {
            n_orphans += 1;
            continue;
        };
        pin.key_id = *id;
        let existing = held.get(&(pin.kind.clone(), pin.resource_id.clone()));
        // The store keeps a pin's first creation time; the rest must match.
        let changed = existing.is_none_or(|e| (e.key_id, &e.owner) != (pin.key_id, &pin.owner));
        report.pins.count(existing.is_some(), changed);
        if changed {
            writes.push(pin);
        }
    }
    for chunk in writes.chunks(1000) {
        target.insert_pins(chunk).await?;
    }
    if n_orphans > 0 {
        report.notes.push(format!("{n_orphans} pins name a key the source no longer holds: left behind"));
    }
    Ok(())
}

/// What the store learnt about models (free or paid).
pub(super) async fn copy_facts(source: &dyn Store, target: &dyn Store, report: &mut Report) -> StoreResult<()> {
    let held: HashMap<String, _> = target.load_model_facts().await?.into_iter().map(|f| (f.model.clone(), f)).collect();
    let mut writes = Vec::new();
    for fact in source.load_model_facts().await? {
        let existing = held.get(&fact.model);
        let changed = existing != Some(&fact);
        report.facts.count(existing.is_some(), changed);
        if changed {
            writes.push(fact);
        }
    }
    if !writes.is_empty() {
        target.save_model_facts(&writes).await?;
    }
    Ok(())
}

/// Prices, stamped now (the store does not return when a price was set).
pub(super) async fn copy_prices(source: &dyn Store, target: &dyn Store, report: &mut Report) -> StoreResult<()> {
    let held: HashMap<String, _> = target.load_prices().await?.into_iter().map(|p| (p.model.clone(), p)).collect();
    let now = crate::clock::now_secs();
    for price in source.load_prices().await? {
        let existing = held.get(&price.model);
        let changed = existing != Some(&price);
        report.prices.count(existing.is_some(), changed);
        if changed {
            target.save_price(&price, now).await?;
        }
    }
    Ok(())
}
