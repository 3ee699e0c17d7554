//! Console sessions (admin and guest), held on the server so logout and a
//! password change revoke them, plus the per-address login rate limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::distr::{Alphanumeric, SampleString};

/// Cookie names: the admin console and the public dashboard's guests.
pub const ADMIN_COOKIE: &str = "keyflow_session";
pub const GUEST_COOKIE: &str = "keyflow_guest";
pub const ADMIN_TTL: Duration = Duration::from_secs(12 * 3600);
pub const GUEST_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per address per window.
const MAX_FAILURES: u32 = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Guest,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub role: Role,
    pub username: String,
    /// Sent back by the console in `X-CSRF-Token` on every state change.
    pub csrf: String,
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions {
    /// Keyed by the SHA-256 of the cookie value, so a memory dump does not
    /// hold usable cookies.
    map: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

fn random(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), n)
}

impl Sessions {
    /// Starts a session; returns the cookie value and the session.
    pub fn create(&self, role: Role, username: &str) -> (String, Session) {
        let value = random(43);
        let ttl = if role == Role::Admin { ADMIN_TTL } else { GUEST_TTL };
        let session = Session { role, username: username.to_string(), csrf: random(32), expires: Instant::now() + ttl };
        if let Ok(mut map) = self.map.lock() {
            let now = Instant::now();
            map.retain(|_, s| s.expires > now);
            map.insert(crate::tokens::hash(&value), session.clone());
        }
        (value, session)
    }

    pub fn get(&self, value: &str, role: Role) -> Option<Session> {
        let map = self.map.lock().ok()?;
        map.get(&crate::tokens::hash(value)).filter(|s| s.role == role && s.expires > Instant::now()).cloned()
    }

    pub fn revoke(&self, value: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(&crate::tokens::hash(value));
        }
    }

    pub fn revoke_all(&self, role: Role) {
        if let Ok(mut map) = self.map.lock() {
            map.retain(|_, s| s.role != role);
        }
    }

    /// `Err(wait)` while this address has failed too often.
    pub fn check_rate(&self, ip: IpAddr) -> Result<(), Duration> {
        let Ok(mut failures) = self.failures.lock() else { return Ok(()) };
        match failures.get(&ip) {
            Some((n, since)) if since.elapsed() < FAILURE_WINDOW && *n >= MAX_FAILURES => {
                Err(FAILURE_WINDOW.saturating_sub(since.elapsed()))
            }
            Some((_, since)) if since.elapsed() >= FAILURE_WINDOW => {
                failures.remove(&ip);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub fn note_failure(&self, ip: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() > 100_000 {
                failures.clear();
            }
            let entry = failures.entry(ip).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= FAILURE_WINDOW {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    pub fn note_success(&self, ip: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&ip);
        }
    }
}

/// The value of cookie `name` in the request headers.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Secure over TLS.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", max_age.as_secs())
}

/// Whether the client reached keyflow over TLS (directly or via a proxy
/// that says so).
pub fn is_tls(headers: &http::HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_by_role_and_revoke() {
        let sessions = Sessions::default();
        let (value, session) = sessions.create(Role::Admin, "admin");
        assert_eq!(sessions.get(&value, Role::Admin).map(|s| s.csrf), Some(session.csrf));
        assert!(sessions.get(&value, Role::Guest).is_none());
        sessions.revoke_all(Role::Admin);
        assert!(sessions.get(&value, Role::Admin).is_none());
    }

    #[test]
    fn failures_are_rate_limited_per_address() {
        let sessions = Sessions::default();
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        for _ in 0..MAX_FAILURES {
            assert!(sessions.check_rate(ip).is_ok());
            sessions.note_failure(ip);
        }
        assert!(sessions.check_rate(ip).is_err());
        assert!(sessions.check_rate("127.0.0.2".parse().expect("ip")).is_ok());
    }

    #[test]
    fn reads_cookies() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, http::HeaderValue::from_static("a=1; keyflow_session=abc; b=2"));
        assert_eq!(cookie(&headers, ADMIN_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, GUEST_COOKIE), None);
    }
}
