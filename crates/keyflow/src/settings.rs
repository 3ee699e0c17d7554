//! The settings service: changes the live settings while keyflow runs.
//!
//! A change is a whole or partial settings object. It is merged over the
//! current settings (redacted secrets keep their value), validated, stored,
//! applied to the upstream client and swapped in whole, so readers see the
//! old settings or the new ones, never a mix. `config/` owns the types and
//! their resolution at start; this module owns what happens on a change.
//! It works on the handles it is given ([`Live`]), not on the app's state,
//! so it sits on the services floor.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::access::session::{Role, Sessions};
use crate::config::{Config, Origin, RuntimeSettings};
use crate::store::{Store, StoreError};
use crate::upstream::Upstream;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("expected a JSON object of settings")]
    NotAnObject,
    /// The merged object does not read as settings (a wrong type, an unknown name).
    #[error("invalid settings: {0}")]
    Invalid(String),
    /// The settings read, but a value is out of bounds (`RuntimeSettings::validate`).
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a settings change is stored in and applied to.
pub struct Live<'a> {
    /// The settings every reader loads.
    pub current: &'a ArcSwap<RuntimeSettings>,
    pub store: &'a dyn Store,
    /// Takes the new timeouts.
    pub upstream: &'a Upstream,
    /// Guest sessions end when the guest password or the access mode changes.
    pub sessions: &'a Sessions,
}

impl Live<'_> {
    /// Applies `patch` to the live settings, stores the result and swaps it
    /// in; answers the settings now in force.
    pub async fn update(&self, patch: serde_json::Value) -> Result<Arc<RuntimeSettings>, SettingsError> {
        let next = apply_patch(&self.current.load(), patch)?;
        self.save(next).await?;
        Ok(self.current.load_full())
    }

    /// Takes settings another instance stored: applied and swapped in like
    /// a local change, without storing them again. Guest sessions that the
    /// change ended were deleted from the store there; the cache follows.
    pub fn adopt(&self, settings: RuntimeSettings) {
        self.upstream.apply(&settings);
        let current = Arc::new(settings);
        let previous = self.current.swap(Arc::clone(&current));
        if previous.guest_password != current.guest_password || previous.access_control != current.access_control {
            self.sessions.forget_cached();
        }
    }

    /// Stores `settings` and applies them to the running gateway.
    pub async fn save(&self, settings: RuntimeSettings) -> Result<(), SettingsError> {
        let json = serde_json::to_string(&settings).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        self.store.save_settings(&json).await?;
        self.upstream.apply(&settings);
        let current = Arc::new(settings);
        let previous = self.current.swap(Arc::clone(&current));
        // A guest session was granted for the old password (or the old mode):
        // changing either ends every guest session.
        if previous.guest_password != current.guest_password || previous.access_control != current.access_control {
            self.sessions.revoke_all(Role::Guest).await;
            tracing::info!("guest password or dashboard access changed; guest sessions ended");
        }
        Ok(())
    }
}

/// The settings `patch` makes of `current`: given fields replace the
/// current ones (objects merge member by member), the rest stay.
pub fn apply_patch(current: &RuntimeSettings, patch: serde_json::Value) -> Result<RuntimeSettings, SettingsError> {
    let serde_json::Value::Object(fields) = patch else {
        return Err(SettingsError::NotAnObject);
    };
    // Merged over the redacted form, so a client that sends back what it
    // read (secrets as `REDACTED`) keeps the secrets it never saw.
    let mut merged = serde_json::to_value(current.redacted()).map_err(|e| SettingsError::Invalid(e.to_string()))?;
    merge(&mut merged, serde_json::Value::Object(fields));
    let mut next: RuntimeSettings =
        serde_json::from_value(merged).map_err(|e| SettingsError::Invalid(e.to_string()))?;
    next.restore_redacted(current);
    next.validate().map_err(SettingsError::Rejected)?;
    Ok(next)
}

fn merge(into: &mut serde_json::Value, patch: serde_json::Value) {
    match (into, patch) {
        (serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
            for (k, v) in patch {
                match base.get_mut(&k) {
                    Some(slot) if v.is_object() && slot.is_object() => merge(slot, v),
                    _ => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The live settings given explicitly (flag, environment, `keyflow.toml`),
/// by their path in the settings JSON (`image.lsky_url`): each wins over the
/// stored value at every start, and the console says so.
pub fn explicit_origins(config: &Config) -> BTreeMap<&'static str, String> {
    crate::config::catalog::SETTINGS
        .iter()
        .filter(|info| info.runtime)
        .filter_map(|info| match config.origin(info.key) {
            Origin::Default => None,
            origin => Some((info.key, origin.to_string())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_merges_nested_objects_and_keeps_redacted_secrets() {
        let mut current = RuntimeSettings { guest_password: Some("old-guest-secret".into()), ..Default::default() };
        current.image.lsky_url = Some("https://lsky.example".into());
        let redacted = serde_json::to_value(current.redacted()).unwrap_or_default();
        let mut patch = serde_json::json!({"page_size": 25, "image": {"use_shortlink": true, "shortlink_url": "https://s.example/api"}});
        // The console sends the redacted value back untouched.
        patch["guest_password"] = redacted["guest_password"].clone();
        let next = apply_patch(&current, patch).map_err(|e| e.to_string());
        let next = next
            .as_ref()
            .map(|n| (n.page_size, n.image.use_shortlink, n.image.lsky_url.as_deref(), n.guest_password.as_deref()));
        // The `image` members given joined the others instead of replacing them.
        assert_eq!(next, Ok((25, true, Some("https://lsky.example"), Some("old-guest-secret"))));
    }

    #[test]
    fn bad_patches_say_why() {
        let current = RuntimeSettings::default();
        let error = |patch| apply_patch(&current, patch).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(error(serde_json::json!([1])), "expected a JSON object of settings");
        assert!(error(serde_json::json!({"page_size": "many"})).starts_with("invalid settings: "));
        assert!(matches!(apply_patch(&current, serde_json::json!({"page_size": 0})), Err(SettingsError::Rejected(_))));
    }
}
