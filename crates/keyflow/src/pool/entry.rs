//! One key in memory: identity plus atomics that traffic updates lock-free.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::secret::Secret;
use crate::store::{KeyId, KeyRecord, KeyState};

/// Balances are held as millionths of a CNY so they fit an atomic.
const MICROS: f64 = 1_000_000.0;
/// Marks an unknown balance.
const UNKNOWN: i64 = i64::MIN;

pub fn to_micros(value: Option<f64>) -> i64 {
    match value {
        Some(v) if v.is_finite() => (v * MICROS).round() as i64,
        _ => UNKNOWN,
    }
}

pub fn from_micros(value: i64) -> Option<f64> {
    (value != UNKNOWN).then(|| value as f64 / MICROS)
}

pub struct KeyEntry {
    pub id: KeyId,
    pub secret: Secret,
    pub created_at: i64,
    state: AtomicU8,
    enabled: AtomicBool,
    /// Last balance upstream reported (`totalBalance`), in micros.
    balance: AtomicI64,
    charge_balance: AtomicI64,
    /// Spend metered since that report and stored (by any instance sharing
    /// the database), in micros; the estimate subtracts it and `spent_here`.
    spent: AtomicI64,
    /// Spend this instance metered and has not written yet (a delta).
    spent_here: AtomicI64,
    /// Requests counted in the store (by every instance).
    usage_count: AtomicU64,
    /// Requests this instance counted and has not written yet (a delta).
    usage_here: AtomicU64,
    inflight: AtomicU32,
    /// Requests in the current minute: `minute << 24 | count`.
    rpm_window: AtomicU64,
    checked_at: AtomicI64,
    account: RwLock<Option<Arc<str>>>,
    last_error: Mutex<Option<String>>,
    /// Models this key may not call (a 403 without code 30001).
    blocked_models: Mutex<Vec<Arc<str>>>,
    has_blocked_models: AtomicBool,
}

fn state_code(state: KeyState) -> u8 {
    match state {
        KeyState::Active => 0,
        KeyState::Free => 1,
        KeyState::Invalid => 2,
    }
}

impl KeyEntry {
    pub fn from_record(record: &KeyRecord) -> KeyEntry {
        let entry = KeyEntry {
            id: record.id,
            secret: Secret::new(record.secret.as_str()),
            created_at: record.created_at,
            state: AtomicU8::new(state_code(record.state)),
            enabled: AtomicBool::new(record.enabled),
            balance: AtomicI64::new(to_micros(record.balance)),
            charge_balance: AtomicI64::new(to_micros(record.charge_balance)),
            spent: AtomicI64::new(to_micros(Some(record.spent)).max(0)),
            spent_here: AtomicI64::new(0),
            usage_count: AtomicU64::new(record.usage_count),
            usage_here: AtomicU64::new(0),
            inflight: AtomicU32::new(0),
            rpm_window: AtomicU64::new(0),
            checked_at: AtomicI64::new(record.checked_at.unwrap_or(0)),
            account: RwLock::new(None),
            last_error: Mutex::new(record.last_error.clone()),
            blocked_models: Mutex::new(Vec::new()),
            has_blocked_models: AtomicBool::new(false),
        };
        entry.set_account(record.account_id.as_deref());
        entry
    }

    /// Takes the persisted fields of a freshly loaded record, keeping the
    /// runtime counters (in-flight, RPM window, blocks) of this process.
    ///
    /// A check this process made more recently than the record's wins:
    /// its results may not be written yet (a refresh writes in batches), and
    /// a reload in between must not bring back the state from before.
    ///
    /// Stored counts only grow (every instance adds its deltas), so the
    /// larger of the two wins: a reload read just before this instance's
    /// own delta landed does not take it back.
    pub fn refresh_from(&self, record: &KeyRecord) {
        self.enabled.store(record.enabled, Ordering::Relaxed);
        self.usage_count.fetch_max(record.usage_count, Ordering::Relaxed);
        let stored_spent = to_micros(Some(record.spent)).max(0);
        let here = self.checked_at.load(Ordering::Relaxed);
        // In the same second the stored record wins: it may come from
        // another instance, and a write of ours still on its way lands
        // (and is announced) right after.
        if here != 0 && here > record.checked_at.unwrap_or(0) {
            self.spent.fetch_max(stored_spent, Ordering::Relaxed);
            return;
        }
        self.set_state(record.state);
        let old = self.balance.swap(to_micros(record.balance), Ordering::Relaxed);
        if old != to_micros(record.balance) {
            // A new reading: the spend since starts from what is stored.
            self.spent.store(stored_spent, Ordering::Relaxed);
        } else {
            self.spent.fetch_max(stored_spent, Ordering::Relaxed);
        }
        self.charge_balance.store(to_micros(record.charge_balance), Ordering::Relaxed);
        self.checked_at.store(record.checked_at.unwrap_or(0), Ordering::Relaxed);
        self.set_account(record.account_id.as_deref());
        self.set_last_error(record.last_error.clone());
    }

    pub fn state(&self) -> KeyState {
        match self.state.load(Ordering::Relaxed) {
            0 => KeyState::Active,
            1 => KeyState::Free,
            _ => KeyState::Invalid,
        }
    }

    /// Sets the state; returns whether it changed.
    pub fn set_state(&self, state: KeyState) -> bool {
        self.state.swap(state_code(state), Ordering::Relaxed) != state_code(state)
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// The balance upstream last reported.
    pub fn reported_balance(&self) -> Option<f64> {
        from_micros(self.balance.load(Ordering::Relaxed))
    }

    pub fn charge_balance(&self) -> Option<f64> {
        from_micros(self.charge_balance.load(Ordering::Relaxed))
    }

    /// The reported balance minus the spend metered since, in micros.
    pub fn balance_micros(&self) -> Option<i64> {
        let reported = self.balance.load(Ordering::Relaxed);
        (reported != UNKNOWN).then(|| reported - self.spent_micros())
    }

    /// The balance estimate in CNY; `None` when unknown.
    pub fn balance(&self) -> Option<f64> {
        self.balance_micros().map(|m| m as f64 / MICROS)
    }

    pub fn set_reported_balance(&self, balance: Option<f64>, charge: Option<f64>) {
        self.balance.store(to_micros(balance), Ordering::Relaxed);
        self.charge_balance.store(to_micros(charge), Ordering::Relaxed);
        // The reading includes what was spent before it: the store resets
        // its spend with the reading (`update_key_status`), and this
        // instance's unwritten spend is in the reading too. (Other
        // instances' unwritten spend lands after it and lowers the
        // estimate a little until the next reading.)
        self.spent.store(0, Ordering::Relaxed);
        self.spent_here.store(0, Ordering::Relaxed);
    }

    /// Spend metered since the last reported balance, in micros: stored
    /// plus this instance's delta not written yet.
    pub fn spent_micros(&self) -> i64 {
        self.spent.load(Ordering::Relaxed) + self.spent_here.load(Ordering::Relaxed)
    }

    /// Meters spend against the estimate.
    pub fn add_spend(&self, cny: f64) {
        if cny > 0.0 && cny.is_finite() {
            self.spent_here.fetch_add((cny * MICROS).round() as i64, Ordering::Relaxed);
        }
    }

    pub fn usage_count(&self) -> u64 {
        self.usage_count.load(Ordering::Relaxed) + self.usage_here.load(Ordering::Relaxed)
    }

    /// Takes this instance's unwritten deltas (requests, spend in micros)
    /// for the store, counting them as stored meanwhile.
    pub fn take_deltas(&self) -> (u64, i64) {
        let requests = self.usage_here.swap(0, Ordering::Relaxed);
        let spent = self.spent_here.swap(0, Ordering::Relaxed);
        self.usage_count.fetch_add(requests, Ordering::Relaxed);
        self.spent.fetch_add(spent, Ordering::Relaxed);
        (requests, spent)
    }

    /// Gives back deltas the store did not take, for the next write.
    pub fn return_deltas(&self, (requests, spent): (u64, i64)) {
        self.usage_count.fetch_sub(requests.min(self.usage_count.load(Ordering::Relaxed)), Ordering::Relaxed);
        self.spent.fetch_sub(spent, Ordering::Relaxed);
        self.usage_here.fetch_add(requests, Ordering::Relaxed);
        self.spent_here.fetch_add(spent, Ordering::Relaxed);
    }

    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    pub fn checked_at(&self) -> Option<i64> {
        let v = self.checked_at.load(Ordering::Relaxed);
        (v != 0).then_some(v)
    }

    pub fn set_checked_at(&self, at: i64) {
        self.checked_at.store(at, Ordering::Relaxed);
    }

    pub fn account(&self) -> Option<Arc<str>> {
        self.account.read().clone()
    }

    pub fn set_account(&self, account: Option<&str>) {
        match account {
            Some(a) if !a.is_empty() => {
                let mut slot = self.account.write();
                if slot.as_deref() != Some(a) {
                    *slot = Some(Arc::from(a));
                }
            }
            _ => {}
        }
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    pub fn set_last_error(&self, error: Option<String>) {
        *self.last_error.lock() = error;
    }

    pub fn block_model(&self, model: &str) {
        let mut blocked = self.blocked_models.lock();
        if !blocked.iter().any(|m| &**m == model) {
            blocked.push(Arc::from(model));
        }
        self.has_blocked_models.store(true, Ordering::Relaxed);
    }

    pub fn clear_blocked_models(&self) {
        self.blocked_models.lock().clear();
        self.has_blocked_models.store(false, Ordering::Relaxed);
    }

    pub fn is_blocked_for(&self, model: &str) -> bool {
        if !self.has_blocked_models.load(Ordering::Relaxed) {
            return false;
        }
        self.blocked_models.lock().iter().any(|m| &**m == model)
    }

    /// Whether one more request fits under `limit` in the current minute.
    pub fn rpm_has_room(&self, limit: u32, minute: u64) -> bool {
        let window = self.rpm_window.load(Ordering::Relaxed);
        window >> 24 != minute || (window & 0xff_ffff) < u64::from(limit)
    }

    fn count_request(&self, minute: u64) {
        let _ = self.rpm_window.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
            if w >> 24 == minute {
                Some(w + 1)
            } else {
                Some(minute << 24 | 1)
            }
        });
    }

    /// A lease on this key regardless of strategy (pinned resources).
    pub fn lease_now(self: &Arc<Self>) -> Lease {
        self.lease((crate::clock::now_secs().max(0) / 60) as u64)
    }

    /// Counts a request on this key and returns a lease that holds it in flight.
    pub(crate) fn lease(self: &Arc<Self>, minute: u64) -> Lease {
        self.usage_here.fetch_add(1, Ordering::Relaxed);
        self.inflight.fetch_add(1, Ordering::Relaxed);
        self.count_request(minute);
        Lease { entry: Arc::clone(self) }
    }
}

/// A key chosen for one upstream attempt; in flight until dropped.
pub struct Lease {
    entry: Arc<KeyEntry>,
}

impl Lease {
    pub fn key(&self) -> &Arc<KeyEntry> {
        &self.entry
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.entry.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}
