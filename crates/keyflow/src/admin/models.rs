//! `/api/models`: the catalogue with price class and bans.

use axum::extract::State;
use axum::Json;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use crate::pool::ModelClass;
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    if state.catalog.is_stale() {
        if let Err(e) = crate::jobs::maintenance::refresh_catalog(&state).await {
            tracing::warn!(error = %e, "model catalogue refresh failed");
        }
    }
    let settings = state.settings();
    let data = state.catalog.data();
    let items: Vec<_> = data
        .models
        .iter()
        .map(|m| {
            let class = state.catalog.class_of(&m.id, &settings);
            json!({
                "id": m.id,
                "type": m.kind,
                "sub_type": m.sub_type,
                "free": match class { ModelClass::Free => Some(true), ModelClass::Paid => Some(false), ModelClass::Unknown => None },
                "class": class,
                "banned": settings.ban_models.contains(&m.id),
            })
        })
        .collect();
    let total = items.len();
    Ok(Json(json!({"items": items, "total": total, "page": 1, "size": total})))
}

/// Forces a catalogue fetch now.
pub async fn refresh(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    state.catalog.mark_stale();
    crate::jobs::maintenance::refresh_catalog(&state)
        .await
        .map_err(|e| ApiError::Conflict(format!("model list refresh failed: {e}")))?;
    Ok(Json(json!({"models": state.catalog.data().models.len()})))
}
