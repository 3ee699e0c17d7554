//! The key pool: every key in memory, their states, and the choice of a key
//! for each upstream attempt.
//!
//! Readers load an [`ArcSwap`] snapshot and never lock; writers (import,
//! delete, refresh, state changes from traffic) update a key's atomics at
//! once and rebuild the snapshot's orders off the request path.

mod cooldown;
mod display;
mod entry;
pub mod export;
pub mod import;
mod select;
mod snapshot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use arc_swap::ArcSwap;
use serde::Serialize;

pub use cooldown::{Cooldowns, LimitWindow, Scope, Trip};
pub use display::DisplayState;
pub use entry::{KeyEntry, Lease};
pub use snapshot::Snapshot;

use crate::config::Strategy;
use crate::store::{KeyId, KeyRecord, KeyState};

/// What the pool knows about a model's price class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelClass {
    /// Free: served by `free` keys first, sparing paid balance.
    Free,
    /// Paid: only keys with balance.
    Paid,
    /// Not known yet: funded keys first, then empty ones (a 30001 from an
    /// empty key teaches that the model is paid).
    Unknown,
}

/// One request's wishes for the key it gets.
pub struct Pick<'a> {
    pub model: &'a str,
    pub class: ModelClass,
    /// Keys already tried for this request.
    pub exclude: &'a [KeyId],
    /// Stickiness: the same session goes to the same key while it is usable.
    pub session: Option<&'a str>,
    pub strategy: Strategy,
    pub rpm_limit: Option<u32>,
}

/// Keys per displayed state ([`DisplayState`]); each key counts once.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct StateCounts {
    pub total: usize,
    pub active: usize,
    pub free: usize,
    pub invalid: usize,
    pub disabled: usize,
    pub cooling: usize,
}

/// Bounds the stickiness table; past it the table starts afresh.
const MAX_SESSIONS: usize = 100_000;

#[derive(Default)]
pub struct KeyPool {
    snapshot: ArcSwap<Snapshot>,
    /// Serializes writers so two rebuilds never race.
    write: Mutex<()>,
    dirty: AtomicBool,
    counter: AtomicU64,
    cooldowns: Cooldowns,
    sessions: Mutex<HashMap<String, KeyId>>,
}

fn current_minute() -> u64 {
    (crate::clock::now_secs().max(0) / 60) as u64
}

impl KeyPool {
    pub fn new() -> KeyPool {
        KeyPool::default()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn get(&self, id: KeyId) -> Option<Arc<KeyEntry>> {
        self.snapshot.load().get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.snapshot.load().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn cooldowns(&self) -> &Cooldowns {
        &self.cooldowns
    }

    /// Replaces the pool's content with `records` (a load or reload from
    /// the store). Keys still present keep their runtime counters.
    pub fn replace_all(&self, records: &[KeyRecord]) {
        let _guard = self.write.lock();
        let old = self.snapshot.load();
        let entries = records
            .iter()
            .map(|r| match old.get(r.id) {
                Some(e) => {
                    e.refresh_from(r);
                    Arc::clone(e)
                }
                None => Arc::new(KeyEntry::from_record(r)),
            })
            .collect();
        self.snapshot.store(Arc::new(Snapshot::build(entries)));
        self.dirty.store(false, Ordering::Relaxed);
    }

    /// Adds keys or refreshes the ones already present.
    pub fn upsert(&self, records: &[KeyRecord]) {
        let _guard = self.write.lock();
        let old = self.snapshot.load();
        let mut entries = old.entries.clone();
        for r in records {
            match old.get(r.id) {
                Some(e) => e.refresh_from(r),
                None => entries.push(Arc::new(KeyEntry::from_record(r))),
            }
        }
        self.snapshot.store(Arc::new(Snapshot::build(entries)));
        self.dirty.store(false, Ordering::Relaxed);
    }

    pub fn remove(&self, ids: &[KeyId]) {
        let _guard = self.write.lock();
        let gone: std::collections::HashSet<KeyId> = ids.iter().copied().collect();
        let old = self.snapshot.load();
        let entries = old.entries.iter().filter(|e| !gone.contains(&e.id)).cloned().collect();
        self.snapshot.store(Arc::new(Snapshot::build(entries)));
    }

    /// Notes that a key's state or balance changed; `rebuild_if_dirty` (run
    /// by a background job) refreshes the orders.
    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    pub fn rebuild_if_dirty(&self) {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let _guard = self.write.lock();
        let entries = self.snapshot.load().entries.clone();
        self.snapshot.store(Arc::new(Snapshot::build(entries)));
    }

    /// The rate-limit scope of a key: its account when known.
    pub fn scope_of(entry: &KeyEntry) -> Scope {
        match entry.account() {
            Some(account) => Scope::Account(account),
            None => Scope::Key(entry.id),
        }
    }

    /// Chooses a key for one attempt, or `None` when no key can serve.
    pub fn pick(&self, pick: &Pick<'_>) -> Option<Lease> {
        let snapshot = self.snapshot.load();
        let minute = current_minute();
        let accept = |want: KeyState| {
            move |e: &KeyEntry| {
                e.enabled()
                    && e.state() == want
                    && !pick.exclude.contains(&e.id)
                    && pick.rpm_limit.is_none_or(|limit| e.rpm_has_room(limit, minute))
                    && !e.is_blocked_for(pick.model)
                    && (self.cooldowns.is_empty()
                        || self.cooldowns.cooling_until(&Self::scope_of(e), pick.model).is_none())
            }
        };
        let groups: &[(KeyState, &snapshot::Group)] = match pick.class {
            ModelClass::Free => &[(KeyState::Free, &snapshot.free), (KeyState::Active, &snapshot.active)],
            ModelClass::Paid => &[(KeyState::Active, &snapshot.active)],
            ModelClass::Unknown => &[(KeyState::Active, &snapshot.active), (KeyState::Free, &snapshot.free)],
        };

        if let Some(session) = pick.session {
            let sticky = self.sessions.lock().get(session).copied();
            if let Some(entry) = sticky.and_then(|id| snapshot.get(id)) {
                if groups.iter().any(|(state, _)| accept(*state)(entry)) {
                    return Some(entry.lease(minute));
                }
            }
        }

        let selector = select::Selector { snapshot: &snapshot, counter: &self.counter };
        for (state, group) in groups {
            let ok = accept(*state);
            if let Some(slot) = selector.pick(group, pick.strategy, &ok) {
                let entry = select::entry_at(&snapshot, slot);
                if let Some(session) = pick.session {
                    let mut sessions = self.sessions.lock();
                    if sessions.len() >= MAX_SESSIONS {
                        sessions.clear();
                    }
                    sessions.insert(session.to_string(), entry.id);
                }
                return Some(entry.lease(minute));
            }
        }
        None
    }

    /// Summed balance estimate of valid, enabled keys (unknown balances skipped).
    pub fn total_balance(&self) -> f64 {
        let snapshot = self.snapshot.load();
        snapshot
            .entries
            .iter()
            .filter(|e| e.enabled() && e.state() != KeyState::Invalid)
            .filter_map(|e| e.balance())
            .sum()
    }
}

#[cfg(test)]
mod tests;
