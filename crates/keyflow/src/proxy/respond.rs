//! Turning the loop's answer into the client's response, recording the
//! outcome, and pinning resources that the answer created.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode};

use super::body::{Recording, TappedBody};
use super::error::ProxyError;
use super::route::{Route, RouteKind};
use super::Pending;
use crate::pins::PinKind;
use crate::state::AppState;
use crate::upstream::failover::Answer;
use crate::usage::body::{image_count, usage_from_body};
use crate::usage::tap::SseTap;
use crate::usage::Dialect;

/// Largest non-stream JSON answer read whole (for usage and pins); larger
/// or non-JSON answers stream through untouched.
const JSON_BUFFER_LIMIT: usize = 16 * 1024 * 1024;

pub struct Context<'a> {
    pub state: &'a AppState,
    pub route: &'a Route,
    pub dialect: Dialect,
    pub strip_usage: bool,
}

pub async fn respond(ctx: Context<'_>, answer: Answer, pending: &mut Pending) -> Result<Response, ProxyError> {
    match answer {
        Answer::Upstream { status, headers, body, key_id, retries, error, upstream_wait } => {
            pending.outcome.key_id = Some(key_id);
            pending.outcome.retries = retries;
            pending.outcome.upstream_time = upstream_wait;
            pending.finish(status.as_u16(), Some(error));
            // Upstream may echo the credential in an error: mask anything key-shaped.
            let body = crate::secret::mask_key_bytes(&body).map_or(body, bytes::Bytes::from);
            Ok(build(status, &headers, Body::from(body), Some(key_id), retries, true))
        }
        Answer::Success { response, lease, retries, upstream_wait } => {
            let status = response.status();
            let key_id = lease.key().id;
            let headers = response.headers().clone();
            let content_type = headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            let settings = ctx.state.settings();
            let idle = Duration::from_secs(settings.idle_timeout_secs.max(1));
            pending.outcome.key_id = Some(key_id);
            pending.outcome.retries = retries;
            pending.outcome.ttfb = Some(upstream_wait);

            let is_json = content_type.starts_with("application/json");
            let small_enough = response.content_length().is_none_or(|n| n as usize <= JSON_BUFFER_LIMIT);
            if is_json && small_enough {
                let read_started = Instant::now();
                let body = crate::upstream::read_body(response, JSON_BUFFER_LIMIT, idle)
                    .await
                    .map_err(|e| ProxyError::Unreachable(e.to_string()))?;
                pending.outcome.usage = usage_from_body(&body);
                pending.outcome.images = image_count(&body);
                pending.outcome.upstream_time = upstream_wait + read_started.elapsed();
                if let RouteKind::Create(kind) = ctx.route.kind {
                    pin_created(ctx.state, kind, &body, key_id, pending.outcome.client.clone()).await;
                }
                pending.finish(status.as_u16(), None);
                drop(lease);
                return Ok(build(status, &headers, Body::from(body), Some(key_id), retries, true));
            }

            let tap = content_type.contains("text/event-stream").then(|| SseTap::new(ctx.dialect, ctx.strip_usage));
            pending.outcome.status = status.as_u16();
            let recording = Recording {
                slot: pending.slot.take(),
                outcome: std::mem::take(&mut pending.outcome),
                started: pending.started,
                upstream_wait,
                lease: Some(lease),
            };
            let body = TappedBody::new(response, tap, ctx.dialect, idle, recording);
            Ok(build(status, &headers, Body::from_stream(body), Some(key_id), retries, false))
        }
    }
}

/// Records which key owns what an answer created.
async fn pin_created(state: &AppState, kind: PinKind, body: &[u8], key_id: i64, client: Option<std::sync::Arc<str>>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return };
    let id = match kind {
        PinKind::Voice => value.get("uri"),
        PinKind::Video => value.get("requestId"),
        PinKind::File => value.pointer("/data/id").or_else(|| value.get("id")),
        PinKind::Batch => value.get("id"),
    };
    if let Some(id) = id.and_then(|v| v.as_str()) {
        state.pins.record(state.store.as_ref(), &state.writer, kind, id, key_id, client).await;
    }
}

/// Headers that belong to one connection, not to the answer.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"];

fn build(
    status: StatusCode,
    upstream: &HeaderMap,
    body: Body,
    key_id: Option<i64>,
    retries: u32,
    whole: bool,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in upstream {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || (n == "content-length" && !whole) {
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    if whole {
        headers.remove(http::header::CONTENT_LENGTH);
    }
    if let Some(id) = key_id {
        headers.insert(KEY_ID, HeaderValue::from(id));
    }
    let retries = if retries == 0 { HeaderValue::from_static("0") } else { HeaderValue::from(retries) };
    headers.insert(RETRIES, retries);
    response
}

/// keyflow's own answer headers, named once (a name from `&str` allocates
/// on every request).
const KEY_ID: http::HeaderName = http::HeaderName::from_static("x-keyflow-key-id");
const RETRIES: http::HeaderName = http::HeaderName::from_static("x-keyflow-retries");
