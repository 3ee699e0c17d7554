//! One failed-credential limiter per client address for every way in: the
//! console login form, HTTP Basic on `/api` and `/metrics`, and the guest
//! login. Five failures in a minute lock the address out for the rest of
//! that minute; each failure is logged with the address and the way in,
//! never with what was typed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// Failed attempts allowed per address per window.
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most; beyond, the oldest windows are dropped first.
const MAX_TRACKED: usize = 100_000;

/// The ways in that share the limit, for logs.
#[derive(Debug, Clone, Copy)]
pub enum Way {
    LoginForm,
    Basic,
    GuestLogin,
    MetricsToken,
}

impl Way {
    fn as_str(self) -> &'static str {
        match self {
            Way::LoginForm => "console login",
            Way::Basic => "HTTP Basic",
            Way::GuestLogin => "guest login",
            Way::MetricsToken => "metrics token",
        }
    }
}

#[derive(Default)]
pub struct FailedLogins {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    /// Where failures go to be announced, when other instances listen:
    /// an address locked out on one instance is locked out on all.
    outbox: OnceLock<mpsc::UnboundedSender<IpAddr>>,
}

impl FailedLogins {
    /// The map, also after a panic elsewhere: a limiter that let requests
    /// through because its lock was poisoned would fail open.
    fn map(&self) -> MutexGuard<'_, HashMap<IpAddr, (u32, Instant)>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Err(wait)` while this address has failed too often.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let mut failures = self.map();
        match failures.get(&ip) {
            Some((n, since)) if since.elapsed() < FAILURE_WINDOW && *n >= MAX_FAILURES => {
                Err(FAILURE_WINDOW.saturating_sub(since.elapsed()).max(Duration::from_secs(1)))
            }
            Some((_, since)) if since.elapsed() >= FAILURE_WINDOW => {
                failures.remove(&ip);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, ip: IpAddr, way: Way) {
        let failures = self.count(ip);
        tracing::warn!(peer = %ip, way = way.as_str(), failures, "failed credentials");
        if let Some(outbox) = self.outbox.get() {
            let _ = outbox.send(ip);
        }
    }

    /// Counts a failure another instance saw (logged there, not again).
    pub fn heard(&self, ip: IpAddr) {
        self.count(ip);
    }

    /// Sends every failure from now on to `outbox` (once).
    pub fn announce_to(&self, outbox: mpsc::UnboundedSender<IpAddr>) {
        let _ = self.outbox.set(outbox);
    }

    fn count(&self, ip: IpAddr) -> u32 {
        let mut failures = self.map();
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        entry.0
    }

    pub fn succeeded(&self, ip: IpAddr) {
        self.map().remove(&ip);
    }
}

/// The `429` answer's text for a locked-out address.
pub fn locked_out_message(wait: Duration) -> String {
    format!("too many failed logins from this address; try again in {} s", wait.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_limited_per_address() {
        let limiter = FailedLogins::default();
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        for _ in 0..MAX_FAILURES {
            assert!(limiter.check(ip).is_ok());
            limiter.failed(ip, Way::Basic);
        }
        let wait = limiter.check(ip).expect_err("locked out");
        assert!(wait <= FAILURE_WINDOW && wait >= Duration::from_secs(1));
        assert!(limiter.check("127.0.0.2".parse().expect("ip")).is_ok());
        limiter.succeeded(ip);
        assert!(limiter.check(ip).is_ok());
    }
}
