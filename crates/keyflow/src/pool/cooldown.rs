//! Cool-downs after 429, per upstream account and model.
//!
//! SiliconFlow limits requests per account and per model, not per key, so
//! keys known to share an account cool down together. A key whose account
//! is unknown is its own scope. Repeated 429s escalate the wait.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use parking_lot::RwLock;
use std::time::{Duration, Instant};

use crate::store::KeyId;

/// Who shares a rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Account(Arc<str>),
    Key(KeyId),
}

/// The limit named in a 429 body (`Details: TPM limit reached.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitWindow {
    Minute,
    Hour,
    Day,
}

impl LimitWindow {
    /// Reads the metric from a 429 message: RPM/TPM/IPM are per minute,
    /// RPH per hour, RPD/TPD/IPD per day. Unknown text counts as a minute.
    pub fn from_message(message: &str) -> LimitWindow {
        let upper = message.to_ascii_uppercase();
        if ["RPD", "TPD", "IPD"].iter().any(|m| upper.contains(m)) {
            LimitWindow::Day
        } else if ["RPH", "TPH", "IPH"].iter().any(|m| upper.contains(m)) {
            LimitWindow::Hour
        } else {
            LimitWindow::Minute
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Cooling {
    until: Instant,
    strikes: u32,
}

/// A cool-down this instance started, for the instances sharing its
/// database: the account is rate limited for them too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trip {
    pub scope: Scope,
    pub model: Arc<str>,
    pub wait: Duration,
}

#[derive(Default)]
pub struct Cooldowns {
    /// Scope, then model: nested so a lookup borrows `&str` without allocating.
    map: RwLock<HashMap<Scope, HashMap<Arc<str>, Cooling>>>,
    /// Scopes in `map`; lets the hot path skip the lock when nothing cools.
    len: AtomicUsize,
    /// Where trips go to be announced, when other instances listen.
    outbox: OnceLock<mpsc::UnboundedSender<Trip>>,
}

/// Seconds until the next midnight in China (UTC+8), when daily limits reset.
fn secs_until_next_day_cst() -> u64 {
    let now = crate::clock::now_secs().max(0) as u64;
    let local = now + 8 * 3600;
    86_400 - local % 86_400
}

impl Cooldowns {
    /// Starts or escalates a cool-down; returns how long it lasts.
    pub fn trip(&self, scope: Scope, model: &str, window: LimitWindow, retry_after: Option<Duration>) -> Duration {
        let now = Instant::now();
        // Trips are rare: cloning the scope for the announcement is cheap.
        let announce = self.outbox.get().map(|outbox| (outbox, scope.clone()));
        let mut map = self.map.write();
        let models = map.entry(scope).or_default();
        // A 429 soon after the last cool-down ended is a repeat: escalate.
        let strikes = match models.get(model) {
            Some(c) if now < c.until + Duration::from_secs(120) => c.strikes + 1,
            _ => 1,
        };
        let wait = match (retry_after, window) {
            (Some(after), _) => after,
            (None, LimitWindow::Day) => Duration::from_secs(secs_until_next_day_cst()),
            (None, LimitWindow::Hour) => escalate(Duration::from_secs(3600), strikes, 4 * 3600),
            (None, LimitWindow::Minute) => escalate(Duration::from_secs(60), strikes, 16 * 60),
        };
        let model: Arc<str> = Arc::from(model);
        models.insert(Arc::clone(&model), Cooling { until: now + wait, strikes });
        self.len.store(map.len(), Ordering::Relaxed);
        if let Some((outbox, scope)) = announce {
            let _ = outbox.send(Trip { scope, model, wait });
        }
        wait
    }

    /// Sends every trip from now on to `outbox` (once; later calls are ignored).
    pub fn announce_to(&self, outbox: mpsc::UnboundedSender<Trip>) {
        let _ = self.outbox.set(outbox);
    }

    /// Takes a cool-down another instance started: the scope waits at
    /// least that long here too. Not announced again.
    pub fn adopt(&self, trip: Trip) {
        let until = Instant::now() + trip.wait;
        let mut map = self.map.write();
        let cooling = map.entry(trip.scope).or_default().entry(trip.model).or_insert(Cooling { until, strikes: 1 });
        cooling.until = cooling.until.max(until);
        self.len.store(map.len(), Ordering::Relaxed);
    }

    /// Whether no scope is cooling at all (the common case): callers can
    /// skip building the scope of each candidate.
    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::Relaxed) == 0
    }

    /// When the scope may call the model again, if it is cooling now.
    pub fn cooling_until(&self, scope: &Scope, model: &str) -> Option<Instant> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let map = self.map.read();
        let until = map.get(scope)?.get(model)?.until;
        (until > Instant::now()).then_some(until)
    }

    /// The latest cool-down end of a scope over all models (for display).
    pub fn scope_until(&self, scope: &Scope) -> Option<Instant> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let map = self.map.read();
        map.get(scope)?.values().map(|c| c.until).filter(|until| *until > now).max()
    }

    /// A success clears the strikes of that scope and model.
    pub fn clear(&self, scope: &Scope, model: &str) {
        if self.len.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut map = self.map.write();
        if let Some(models) = map.get_mut(scope) {
            models.remove(model);
            if models.is_empty() {
                map.remove(scope);
            }
        }
        self.len.store(map.len(), Ordering::Relaxed);
    }

    /// Drops entries long past their end (called by a background job).
    pub fn sweep(&self) {
        let horizon = Instant::now() - Duration::from_secs(600);
        let mut map = self.map.write();
        for models in map.values_mut() {
            models.retain(|_, c| c.until > horizon);
        }
        map.retain(|_, models| !models.is_empty());
        self.len.store(map.len(), Ordering::Relaxed);
    }
}

fn escalate(base: Duration, strikes: u32, cap_secs: u64) -> Duration {
    let factor = 1u64 << strikes.saturating_sub(1).min(8);
    Duration::from_secs((base.as_secs() * factor).min(cap_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_window_from_the_message() {
        let m = "Request was rejected due to rate limiting. Details: TPM limit reached.";
        assert_eq!(LimitWindow::from_message(m), LimitWindow::Minute);
        let d = "Details: RPD limit reached. Could only send 100 requests per day";
        assert_eq!(LimitWindow::from_message(d), LimitWindow::Day);
        assert_eq!(LimitWindow::from_message("Details: RPH limit"), LimitWindow::Hour);
    }

    #[test]
    fn repeated_trips_escalate_and_clear_resets() {
        let c = Cooldowns::default();
        let scope = Scope::Account(Arc::from("acct"));
        let first = c.trip(scope.clone(), "m", LimitWindow::Minute, None);
        let second = c.trip(scope.clone(), "m", LimitWindow::Minute, None);
        assert_eq!(first, Duration::from_secs(60));
        assert_eq!(second, Duration::from_secs(120));
        assert!(c.cooling_until(&scope, "m").is_some());
        assert!(c.cooling_until(&scope, "other").is_none());
        assert!(c.cooling_until(&Scope::Key(1), "m").is_none());
        c.clear(&scope, "m");
        assert!(c.cooling_until(&scope, "m").is_none());
    }

    #[test]
    fn retry_after_wins_and_day_limits_wait_for_midnight() {
        let c = Cooldowns::default();
        let wait = c.trip(Scope::Key(7), "m", LimitWindow::Minute, Some(Duration::from_secs(5)));
        assert_eq!(wait, Duration::from_secs(5));
        let day = c.trip(Scope::Key(8), "m", LimitWindow::Day, None);
        assert!(day.as_secs() > 0 && day.as_secs() <= 86_400);
    }
}
