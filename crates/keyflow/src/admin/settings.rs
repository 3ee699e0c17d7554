//! `/api/settings`: the live settings, applied without a restart.

use axum::extract::State;
use axum::Json;

use super::error::{ApiError, ApiResult};
use crate::config::RuntimeSettings;
use crate::state::AppState;

/// Secrets inside the settings come back redacted.
pub async fn get(State(state): State<AppState>) -> Json<RuntimeSettings> {
    Json(state.settings().redacted())
}

/// The live settings given explicitly (flag, environment, `keyflow.toml`):
/// each wins over the stored value at every start, and the console says so.
/// Keys are paths as in the settings JSON (`image.lsky_url`).
pub async fn origins(State(state): State<AppState>) -> Json<serde_json::Map<String, serde_json::Value>> {
    let explicit = crate::config::catalog::SETTINGS
        .iter()
        .filter(|info| info.runtime)
        .filter_map(|info| match state.config.origin(info.key) {
            crate::config::Origin::Default => None,
            origin => Some((info.key.to_string(), serde_json::Value::String(origin.to_string()))),
        })
        .collect();
    Json(explicit)
}

/// Takes a whole or partial settings object: given fields replace the
/// current ones; the result is validated, stored and swapped in.
pub async fn put(
    State(state): State<AppState>,
    Json(patch): Json<serde_json::Value>,
) -> ApiResult<Json<RuntimeSettings>> {
    let current = state.settings();
    let next = apply_patch(&current, patch)?;
    save(&state, next).await?;
    Ok(Json(state.settings().redacted()))
}

pub fn apply_patch(current: &RuntimeSettings, patch: serde_json::Value) -> ApiResult<RuntimeSettings> {
    let serde_json::Value::Object(fields) = patch else {
        return Err(ApiError::BadRequest("expected a JSON object of settings".into()));
    };
    let mut merged = serde_json::to_value(current.redacted()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    merge(&mut merged, serde_json::Value::Object(fields));
    let mut next: RuntimeSettings =
        serde_json::from_value(merged).map_err(|e| ApiError::BadRequest(format!("invalid settings: {e}")))?;
    next.restore_redacted(current);
    next.validate().map_err(ApiError::BadRequest)?;
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

/// Stores settings and applies them to the running gateway.
pub async fn save(state: &AppState, settings: RuntimeSettings) -> ApiResult<()> {
    let json = serde_json::to_string(&settings).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state.store.save_settings(&json).await?;
    state.upstream.apply(&settings);
    let previous = state.settings.swap(std::sync::Arc::new(settings));
    let current = state.settings();
    // A guest session was granted for the old password (or the old mode):
    // changing either ends every guest session.
    if previous.guest_password != current.guest_password || previous.access_control != current.access_control {
        state.sessions.revoke_all(super::session::Role::Guest);
        tracing::info!("guest password or dashboard access changed; guest sessions ended");
    }
    Ok(())
}
