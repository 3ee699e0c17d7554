//! Where request outcomes go. Recording is a handful of atomic updates
//! here; the request never waits on it.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::proxy::Outcome;

#[derive(Default)]
pub struct Recorder {
    requests: AtomicU64,
    errors: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    /// Metered spend in micro-CNY.
    spend_micros: AtomicU64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Recorder {
    pub fn record(&self, outcome: Outcome) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if outcome.status >= 400 || outcome.error.is_some() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(usage) = outcome.usage {
            self.prompt_tokens.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
            self.completion_tokens.fetch_add(usage.completion_tokens, Ordering::Relaxed);
        }
    }

    pub fn totals(&self) -> Totals {
        Totals {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            completion_tokens: self.completion_tokens.load(Ordering::Relaxed),
        }
    }

    /// Spend metered since start, in CNY.
    pub fn total_spend(&self) -> f64 {
        self.spend_micros.load(Ordering::Relaxed) as f64 / 1_000_000.0
    }
}
