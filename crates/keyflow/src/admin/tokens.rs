//! `/api/tokens`: client tokens. Environment tokens are listed read-only;
//! console tokens are created (value shown once) and revoked here.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let mut items = Vec::new();
    let env = |tokens: &[crate::secret::Secret], prefix: &str, scope: &str, items: &mut Vec<Value>| {
        for (i, token) in tokens.iter().enumerate() {
            let name = format!("{prefix}:{}", i + 1);
            items.push(json!({
                "id": null, "name": name, "token": token.masked(), "scope": scope,
                "rpm_limit": null, "spend_quota": null,
                "spent": state.meters.client_spend(&name),
                "created_at": null, "source": "env", "read_only": true,
            }));
        }
    };
    env(&state.config.client_tokens, "env", "all", &mut items);
    env(&state.config.free_client_tokens, "free", "free", &mut items);
    let masked: std::collections::HashMap<i64, (String, i64)> = state
        .store
        .load_client_tokens()
        .await
        .map(|rows| rows.into_iter().map(|r| (r.id, (r.masked, r.created_at))).collect())
        .unwrap_or_default();
    for t in state.tokens.all() {
        let (token, created_at) = masked.get(&t.id).cloned().unwrap_or_default();
        items.push(json!({
            "id": t.id, "name": &*t.name, "token": token,
            "scope": if t.free_only { "free" } else { "all" },
            "rpm_limit": t.rpm_limit, "spend_quota": t.spend_quota,
            "spent": t.spent(&state.meters),
            "created_at": created_at, "source": "console", "read_only": false,
        }));
    }
    let total = items.len();
    Json(json!({"items": items, "total": total, "page": 1, "size": total}))
}

#[derive(Deserialize)]
pub struct CreateBody {
    name: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    rpm_limit: Option<u32>,
    #[serde(default)]
    spend_quota: Option<f64>,
}

pub async fn create(State(state): State<AppState>, Json(body): Json<CreateBody>) -> ApiResult<Json<Value>> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 64 || name.contains(':') {
        return Err(ApiError::BadRequest("a token name needs 1–64 characters and no `:`".into()));
    }
    let free_only = match body.scope.as_deref().unwrap_or("all") {
        "all" => false,
        "free" => true,
        other => return Err(ApiError::BadRequest(format!("scope must be `all` or `free`, got `{other}`"))),
    };
    if body.spend_quota.is_some_and(|q| !q.is_finite() || q < 0.0) {
        return Err(ApiError::BadRequest("spend_quota must be a number ≥ 0 (CNY)".into()));
    }
    let (value, record) = state
        .tokens
        .create(
            state.store.as_ref(),
            &state.meters,
            name,
            free_only,
            body.rpm_limit.filter(|l| *l > 0),
            body.spend_quota,
        )
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(m) => ApiError::Conflict(m),
            other => ApiError::Store(other),
        })?;
    Ok(Json(json!({
        "token": value, "id": record.id, "name": record.name, "scope": record.scope,
        "rpm_limit": record.rpm_limit, "spend_quota": record.spend_quota, "created_at": record.created_at,
        "source": "console", "read_only": false,
    })))
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<Value>> {
    if !state.tokens.delete(state.store.as_ref(), &state.meters, id).await? {
        return Err(ApiError::NotFound(format!("no client token with id {id}")));
    }
    Ok(Json(json!({"deleted": id})))
}
