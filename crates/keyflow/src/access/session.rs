//! Console sessions (admin and guest), held on the server so logout and a
//! password change revoke them. Failed logins are counted in `limiter`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::distr::{Alphanumeric, SampleString};

/// Cookie names: the admin console and the public dashboard's guests.
pub const ADMIN_COOKIE: &str = "keyflow_session";
pub const GUEST_COOKIE: &str = "keyflow_guest";
pub const ADMIN_TTL: Duration = Duration::from_secs(12 * 3600);
pub const GUEST_TTL: Duration = Duration::from_secs(12 * 3600);

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
}

fn random(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), n)
}

impl Sessions {
    /// The map, also after a panic elsewhere: skipping a revocation because
    /// a lock was poisoned would leave a session alive.
    fn map(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a session; returns the cookie value and the session.
    pub fn create(&self, role: Role, username: &str) -> (String, Session) {
        let value = random(43);
        let ttl = if role == Role::Admin { ADMIN_TTL } else { GUEST_TTL };
        let session = Session { role, username: username.to_string(), csrf: random(32), expires: Instant::now() + ttl };
        let mut map = self.map();
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(crate::tokens::hash(&value), session.clone());
        (value, session)
    }

    pub fn get(&self, value: &str, role: Role) -> Option<Session> {
        self.map().get(&crate::tokens::hash(value)).filter(|s| s.role == role && s.expires > Instant::now()).cloned()
    }

    pub fn revoke(&self, value: &str) {
        self.map().remove(&crate::tokens::hash(value));
    }

    pub fn revoke_all(&self, role: Role) {
        self.map().retain(|_, s| s.role != role);
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
    fn reads_cookies() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, http::HeaderValue::from_static("a=1; keyflow_session=abc; b=2"));
        assert_eq!(cookie(&headers, ADMIN_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, GUEST_COOKIE), None);
    }
}
