//! `/api/keys`: list, import, enable/disable, delete, refresh, export.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::Paging;
use crate::pool::export::{render_export, ExportOptions, ExportRow};
use crate::pool::{KeyEntry, KeyPool};
use crate::state::AppState;
use crate::store::{now_secs, KeyId, KeyState};

/// A key as the API shows it (masked).
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub id: KeyId,
    pub key: String,
    /// `active`, `free`, `invalid`, `disabled` or `cooling`.
    pub state: &'static str,
    pub balance: Option<f64>,
    pub enabled: bool,
    pub usage_count: u64,
    pub inflight: u32,
    pub last_error: Option<String>,
    /// Unix seconds when the key's account may be used again, if cooling.
    pub cooldown_until: Option<i64>,
    pub account_id: Option<String>,
    pub checked_at: Option<i64>,
    pub created_at: i64,
}

pub fn view(pool: &KeyPool, e: &KeyEntry) -> KeyView {
    let cooldown_until = pool
        .cooldowns()
        .scope_until(&KeyPool::scope_of(e))
        .map(|until| now_secs() + until.saturating_duration_since(Instant::now()).as_secs() as i64 + 1);
    let state = if !e.enabled() {
        "disabled"
    } else if e.state() == KeyState::Invalid {
        "invalid"
    } else if cooldown_until.is_some() {
        "cooling"
    } else {
        e.state().as_str()
    };
    KeyView {
        id: e.id,
        key: e.secret.masked(),
        state,
        balance: e.balance().map(|b| (b * 10_000.0).round() / 10_000.0),
        enabled: e.enabled(),
        usage_count: e.usage_count(),
        inflight: e.inflight(),
        last_error: e.last_error(),
        cooldown_until,
        account_id: e.account().map(|a| a.to_string()),
        checked_at: e.checked_at(),
        created_at: e.created_at,
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    // Not `#[serde(flatten)]`: flattening breaks numbers in query strings.
    page: Option<usize>,
    size: Option<usize>,
    state: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    /// Matches the masked key's visible part or the id.
    q: Option<String>,
}

pub async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> ApiResult<Json<serde_json::Value>> {
    let (page, size) = Paging { page: query.page, size: query.size }.resolve(state.settings().page_size as usize);
    let snapshot = state.pool.snapshot();
    let mut rows: Vec<KeyView> = snapshot.entries.iter().map(|e| view(&state.pool, e)).collect();
    if let Some(wanted) = query.state.as_deref().filter(|s| !s.is_empty() && *s != "all") {
        rows.retain(|r| r.state == wanted);
    }
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        rows.retain(|r| r.key.contains(q) || r.id.to_string() == q);
    }
    let desc = query.order.as_deref() == Some("desc");
    match query.sort.as_deref().unwrap_or("id") {
        "balance" => rows.sort_by(|a, b| a.balance.unwrap_or(f64::MIN).total_cmp(&b.balance.unwrap_or(f64::MIN))),
        "usage_count" | "usage" => rows.sort_by_key(|r| r.usage_count),
        "created_at" => rows.sort_by_key(|r| (r.created_at, r.id)),
        "state" => rows.sort_by_key(|r| (r.state, r.id)),
        "id" => rows.sort_by_key(|r| r.id),
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown sort `{other}`: use id, balance, usage_count, created_at or state"
            )))
        }
    }
    if desc {
        rows.reverse();
    }
    let total = rows.len();
    let items: Vec<KeyView> = rows.into_iter().skip((page - 1) * size).take(size).collect();
    Ok(Json(json!({"items": items, "total": total, "page": page, "size": size})))
}

#[derive(Debug, Deserialize)]
struct ImportJson {
    keys: serde_json::Value,
    #[serde(default = "yes")]
    validate: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
pub struct ImportQuery {
    validate: Option<bool>,
}

/// `POST /api/keys`: a text body, or JSON `{"keys": "..." | [...], "validate": bool}`.
pub async fn import(
    State(state): State<AppState>,
    Query(query): Query<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let is_json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    let (text, validate) = if is_json {
        let parsed: ImportJson = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("expected {{\"keys\": \"...\"}}: {e}")))?;
        let text = match parsed.keys {
            serde_json::Value::String(s) => s,
            serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join("\n"),
            _ => return Err(ApiError::BadRequest("`keys` must be a string or an array of strings".into())),
        };
        (text, query.validate.unwrap_or(parsed.validate))
    } else {
        let text =
            String::from_utf8(body.to_vec()).map_err(|_| ApiError::BadRequest("the body is not UTF-8 text".into()))?;
        (text, query.validate.unwrap_or(true))
    };
    let report = crate::keys::import(&state, &text, validate).await?;
    Ok((StatusCode::OK, Json(report)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    enabled: bool,
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<KeyId>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Json<KeyView>> {
    if !crate::keys::set_enabled(&state, id, body.enabled).await? {
        return Err(ApiError::NotFound(format!("no key with id {id}")));
    }
    let entry = state.pool.get(id).ok_or_else(|| ApiError::NotFound(format!("no key with id {id}")))?;
    Ok(Json(view(&state.pool, &entry)))
}

pub async fn delete_one(State(state): State<AppState>, Path(id): Path<KeyId>) -> ApiResult<Json<serde_json::Value>> {
    let n = crate::keys::delete(&state, &[id]).await?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("no key with id {id}")));
    }
    Ok(Json(json!({"deleted": n})))
}

#[derive(Debug, Deserialize)]
pub struct IdsBody {
    #[serde(default)]
    ids: Option<Vec<KeyId>>,
}

pub async fn delete_many(
    State(state): State<AppState>,
    Json(body): Json<IdsBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let ids = body.ids.unwrap_or_default();
    let n = crate::keys::delete(&state, &ids).await?;
    Ok(Json(json!({"deleted": n})))
}

/// `POST /api/keys/refresh`: starts a refresh of all keys or `ids`.
pub async fn refresh(State(state): State<AppState>, body: Option<Json<IdsBody>>) -> ApiResult<Response> {
    let ids = body.and_then(|Json(b)| b.ids);
    // A refresh already running is joined: the caller gets its progress
    // (`started: false`) instead of an error, as two console tabs or a
    // script and the console may well ask at once.
    let started = crate::keys::start_refresh(&state, ids);
    let progress = state.refresh.view();
    Ok((StatusCode::ACCEPTED, Json(json!({"started": started, "joined": !started, "progress": progress})))
        .into_response())
}

pub async fn refresh_progress(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"progress": state.refresh.view()}))
}

/// `GET /api/keys/export`: the keys in plain text, unmasked.
pub async fn export(State(state): State<AppState>, Query(options): Query<ExportOptions>) -> Response {
    let snapshot = state.pool.snapshot();
    let rows = snapshot
        .entries
        .iter()
        .map(|e| ExportRow { key: e.secret.expose().to_string(), balance: e.balance() })
        .collect();
    let text = render_export(rows, &options);
    ([(http::header::CONTENT_TYPE, "text/plain; charset=utf-8"), (http::header::CACHE_CONTROL, "no-store")], text)
        .into_response()
}
