//! The in-memory figures the ingest task keeps: live rates, metrics,
//! prices, running totals and spend per client token.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;

use super::live::Live;
use super::metrics::Metrics;
use super::prices::Prices;
use super::Outcome;

#[derive(Default)]
pub struct Meters {
    pub live: Live,
    pub metrics: Metrics,
    pub prices: Prices,
    requests: AtomicU64,
    errors: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    spend_micros: AtomicU64,
    client_spend: Mutex<HashMap<String, f64>>,
    /// Rows handed to the writer and not committed yet.
    pub rows_pending: AtomicUsize,
    pub rows_written: AtomicU64,
    /// Rows waiting in the log journal for the database.
    pub rows_journaled: AtomicU64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Metered spend since start, CNY.
    pub spend: f64,
}

impl Meters {
    pub(super) fn add_totals(&self, o: &Outcome, _total_tokens: u64, cost: f64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !(200..300).contains(&o.status) || o.error.is_some() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(u) = o.usage {
            self.prompt_tokens.fetch_add(u.prompt_tokens, Ordering::Relaxed);
            self.completion_tokens.fetch_add(u.completion_tokens, Ordering::Relaxed);
        }
        self.spend_micros.fetch_add((cost * 1e6).round() as u64, Ordering::Relaxed);
    }

    pub(super) fn add_client_spend(&self, client: &str, cost: f64) {
        *self.client_spend.lock().entry(client.to_string()).or_insert(0.0) += cost;
    }

    /// Spend metered for a client token since start (CNY).
    pub fn client_spend(&self, client: &str) -> f64 {
        self.client_spend.lock().get(client).copied().unwrap_or(0.0)
    }

    pub fn totals(&self) -> Totals {
        Totals {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
            spend: self.spend_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}
