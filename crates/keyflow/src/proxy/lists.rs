//! List routes over pinned resources: upstream lists only one account's
//! files, batches or voices, so keyflow asks every key that owns some and
//! merges the answers into upstream's shape.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::HeaderMap;
use serde_json::{json, Value};

use super::error::ProxyError;
use super::route::PinKind;
use crate::state::AppState;
use crate::upstream::{read_body, Outbound};

pub async fn union(
    state: &AppState,
    kind: PinKind,
    path_and_query: &str,
    headers: &HeaderMap,
) -> Result<Response, ProxyError> {
    let settings = state.settings();
    let timeout = std::time::Duration::from_secs(settings.first_byte_timeout_secs.max(1));
    let mut items: Vec<Value> = Vec::new();
    for key_id in state.pins.owners(kind) {
        let Some(entry) = state.pool.get(key_id) else { continue };
        let out = Outbound { method: http::Method::GET, path_and_query, headers, body: bytes::Bytes::new() };
        let response = match state.upstream.send(out, &entry.secret, timeout).await {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                tracing::warn!(key = %entry.secret, status = r.status().as_u16(), "list call failed for one owner");
                continue;
            }
            Err(e) => {
                tracing::warn!(key = %entry.secret, error = %e, "list call failed for one owner");
                continue;
            }
        };
        let Ok(body) = read_body(response, 16 << 20, timeout).await else { continue };
        let Ok(value) = serde_json::from_slice::<Value>(&body) else { continue };
        let found = match kind {
            PinKind::File => value.pointer("/data/data").cloned(),
            PinKind::Batch => value.get("data").cloned(),
            PinKind::Voice => value.get("results").or_else(|| value.get("result")).cloned(),
            PinKind::Video => None,
        };
        if let Some(Value::Array(list)) = found {
            items.extend(list);
        }
    }
    let body = match kind {
        PinKind::File => {
            json!({"code": 20000, "message": "Ok", "status": true, "data": {"data": items, "object": "file"}})
        }
        PinKind::Batch => {
            let first = items.first().and_then(|b| b.get("id")).cloned().unwrap_or(Value::Null);
            let last = items.last().and_then(|b| b.get("id")).cloned().unwrap_or(Value::Null);
            json!({"object": "list", "data": items, "first_id": first, "last_id": last, "has_more": false})
        }
        PinKind::Voice | PinKind::Video => json!({"results": items}),
    };
    Ok(Json(body).into_response())
}
