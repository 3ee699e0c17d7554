//! Batch files and batches (`/v1/files`, `/v1/batches`), pinned to their key.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::{Extension, Json};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::form::Form;
use super::{parse_object, required_str, wrapped};
use crate::error::ApiError;
use crate::gate::Caller;
use crate::state::{lock, Batch, FileRecord, MockState};
use crate::text::{lowercase, now_secs};

/// The endpoints a batch may target.
const BATCH_ENDPOINTS: &[&str] = &["/v1/chat/completions", "/v1/embeddings"];

pub(super) async fn upload_file(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let form = Form::read(multipart.map_err(|_| ApiError::InvalidParameter)?).await?;
    if form.text("purpose")? != "batch" {
        return Err(ApiError::InvalidParameter);
    }
    let file = form.file.as_ref().ok_or(ApiError::InvalidParameter)?;
    let line_count =
        file.bytes.split(|byte| *byte == b'\n').filter(|line| !line.iter().all(u8::is_ascii_whitespace)).count() as u64;
    let record = FileRecord {
        id: format!("file-{}", lowercase(10)),
        owner: caller.key.to_string(),
        bytes: file.bytes.len() as u64,
        created_at: now_secs(),
        filename: file.filename.clone().unwrap_or_else(|| "file.jsonl".to_owned()),
        purpose: "batch".to_owned(),
        line_count,
    };
    let data = record.upload_json();
    lock(&state.inner.resources).files.push(record);
    Ok(Json(wrapped("Ok", data)))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    limit: Option<usize>,
    after: Option<String>,
    purpose: Option<String>,
}

pub(super) async fn list_files(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(10);
    if limit == 0 {
        return Err(ApiError::InvalidParameter);
    }
    let resources = lock(&state.inner.resources);
    let data: Vec<Value> = resources
        .files_of(&caller.key)
        .into_iter()
        .filter(|file| query.purpose.as_ref().is_none_or(|purpose| *purpose == file.purpose))
        .take(limit)
        .map(FileRecord::list_json)
        .collect();
    Ok(Json(wrapped("Ok", json!({"data": data, "object": "file"}))))
}

/// Hours of a `completion_window` such as `"24h"`, within upstream's 24–336.
fn window_hours(window: &str) -> Option<u64> {
    let hours: u64 = window.strip_suffix('h')?.parse().ok()?;
    (24..=336).contains(&hours).then_some(hours)
}

pub(super) async fn create(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let object = parse_object(&body)?;
    let input_file_id = required_str(&object, "input_file_id")?;
    let endpoint = required_str(&object, "endpoint")?;
    let window = required_str(&object, "completion_window")?;
    let hours = window_hours(window).ok_or(ApiError::InvalidParameter)?;
    if !BATCH_ENDPOINTS.contains(&endpoint) {
        return Err(ApiError::InvalidParameter);
    }
    let metadata = match object.get("metadata") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::Object(pairs)) if pairs.len() <= 16 => Value::Object(pairs.clone()),
        Some(_) => return Err(ApiError::InvalidParameter),
    };
    let mut resources = lock(&state.inner.resources);
    let file = resources.file(&caller.key, input_file_id)?;
    let created_at = now_secs();
    let batch = Batch {
        id: format!("batch_{}", lowercase(10)),
        owner: caller.key.to_string(),
        endpoint: endpoint.to_owned(),
        input_file_id: input_file_id.to_owned(),
        file_name: file.filename.clone(),
        completion_window: window.to_owned(),
        status: "in_queue",
        created_at,
        expires_at: created_at + hours * 3600,
        cancelling_at: None,
        cancelled_at: None,
        total: file.line_count,
        metadata,
    };
    let answer = batch.to_json(false);
    resources.batches.push(batch);
    Ok(Json(answer))
}

/// `GET /v1/batches?limit=&after=`: newest first, paged after an id.
pub(super) async fn list(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Json<Value> {
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let batches = lock(&state.inner.resources).batches_of(&caller.key);
    let start = query
        .after
        .as_ref()
        .and_then(|after| batches.iter().position(|batch| batch.id == *after))
        .map_or(0, |at| at + 1);
    let page: Vec<&Batch> = batches.iter().skip(start).take(limit).collect();
    let has_more = start + page.len() < batches.len();
    let first_id = page.first().map(|batch| batch.id.clone());
    let last_id = page.last().map(|batch| batch.id.clone());
    let data: Vec<Value> = page.iter().map(|batch| batch.to_json(true)).collect();
    Json(json!({
        "object": "list", "data": data, "first_id": first_id, "last_id": last_id, "has_more": has_more,
    }))
}

pub(super) async fn get_one(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut resources = lock(&state.inner.resources);
    let batch = resources.batch(&caller.key, &id)?;
    Ok(Json(batch.to_json(false)))
}

pub(super) async fn cancel(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let batch = lock(&state.inner.resources).cancel_batch(&caller.key, &id)?;
    Ok(Json(batch.to_json(false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_in_range() {
        assert_eq!(window_hours("24h"), Some(24));
        assert_eq!(window_hours("336h"), Some(336));
        assert_eq!(window_hours("12h"), None);
        assert_eq!(window_hours("1d"), None);
    }
}
