//! `/api/settings`: the live settings, applied without a restart. The
//! decisions (merge, validation, guest sessions) are the settings service's
//! (`crate::settings`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;

use super::error::ApiResult;
use crate::config::RuntimeSettings;
use crate::state::AppState;

/// Secrets inside the settings come back redacted.
pub async fn get(State(state): State<AppState>) -> Json<RuntimeSettings> {
    Json(state.settings().redacted())
}

/// The live settings given explicitly (flag, environment, `keyflow.toml`):
/// each wins over the stored value at every start, and the console says so.
/// Keys are paths as in the settings JSON (`image.lsky_url`).
pub async fn origins(State(state): State<AppState>) -> Json<BTreeMap<&'static str, String>> {
    Json(crate::settings::explicit_origins(&state.config))
}

/// Takes a whole or partial settings object: given fields replace the
/// current ones; the result is validated, stored and swapped in.
pub async fn put(
    State(state): State<AppState>,
    Json(patch): Json<serde_json::Value>,
) -> ApiResult<Json<RuntimeSettings>> {
    let current = live(&state).update(patch).await?;
    Ok(Json(current.redacted()))
}

/// The handles a settings change goes to.
fn live(state: &AppState) -> crate::settings::Live<'_> {
    state.live_settings()
}
