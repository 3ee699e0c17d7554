//! Console sessions (admin and guest), held on the server so logout and a
//! password change revoke them. Failed logins are counted in `limiter`.
//!
//! The store holds every session (by the hash of its cookie), so a session
//! survives a restart and works through every instance sharing the
//! database; each instance caches the ones it has seen. Ending a session
//! deletes it from the store, and instances that listen drop their cache
//! ([`Sessions::forget_cached`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};

use crate::clock::now_ms;
use crate::store::{SessionRecord, Store};

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

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Guest => "guest",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub role: Role,
    pub username: String,
    /// Sent back by the console in `X-CSRF-Token` on every state change.
    pub csrf: String,
    /// Unix milliseconds.
    expires_at_ms: i64,
}

impl Session {
    fn from_record(record: SessionRecord) -> Option<Session> {
        let role = match record.role.as_str() {
            "admin" => Role::Admin,
            "guest" => Role::Guest,
            _ => return None,
        };
        Some(Session { role, username: record.username, csrf: record.csrf, expires_at_ms: record.expires_at_ms })
    }

    fn live(&self) -> bool {
        self.expires_at_ms > now_ms()
    }
}

pub struct Sessions {
    store: Arc<dyn Store>,
    /// Keyed by the SHA-256 of the cookie value, so a memory dump does not
    /// hold usable cookies.
    cache: Mutex<HashMap<String, Session>>,
}

fn random(n: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), n)
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>) -> Sessions {
        Sessions { store, cache: Mutex::default() }
    }

    /// The cache, also after a panic elsewhere: skipping a revocation because
    /// a lock was poisoned would leave a session alive.
    fn cache(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a session; returns the cookie value and the session. While
    /// the store cannot be written the session works on this instance only.
    pub async fn create(&self, role: Role, username: &str) -> (String, Session) {
        let value = random(43);
        let ttl = if role == Role::Admin { ADMIN_TTL } else { GUEST_TTL };
        let expires_at_ms = now_ms() + ttl.as_millis() as i64;
        let session = Session { role, username: username.to_string(), csrf: random(32), expires_at_ms };
        let hash = crate::tokens::hash(&value);
        let record = SessionRecord {
            token_hash: hash.clone(),
            role: role.as_str().to_string(),
            username: session.username.clone(),
            csrf: session.csrf.clone(),
            expires_at_ms,
        };
        if let Err(e) = self.store.insert_session(&record).await {
            tracing::warn!(error = %e, "storing a console session failed; it works on this instance only");
        }
        let mut cache = self.cache();
        cache.retain(|_, s| s.live());
        cache.insert(hash, session.clone());
        (value, session)
    }

    /// The live session of cookie `value` with `role`: from the cache, else
    /// from the store (made on another instance, or before a restart).
    pub async fn get(&self, value: &str, role: Role) -> Option<Session> {
        let hash = crate::tokens::hash(value);
        let cached = self.cache().get(&hash).cloned();
        let session = match cached {
            Some(session) => session,
            None => {
                let record = match self.store.find_session(&hash).await {
                    Ok(record) => record?,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading a console session failed");
                        return None;
                    }
                };
                let session = Session::from_record(record)?;
                self.cache().insert(hash, session.clone());
                session
            }
        };
        (session.role == role && session.live()).then_some(session)
    }

    pub async fn revoke(&self, value: &str) {
        let hash = crate::tokens::hash(value);
        self.cache().remove(&hash);
        if let Err(e) = self.store.delete_session(&hash).await {
            tracing::warn!(error = %e, "deleting a console session failed");
        }
    }

    pub async fn revoke_all(&self, role: Role) {
        self.cache().retain(|_, s| s.role != role);
        if let Err(e) = self.store.delete_sessions(role.as_str()).await {
            tracing::warn!(error = %e, "deleting console sessions failed");
        }
    }

    /// Drops every cached session: another instance ended some, and the
    /// store says which are left.
    pub fn forget_cached(&self) {
        self.cache().clear();
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

    #[tokio::test]
    async fn sessions_live_in_the_store_by_role_and_revoke() {
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let sessions = Sessions::new(Arc::clone(&store));
        let (value, session) = sessions.create(Role::Admin, "admin").await;
        assert_eq!(sessions.get(&value, Role::Admin).await.map(|s| s.csrf), Some(session.csrf.clone()));
        assert!(sessions.get(&value, Role::Guest).await.is_none());
        // Another instance (a fresh cache on the same store) knows it too.
        let elsewhere = Sessions::new(Arc::clone(&store));
        assert_eq!(elsewhere.get(&value, Role::Admin).await.map(|s| s.csrf), Some(session.csrf));
        sessions.revoke_all(Role::Admin).await;
        assert!(sessions.get(&value, Role::Admin).await.is_none());
        elsewhere.forget_cached();
        assert!(elsewhere.get(&value, Role::Admin).await.is_none());
    }

    #[test]
    fn reads_cookies() {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, http::HeaderValue::from_static("a=1; keyflow_session=abc; b=2"));
        assert_eq!(cookie(&headers, ADMIN_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, GUEST_COOKIE), None);
    }
}
