//! `/api/models`: the catalogue with price class and bans, and the price
//! table (checked and stored by the prices service, `usage::prices`).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use crate::pool::ModelClass;
use crate::state::AppState;
use crate::store::ModelPrice;

pub async fn list(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    if let Err(e) = state.models.refresh_if_stale().await {
        tracing::warn!(error = %e, "model catalogue refresh failed");
    }
    let settings = state.settings();
    let data = state.catalog.data();
    let prices = state.meters.prices.all();
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
                "price": prices.get(&m.id),
            })
        })
        .collect();
    let total = items.len();
    Ok(Json(json!({"items": items, "total": total, "page": 1, "size": total})))
}

/// Forces a catalogue fetch now.
pub async fn refresh(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    state.catalog.mark_stale();
    state.models.refresh_catalog().await.map_err(|e| ApiError::Conflict(format!("model list refresh failed: {e}")))?;
    Ok(Json(json!({"models": state.catalog.data().models.len()})))
}

/// `GET /api/models/prices`: the whole price table.
pub async fn prices(State(state): State<AppState>) -> Json<serde_json::Value> {
    let items = state.meters.prices.sorted();
    let total = items.len();
    Json(json!({"items": items, "total": total, "page": 1, "size": total}))
}

/// `PUT /api/models/prices/{model}` with `{"input_per_m", "output_per_m", "per_image", "per_m_chars"}` (CNY).
pub async fn put_price(
    State(state): State<AppState>,
    Path(model): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> ApiResult<Json<ModelPrice>> {
    let mut fields = body;
    if let Some(map) = fields.as_object_mut() {
        map.insert("model".into(), serde_json::Value::String(model.clone()));
    }
    let price: ModelPrice =
        serde_json::from_value(fields).map_err(|e| ApiError::BadRequest(format!("invalid price: {e}")))?;
    state.meters.prices.set(state.store.as_ref(), &price).await?;
    Ok(Json(price))
}

pub async fn delete_price(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    state.meters.prices.remove(state.store.as_ref(), &model).await?;
    Ok(Json(json!({"deleted": model})))
}
