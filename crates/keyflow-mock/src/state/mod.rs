//! `MockState`: the keys, balances, counters and settings behind the routes.
//!
//! One `Arc` holds everything; every field sits behind its own short-lived
//! `std::sync` lock that is never held across an `.await`. Tests drive the
//! mock through the public methods here and in the `faults` and `resources`
//! submodules.

mod faults;
mod resources;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::config::MockConfig;
use crate::fault::{StreamUsage, UserInfoMode};
use crate::routes::CannedCell;

pub(crate) use faults::{FaultTable, RateTable};
pub(crate) use resources::{Batch, FileRecord, Resources, Video, Voice};

/// One request as the mock received it, for tests that check pass-through.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// Totals over successful (2xx) model answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Served {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub images: u64,
}

/// A key's account and money. `gifted + charge` is the total balance.
#[derive(Debug, Clone)]
pub(crate) struct KeyEntry {
    pub account: Arc<str>,
    pub gifted: f64,
    pub charge: f64,
}

impl KeyEntry {
    pub fn total(&self) -> f64 {
        self.gifted + self.charge
    }
}

#[derive(Debug, Default)]
struct KeyHits {
    count: u64,
    paths: HashMap<String, u64>,
    last: Option<RecordedRequest>,
}

/// Switches that change how answers look, set at run time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub user_info: UserInfoMode,
    pub stream_usage: StreamUsage,
    pub split_frames: bool,
    pub public_url: Option<String>,
}

pub(crate) struct Inner {
    pub config: MockConfig,
    pub keys: RwLock<HashMap<String, KeyEntry>>,
    total_hits: AtomicU64,
    hits: Mutex<HashMap<String, KeyHits>>,
    pub faults: Mutex<FaultTable>,
    pub limits: Mutex<RateTable>,
    served: Mutex<Served>,
    pub resources: Mutex<Resources>,
    pub settings: Mutex<Settings>,
    stalls: Mutex<CancellationToken>,
    pub canned: CannedCell,
}

/// Control and inspection handle of a mock; clones share one state.
#[derive(Clone)]
pub struct MockState {
    pub(crate) inner: Arc<Inner>,
}

/// Locks a mutex, ignoring poisoning: the data are plain counters and maps
/// that stay consistent even if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MockState {
    /// A mock with no keys.
    pub fn new(config: MockConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                keys: RwLock::new(HashMap::new()),
                total_hits: AtomicU64::new(0),
                hits: Mutex::new(HashMap::new()),
                faults: Mutex::new(FaultTable::default()),
                limits: Mutex::new(RateTable::default()),
                served: Mutex::new(Served::default()),
                resources: Mutex::new(Resources::default()),
                settings: Mutex::new(Settings::default()),
                stalls: Mutex::new(CancellationToken::new()),
                canned: CannedCell::default(),
            }),
        }
    }

    /// The configuration the mock was built with.
    pub fn config(&self) -> &MockConfig {
        &self.inner.config
    }

    /// Adds (or replaces) a key with a total balance of `balance` CNY, all of
    /// it gifted, belonging to `account_id` (rate limits are per account).
    pub fn add_key(&self, key: &str, balance: f64, account_id: &str) {
        let entry = KeyEntry { account: Arc::from(account_id), gifted: balance, charge: 0.0 };
        self.write_keys().insert(key.to_owned(), entry);
    }

    /// Adds many `(key, balance, account_id)` triples under one lock.
    pub fn add_keys(&self, keys: impl IntoIterator<Item = (String, f64, String)>) {
        let mut map = self.write_keys();
        for (key, balance, account) in keys {
            let entry = KeyEntry { account: Arc::from(account.as_str()), gifted: balance, charge: 0.0 };
            map.insert(key, entry);
        }
    }

    /// Forgets a key; it then answers 401 everywhere.
    pub fn remove_key(&self, key: &str) {
        self.write_keys().remove(key);
    }

    /// Sets the total balance. A recharged part set earlier is kept as far
    /// as the new total covers it; the rest of the total is gifted.
    pub fn set_balance(&self, key: &str, balance: f64) {
        if let Some(entry) = self.write_keys().get_mut(key) {
            entry.charge = entry.charge.min(balance).max(0.0);
            entry.gifted = balance - entry.charge;
        }
    }

    /// Sets the recharged part (`chargeBalance`); the total grows by it.
    pub fn set_charge_balance(&self, key: &str, charge: f64) {
        if let Some(entry) = self.write_keys().get_mut(key) {
            entry.charge = charge;
        }
    }

    /// The total balance (`totalBalance`), or `None` for an unknown key.
    pub fn balance(&self, key: &str) -> Option<f64> {
        self.read_keys().get(key).map(KeyEntry::total)
    }

    /// The account a key belongs to.
    pub fn account_of(&self, key: &str) -> Option<String> {
        self.read_keys().get(key).map(|entry| entry.account.to_string())
    }

    /// How many keys the mock knows.
    pub fn n_keys(&self) -> usize {
        self.read_keys().len()
    }

    /// Chooses what `GET /v1/user/info` answers.
    pub fn set_user_info_mode(&self, mode: UserInfoMode) {
        lock(&self.inner.settings).user_info = mode;
    }

    /// Chooses which streamed chunks carry `usage` (default: all, running totals).
    pub fn set_stream_usage(&self, style: StreamUsage) {
        lock(&self.inner.settings).stream_usage = style;
    }

    /// When on, every SSE frame is sent as two body chunks split inside a
    /// multi-byte character, so clients must reassemble UTF-8 across reads.
    pub fn set_split_frames(&self, on: bool) {
        lock(&self.inner.settings).split_frames = on;
    }

    /// The base URL put in image and video links (`MockServer` sets it;
    /// without it the request's `Host` header is used).
    pub fn set_public_url(&self, url: &str) {
        lock(&self.inner.settings).public_url = Some(url.trim_end_matches('/').to_owned());
    }

    /// Ends every stream currently held open by `Fault::StallMidStream`.
    pub fn release_stalls(&self) {
        let mut token = lock(&self.inner.stalls);
        token.cancel();
        *token = CancellationToken::new();
    }

    pub(crate) fn stall_token(&self) -> CancellationToken {
        lock(&self.inner.stalls).clone()
    }

    /// Requests that carried `key` (any path, any outcome).
    pub fn hits(&self, key: &str) -> u64 {
        lock(&self.inner.hits).get(key).map_or(0, |hits| hits.count)
    }

    /// Requests that carried `key` on exactly `path` (e.g. `/v1/chat/completions`).
    pub fn hits_on(&self, key: &str, path: &str) -> u64 {
        lock(&self.inner.hits).get(key).and_then(|hits| hits.paths.get(path).copied()).unwrap_or(0)
    }

    /// All requests received, with or without a key (also counted in `fast` mode).
    pub fn total_hits(&self) -> u64 {
        self.inner.total_hits.load(Ordering::Relaxed)
    }

    /// The last request that carried `key` (not kept in `fast` mode).
    pub fn last_request(&self, key: &str) -> Option<RecordedRequest> {
        lock(&self.inner.hits).get(key).and_then(|hits| hits.last.clone())
    }

    /// Totals over successful model answers.
    pub fn served(&self) -> Served {
        *lock(&self.inner.served)
    }

    /// Zeroes hits, recorded requests and `served`.
    pub fn reset_counters(&self) {
        self.inner.total_hits.store(0, Ordering::Relaxed);
        lock(&self.inner.hits).clear();
        *lock(&self.inner.served) = Served::default();
    }

    pub(crate) fn count_hit(&self) {
        self.inner.total_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record(&self, key: &str, request: RecordedRequest) {
        let mut hits = lock(&self.inner.hits);
        let entry = hits.entry(key.to_owned()).or_default();
        entry.count += 1;
        *entry.paths.entry(request.path.clone()).or_default() += 1;
        entry.last = Some(request);
    }

    pub(crate) fn add_served(&self, prompt_tokens: u64, completion_tokens: u64, images: u64) {
        let mut served = lock(&self.inner.served);
        served.requests += 1;
        served.prompt_tokens += prompt_tokens;
        served.completion_tokens += completion_tokens;
        served.images += images;
    }

    pub(crate) fn settings(&self) -> Settings {
        lock(&self.inner.settings).clone()
    }

    pub(crate) fn key_entry(&self, key: &str) -> Option<KeyEntry> {
        self.read_keys().get(key).cloned()
    }

    /// Takes `amount` CNY from the gifted part first, then the recharged
    /// part; the total may go negative, as upstream allows arrears.
    pub(crate) fn debit(&self, key: &str, amount: f64) {
        if amount <= 0.0 {
            return;
        }
        if let Some(entry) = self.write_keys().get_mut(key) {
            let from_gifted = amount.min(entry.gifted.max(0.0));
            entry.gifted -= from_gifted;
            let rest = amount - from_gifted;
            let from_charge = rest.min(entry.charge.max(0.0));
            entry.charge -= from_charge;
            entry.gifted -= rest - from_charge;
        }
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, KeyEntry>> {
        self.inner.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_keys(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, KeyEntry>> {
        self.inner.keys.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debit_takes_gifted_first() {
        let state = MockState::new(MockConfig::default());
        state.add_key("sk-a", 1.0, "acct");
        state.set_charge_balance("sk-a", 2.0);
        state.debit("sk-a", 1.5);
        let entry = state.key_entry("sk-a");
        assert!(matches!(entry, Some(ref e) if e.gifted.abs() < 1e-9 && (e.charge - 1.5).abs() < 1e-9));
        state.debit("sk-a", 2.0);
        assert!((state.balance("sk-a").unwrap_or(0.0) + 0.5).abs() < 1e-9);
    }
}
