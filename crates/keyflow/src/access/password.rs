//! The admin password: from configuration until changed in the console,
//! then a PBKDF2 hash in the store (which wins from then on).
//!
//! PBKDF2 costs tens of milliseconds of CPU by design, so it runs on the
//! blocking pool, never on the async workers that serve traffic.

use std::sync::{PoisonError, RwLock};

use pbkdf2::pbkdf2_hmac;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

use crate::secret::{constant_time_eq, Secret};
use crate::store::{Store, StoreResult};

const ROUNDS: u32 = 60_000;
/// The settings-table entry holding `salt$hash`.
const STORED: &str = "admin_password";
/// The settings-table entry holding a user name taken by `keyflow migrate`.
const STORED_USERNAME: &str = "admin_username";

pub struct AdminAuth {
    username: String,
    configured: Secret,
    /// `(salt, hash)` once changed in the console.
    stored: RwLock<Option<(String, [u8; 32])>>,
    /// SHA-256 of (pepper, password) of the last verified password, so
    /// scripts using HTTP Basic on every call do not pay PBKDF2 each time.
    verified: RwLock<Option<[u8; 32]>>,
    pepper: String,
}

fn derive(password: &str, salt: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2_hmac::<Sha256>(password.as_bytes(), salt.as_bytes(), ROUNDS, &mut out);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

impl AdminAuth {
    pub fn new(username: &str, configured: Secret) -> AdminAuth {
        AdminAuth {
            username: username.to_string(),
            configured,
            stored: RwLock::new(None),
            verified: RwLock::new(None),
            pepper: Alphanumeric.sample_string(&mut rand::rng(), 32),
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// Whether a password changed in the console (or migrated) is stored.
    pub fn password_is_stored(&self) -> bool {
        self.stored.read().unwrap_or_else(PoisonError::into_inner).is_some()
    }

    pub async fn load(&self, store: &dyn Store) -> StoreResult<()> {
        let parsed = store
            .load_value(STORED)
            .await?
            .and_then(|v| v.split_once('$').and_then(|(salt, hash)| Some((salt.to_string(), unhex(hash)?))));
        *self.stored.write().unwrap_or_else(PoisonError::into_inner) = parsed;
        Ok(())
    }

    fn peppered(&self, password: &str) -> [u8; 32] {
        Sha256::digest(format!("{}\0{password}", self.pepper).as_bytes()).into()
    }

    /// Checks admin credentials in time independent of where they differ.
    /// A password already verified is recognised by a cheap peppered hash;
    /// anything else against a stored hash runs PBKDF2 on the blocking pool.
    pub async fn verify(&self, username: &str, password: &str) -> bool {
        let user_ok = constant_time_eq(username.as_bytes(), self.username.as_bytes());
        let fast = self.peppered(password);
        let known = *self.verified.read().unwrap_or_else(PoisonError::into_inner);
        if known.is_some_and(|known| constant_time_eq(&known, &fast)) {
            return user_ok;
        }
        let stored = self.stored.read().unwrap_or_else(PoisonError::into_inner).clone();
        let password_ok = match stored {
            Some((salt, hash)) => {
                let password = password.to_string();
                let derived = tokio::task::spawn_blocking(move || derive(&password, &salt)).await;
                derived.is_ok_and(|derived| constant_time_eq(&derived, &hash))
            }
            None => constant_time_eq(password.as_bytes(), self.configured.expose().as_bytes()),
        };
        if password_ok {
            *self.verified.write().unwrap_or_else(PoisonError::into_inner) = Some(fast);
        }
        user_ok & password_ok
    }

    /// Stores a new password (hashed); the caller revokes sessions.
    pub async fn change(&self, store: &dyn Store, new_password: &str) -> StoreResult<()> {
        let salt = Alphanumeric.sample_string(&mut rand::rng(), 22);
        let (password, salt_for_hash) = (new_password.to_string(), salt.clone());
        let hash = tokio::task::spawn_blocking(move || derive(&password, &salt_for_hash))
            .await
            .map_err(|e| crate::store::StoreError::Secret(format!("hashing the password failed: {e}")))?;
        store.save_value(STORED, &format!("{salt}${}", hex(&hash))).await?;
        *self.stored.write().unwrap_or_else(PoisonError::into_inner) = Some((salt, hash));
        *self.verified.write().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }
}

/// The user name `keyflow migrate` stored, if any.
pub async fn stored_username(store: &dyn Store) -> StoreResult<Option<String>> {
    store.load_value(STORED_USERNAME).await
}

/// Stores the console user name of a tool keyflow replaces.
pub async fn save_username(store: &dyn Store, name: &str) -> StoreResult<()> {
    store.save_value(STORED_USERNAME, name).await
}

/// The console user name: configured (flag, environment, file) wins, then
/// a migrated one, then the default.
pub async fn username(store: &dyn Store, config: &crate::config::Config) -> StoreResult<String> {
    if config.origin("admin_username") != crate::config::Origin::Default {
        return Ok(config.admin_username.clone());
    }
    Ok(stored_username(store).await?.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| config.admin_username.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Origin};

    #[tokio::test]
    async fn a_migrated_user_name_applies_unless_one_is_configured() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = crate::store::open(&format!("sqlite://{}", dir.path().join("k.db").display())).await?;
        let mut config = Config::default();
        assert_eq!(username(store.as_ref(), &config).await?, "admin");
        save_username(store.as_ref(), "root").await?;
        assert_eq!(username(store.as_ref(), &config).await?, "root");
        config.admin_username = "ops".into();
        config.origins.insert("admin_username", Origin::Env("ADMIN_USERNAME"));
        assert_eq!(username(store.as_ref(), &config).await?, "ops");

        let auth = AdminAuth::new("root", Secret::new("admin"));
        assert!(!auth.password_is_stored());
        auth.change(store.as_ref(), "old-pass").await?;
        assert!(auth.password_is_stored());
        assert!(auth.verify("root", "old-pass").await && !auth.verify("root", "admin").await);
        Ok(())
    }
}
