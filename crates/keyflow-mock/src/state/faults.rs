//! Fault injection and per-account, per-model RPM limits.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::Rng;

use super::{lock, MockState};
use crate::fault::Fault;

/// Which faults are armed. Precedence when several match one request:
/// counted (`set_fault_times`) > key+model > key > global ratio.
#[derive(Debug, Default)]
pub(crate) struct FaultTable {
    per_key: HashMap<String, Fault>,
    per_model: HashMap<(String, String), Fault>,
    counted: HashMap<String, (Fault, u32)>,
    global: Option<(Fault, f64)>,
}

impl FaultTable {
    /// The fault for this request, consuming one use of a counted fault.
    pub fn pick(&mut self, key: &str, model: Option<&str>) -> Option<Fault> {
        if let Some((fault, left)) = self.counted.get_mut(key) {
            let fault = fault.clone();
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.counted.remove(key);
            }
            return Some(fault);
        }
        if let Some(model) = model {
            let pair = (key.to_owned(), model.to_owned());
            if let Some(fault) = self.per_model.get(&pair) {
                return Some(fault.clone());
            }
        }
        if let Some(fault) = self.per_key.get(key) {
            return Some(fault.clone());
        }
        match &self.global {
            Some((fault, ratio)) if rand::rng().random_bool(ratio.clamp(0.0, 1.0)) => Some(fault.clone()),
            _ => None,
        }
    }

    /// Whether any fault is armed; lets the hot path skip the model lookup.
    pub fn is_empty(&self) -> bool {
        self.per_key.is_empty() && self.per_model.is_empty() && self.counted.is_empty() && self.global.is_none()
    }
}

/// Sliding one-minute windows of admitted requests per (account, model).
#[derive(Debug, Default)]
pub(crate) struct RateTable {
    limits: HashMap<(String, String), u32>,
    windows: HashMap<(String, String), VecDeque<Instant>>,
}

impl RateTable {
    /// Counts a request and says whether it fits under the account's RPM for
    /// the model. Refused requests are not counted, so a client that backs
    /// off for a minute always gets through again.
    pub fn admit(&mut self, account: &str, model: &str) -> bool {
        if self.limits.is_empty() {
            return true;
        }
        let pair = (account.to_owned(), model.to_owned());
        let Some(&rpm) = self.limits.get(&pair) else {
            return true;
        };
        let now = Instant::now();
        let window = self.windows.entry(pair).or_default();
        while window.front().is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(60)) {
            window.pop_front();
        }
        if window.len() >= rpm as usize {
            return false;
        }
        window.push_back(now);
        true
    }
}

impl MockState {
    /// Every request with `key` gets `fault`.
    pub fn set_fault(&self, key: &str, fault: Fault) {
        lock(&self.inner.faults).per_key.insert(key.to_owned(), fault);
    }

    /// Requests with `key` for `model` get `fault` (JSON bodies only: the
    /// model is read from the body's `model` field).
    pub fn set_model_fault(&self, key: &str, model: &str, fault: Fault) {
        lock(&self.inner.faults).per_model.insert((key.to_owned(), model.to_owned()), fault);
    }

    /// The next `n` requests with `key` get `fault`, then it behaves normally.
    pub fn set_fault_times(&self, key: &str, fault: Fault, n: u32) {
        let mut faults = lock(&self.inner.faults);
        if n == 0 {
            faults.counted.remove(key);
        } else {
            faults.counted.insert(key.to_owned(), (fault, n));
        }
    }

    /// A random `ratio` (0..=1) of all authenticated requests get `fault`.
    pub fn set_global_fault_ratio(&self, fault: Fault, ratio: f64) {
        lock(&self.inner.faults).global = Some((fault, ratio));
    }

    /// Removes every fault (per key, per model, counted and global).
    pub fn clear_faults(&self) {
        *lock(&self.inner.faults) = FaultTable::default();
    }

    /// Limits `account_id` to `rpm` requests per minute on `model`, shared by
    /// all its keys; the request over the limit gets 429 "RPM limit reached".
    /// `rpm == 0` removes the limit. The model is read from a JSON body's
    /// `model` field, so multipart routes are never limited.
    pub fn set_account_rpm(&self, account_id: &str, model: &str, rpm: u32) {
        let mut limits = lock(&self.inner.limits);
        let pair = (account_id.to_owned(), model.to_owned());
        if rpm == 0 {
            limits.limits.remove(&pair);
            limits.windows.remove(&pair);
        } else {
            limits.limits.insert(pair, rpm);
        }
    }

    /// Removes every RPM limit and forgets the counted requests.
    pub fn clear_rate_limits(&self) {
        *lock(&self.inner.limits) = RateTable::default();
    }

    pub(crate) fn pick_fault(&self, key: &str, model: Option<&str>) -> Option<Fault> {
        let mut faults = lock(&self.inner.faults);
        if faults.is_empty() {
            return None;
        }
        faults.pick(key, model)
    }

    pub(crate) fn faults_armed(&self) -> bool {
        !lock(&self.inner.faults).is_empty()
    }

    pub(crate) fn admit_rate(&self, account: &str, model: &str) -> bool {
        lock(&self.inner.limits).admit(account, model)
    }

    pub(crate) fn rate_limits_set(&self) -> bool {
        !lock(&self.inner.limits).limits.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::RateMetric;

    #[test]
    fn counted_faults_run_out() {
        let mut table = FaultTable::default();
        table.counted.insert("k".into(), (Fault::ServerError, 2));
        table.per_key.insert("k".into(), Fault::Overloaded);
        assert_eq!(table.pick("k", None), Some(Fault::ServerError));
        assert_eq!(table.pick("k", None), Some(Fault::ServerError));
        assert_eq!(table.pick("k", None), Some(Fault::Overloaded));
    }

    #[test]
    fn model_fault_only_for_its_model() {
        let mut table = FaultTable::default();
        let fault = Fault::RateLimited(RateMetric::Tpm);
        table.per_model.insert(("k".into(), "m".into()), fault.clone());
        assert_eq!(table.pick("k", Some("m")), Some(fault));
        assert_eq!(table.pick("k", Some("other")), None);
    }

    #[test]
    fn rpm_window_is_shared_per_account_and_model() {
        let mut table = RateTable::default();
        table.limits.insert(("a".into(), "m".into()), 2);
        assert!(table.admit("a", "m"));
        assert!(table.admit("a", "m"));
        assert!(!table.admit("a", "m"));
        assert!(table.admit("a", "other"));
        assert!(table.admit("b", "m"));
    }
}
