//! `/api/logs`: the request log, paged and filtered; clearing it.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::Paging;
use crate::clock::parse_time;
use crate::state::AppState;
use crate::store::{LogFilter, StatusFilter};

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    pub page: Option<usize>,
    pub size: Option<usize>,
    pub model: Option<String>,
    /// Key id.
    pub key: Option<String>,
    /// Client token name.
    pub token: Option<String>,
    /// `success`, `error`, or an HTTP status code.
    pub status: Option<String>,
    /// Unix seconds or milliseconds, or an RFC 3339 time or `YYYY-MM-DD` date (UTC).
    pub from: Option<String>,
    pub to: Option<String>,
}

impl LogQuery {
    pub fn filter(&self) -> ApiResult<LogFilter> {
        let nonempty = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let key_id = match nonempty(&self.key) {
            Some(k) => Some(k.parse().map_err(|_| ApiError::BadRequest(format!("`key` must be a key id, got `{k}`")))?),
            None => None,
        };
        let status = match nonempty(&self.status).as_deref() {
            None | Some("all") => None,
            Some("success") | Some("ok") => Some(StatusFilter::Success),
            Some("error") | Some("failed") => Some(StatusFilter::Error),
            Some(code) => Some(StatusFilter::Code(code.parse().map_err(|_| {
                ApiError::BadRequest(format!("`status` must be success, error or a status code, got `{code}`"))
            })?)),
        };
        let time = |v: &Option<String>| nonempty(v).map(|t| parse_time(&t).map_err(ApiError::BadRequest)).transpose();
        Ok(LogFilter {
            model: nonempty(&self.model),
            key_id,
            client: nonempty(&self.token),
            status,
            from_ms: time(&self.from)?,
            to_ms: time(&self.to)?,
        })
    }
}

pub async fn list(State(state): State<AppState>, Query(query): Query<LogQuery>) -> ApiResult<Json<serde_json::Value>> {
    let filter = query.filter()?;
    let (page, size) = Paging { page: query.page, size: query.size }.resolve(state.settings().page_size as usize);
    let (items, total) = state.store.query_logs(&filter, ((page - 1) * size) as u64, size as u64).await?;
    Ok(Json(json!({"items": items, "total": total, "page": page, "size": size})))
}

#[derive(Debug, Deserialize)]
pub struct DeleteQuery {
    before: Option<String>,
}

/// `DELETE /api/logs` clears the log (or rows before `?before=`).
pub async fn clear(
    State(state): State<AppState>,
    Query(query): Query<DeleteQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let before = query.before.as_deref().map(parse_time).transpose().map_err(ApiError::BadRequest)?;
    let deleted = state.store.delete_logs(before).await?;
    Ok(Json(json!({"deleted": deleted})))
}
