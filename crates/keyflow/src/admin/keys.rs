//! `/api/keys`: list, import, enable/disable, delete, refresh, export.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::Paging;
use crate::keys::{KeyPage, KeyQuery, KeySort, KeyView};
use crate::pool::export::{render_export, ExportOptions, ExportRow};
use crate::state::AppState;
use crate::store::KeyId;

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

pub async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> ApiResult<Json<KeyPage>> {
    let (page, size) = Paging { page: query.page, size: query.size }.resolve(state.settings().page_size as usize);
    let listing = KeyQuery {
        state: query.state,
        text: query.q,
        sort: query.sort.as_deref().unwrap_or("id").parse::<KeySort>()?,
        descending: query.order.as_deref() == Some("desc"),
        page,
        size,
    };
    Ok(Json(crate::keys::list(&state.pool, &listing)))
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
    let report = state.keys.import(&text, validate).await?;
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
    if !state.keys.set_enabled(id, body.enabled).await? {
        return Err(ApiError::NotFound(format!("no key with id {id}")));
    }
    let entry = state.pool.get(id).ok_or_else(|| ApiError::NotFound(format!("no key with id {id}")))?;
    Ok(Json(crate::keys::view(&state.pool, &entry)))
}

pub async fn delete_one(State(state): State<AppState>, Path(id): Path<KeyId>) -> ApiResult<Json<serde_json::Value>> {
    let n = state.keys.delete(&[id]).await?;
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
    let n = state.keys.delete(&ids).await?;
    Ok(Json(json!({"deleted": n})))
}

/// `POST /api/keys/refresh`: starts a refresh of all keys or `ids`.
pub async fn refresh(State(state): State<AppState>, body: Option<Json<IdsBody>>) -> ApiResult<Response> {
    let ids = body.and_then(|Json(b)| b.ids);
    // A refresh already running is joined: the caller gets its progress
    // (`started: false`) instead of an error, as two console tabs or a
    // script and the console may well ask at once.
    let started = state.keys.start_refresh(ids);
    let progress = state.keys.progress();
    Ok((StatusCode::ACCEPTED, Json(json!({"started": started, "joined": !started, "progress": progress})))
        .into_response())
}

pub async fn refresh_progress(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"progress": state.keys.progress()}))
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
