//! List routes over pinned resources: upstream lists only one account's
//! files, batches or voices, so keyflow asks every key that owns some and
//! merges the answers into upstream's shape.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::HeaderMap;
use serde_json::{json, Value};

use super::error::ProxyError;
use crate::pins::Caller;
use crate::pins::PinKind;
use crate::state::AppState;
use crate::upstream::{read_body, Outbound, Reply};

/// Pages fetched from one owner at most (batches are listed 100 a page).
const MAX_PAGES: usize = 50;

fn query_param<'a>(path_and_query: &'a str, name: &str) -> Option<&'a str> {
    let query = path_and_query.split_once('?')?.1;
    query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// One owner's answer to a GET, parsed; `None` (logged) when it failed.
async fn fetch(state: &AppState, key_id: i64, path_and_query: &str, headers: &HeaderMap) -> Option<Value> {
    let entry = state.pool.get(key_id)?;
    let timeout = std::time::Duration::from_secs(state.settings().first_byte_timeout_secs.max(1));
    let response = match state.upstream.exchange(Outbound::get(path_and_query, headers), &entry.secret, timeout).await {
        Reply::Success(response) => response,
        Reply::Refused { status, .. } => {
            tracing::warn!(key = %entry.secret, status = status.as_u16(), "list call failed for one owner");
            return None;
        }
        Reply::Failed(e) => {
            tracing::warn!(key = %entry.secret, error = %e, "list call failed for one owner");
            return None;
        }
    };
    let body = read_body(response, 16 << 20, timeout).await.ok()?;
    serde_json::from_slice(&body).ok()
}

/// The id a listed item is pinned under.
fn item_id(kind: PinKind, item: &Value) -> Option<&str> {
    match kind {
        PinKind::Voice => item.get("uri"),
        PinKind::Video => item.get("requestId"),
        PinKind::File | PinKind::Batch => item.get("id"),
    }
    .and_then(Value::as_str)
}

/// Keeps the items a client token may see: an account's list also holds
/// other tokens' resources, and anything not made through this gateway.
/// The admin and callers of an open gateway see the whole union.
fn keep_visible(state: &AppState, kind: PinKind, caller: Caller<'_>, items: &mut Vec<Value>) {
    if matches!(caller, Caller::Admin | Caller::Client(None)) {
        return;
    }
    items.retain(|item| item_id(kind, item).is_some_and(|id| state.pins.visible(kind, id, caller)));
}

pub async fn union(
    state: &AppState,
    kind: PinKind,
    path_and_query: &str,
    headers: &HeaderMap,
    caller: Caller<'_>,
) -> Result<Response, ProxyError> {
    if kind == PinKind::Batch {
        return Ok(batches(state, path_and_query, headers, caller).await);
    }
    let mut items: Vec<Value> = Vec::new();
    for key_id in state.pins.owners(kind, caller) {
        let Some(value) = fetch(state, key_id, path_and_query, headers).await else { continue };
        let found = match kind {
            PinKind::File => value.pointer("/data/data").cloned(),
            PinKind::Voice => value.get("results").or_else(|| value.get("result")).cloned(),
            PinKind::Batch | PinKind::Video => None,
        };
        if let Some(Value::Array(mut list)) = found {
            keep_visible(state, kind, caller, &mut list);
            items.extend(list);
        }
    }
    let body = match kind {
        PinKind::File => {
            // Each owner honoured `limit`; the merged list must too.
            if let Some(limit) = query_param(path_and_query, "limit").and_then(|l| l.parse::<usize>().ok()) {
                items.truncate(limit.max(1));
            }
            json!({"code": 20000, "message": "Ok", "status": true, "data": {"data": items, "object": "file"}})
        }
        _ => json!({"results": items}),
    };
    Ok(Json(body).into_response())
}

/// `GET /v1/batches?limit=&after=`: every owner's complete list, merged
/// newest first, then paged as the client asked, so paging through the
/// union lists each batch exactly once.
async fn batches(state: &AppState, path_and_query: &str, headers: &HeaderMap, caller: Caller<'_>) -> Response {
    let limit = query_param(path_and_query, "limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(20).clamp(1, 100);
    let after = query_param(path_and_query, "after").map(str::to_string);
    let id = |b: &Value| b.get("id").and_then(|v| v.as_str()).unwrap_or("").to_string();
    let mut all: Vec<Value> = Vec::new();
    for key_id in state.pins.owners(PinKind::Batch, caller) {
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let path = match &cursor {
                Some(c) => format!("/v1/batches?limit=100&after={c}"),
                None => "/v1/batches?limit=100".to_string(),
            };
            let Some(value) = fetch(state, key_id, &path, headers).await else { break };
            let mut page = value.get("data").and_then(|d| d.as_array()).cloned().unwrap_or_default();
            let next = page.last().map(id).filter(|c| !c.is_empty());
            keep_visible(state, PinKind::Batch, caller, &mut page);
            all.extend(page);
            if value.get("has_more") != Some(&Value::Bool(true)) || next.is_none() || next == cursor {
                break;
            }
            cursor = next;
        }
    }
    let created = |b: &Value| b.get("created_at").and_then(|v| v.as_i64()).unwrap_or(0);
    all.sort_by(|a, b| created(b).cmp(&created(a)).then_with(|| id(a).cmp(&id(b))));
    all.dedup_by(|a, b| id(a) == id(b));
    let start = match &after {
        Some(after) => all.iter().position(|b| id(b) == *after).map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let has_more = start + page.len() < all.len();
    let first = page.first().map(id);
    let last = page.last().map(id);
    Json(json!({"object": "list", "data": page, "first_id": first, "last_id": last, "has_more": has_more}))
        .into_response()
}
