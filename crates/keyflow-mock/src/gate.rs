//! The two middleware layers every request passes: `observe` (count, record,
//! delay, trace header) and `admit` (auth, faults, RPM), plus the body
//! wrapper that breaks streams for `DropMidStream` / `StallMidStream`.

use std::sync::Arc;

use axum::body::{Body, BodyDataStream};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::fault::{Fault, RateMetric};
use crate::state::{MockState, RecordedRequest};
use crate::text::hex_id;

/// The largest request body the mock reads (transcriptions allow 50 MB).
pub const MAX_BODY: usize = 128 * 1024 * 1024;

/// The authenticated caller, put into request extensions by `admit`.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub key: Arc<str>,
    pub account: Arc<str>,
}

/// The request body as `observe` buffered it (absent in `fast` mode).
#[derive(Debug, Clone)]
struct RawBody(Bytes);

/// The key a request carries: `Authorization: Bearer` first, then `x-api-key`.
fn carried_key(headers: &HeaderMap, allow_x_api_key: bool) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, rest) = value.split_at_checked(7)?;
            scheme.eq_ignore_ascii_case("bearer ").then(|| rest.trim())
        })
        .filter(|key| !key.is_empty());
    bearer.or_else(|| {
        allow_x_api_key
            .then(|| headers.get("x-api-key")?.to_str().ok())
            .flatten()
            .map(str::trim)
            .filter(|key| !key.is_empty())
    })
}

/// Outer layer on every route: counts and records the request, waits the
/// configured latency and stamps `x-siliconcloud-trace-id` on the answer.
pub(crate) async fn observe(State(state): State<MockState>, request: Request, next: Next) -> Response {
    state.count_hit();
    let request = if state.config().fast {
        request
    } else {
        match record(&state, request).await {
            Ok(request) => request,
            Err(response) => return response,
        }
    };
    let latency = state.config().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut response = next.run(request).await;
    if let Ok(trace) = HeaderValue::from_str(&hex_id()) {
        response.headers_mut().insert("x-siliconcloud-trace-id", trace);
    }
    response
}

/// Buffers the body and stores the request under the key it carried.
async fn record(state: &MockState, request: Request) -> Result<Request, Response> {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| ApiError::InvalidParameter.into_response())?;
    if let Some(key) = carried_key(&parts.headers, true) {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        let recorded = RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body: bytes.clone(),
        };
        state.record(key, recorded);
    }
    let mut request = Request::from_parts(parts, Body::from(bytes.clone()));
    request.extensions_mut().insert(RawBody(bytes));
    Ok(request)
}

#[derive(Deserialize)]
struct ModelField {
    model: Option<String>,
}

/// Inner layer on the API routes: checks the key, applies faults and the
/// per-account RPM, and hands the handler a `Caller`.
pub(crate) async fn admit(State(state): State<MockState>, mut request: Request, next: Next) -> Response {
    let messages_route = request.uri().path() == "/v1/messages";
    let Some(key) = carried_key(request.headers(), messages_route) else {
        return ApiError::InvalidKey.into_response();
    };
    let Some(entry) = state.key_entry(key) else {
        return ApiError::InvalidKey.into_response();
    };
    let caller = Caller { key: Arc::from(key), account: entry.account };
    if state.config().fast {
        request.extensions_mut().insert(caller);
        return next.run(request).await;
    }

    let model = if state.faults_armed() || state.rate_limits_set() {
        request
            .extensions()
            .get::<RawBody>()
            .and_then(|raw| serde_json::from_slice::<ModelField>(&raw.0).ok())
            .and_then(|field| field.model)
    } else {
        None
    };
    let mut breaker = None;
    match state.pick_fault(&caller.key, model.as_deref()) {
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::EchoKey) => {
            return ApiError::Invalid(format!("the api key {} may not call this model", caller.key)).into_response();
        }
        Some(fault @ (Fault::DropMidStream { .. } | Fault::StallMidStream { .. })) => {
            breaker = Some(fault);
        }
        Some(fault) => {
            if let Some(error) = fault.error() {
                return error.into_response();
            }
        }
        None => {}
    }
    if let Some(model) = &model {
        if !state.admit_rate(&caller.account, model) {
            return ApiError::RateLimited(RateMetric::Rpm).into_response();
        }
    }
    request.extensions_mut().insert(caller);
    let response = next.run(request).await;
    match breaker {
        Some(fault) => break_body(response, &fault, state.stall_token()),
        None => response,
    }
}

/// How long a dropped stream waits before the cut so its last frames go out.
const FLUSH_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// What the broken body does once its allowance is sent.
#[derive(Clone, Copy)]
enum Ending {
    Drop,
    Stall,
}

struct Cut {
    inner: BodyDataStream,
    frames_left: usize,
    sse: bool,
    ending: Ending,
    stall: CancellationToken,
    done: bool,
}

impl Cut {
    /// The end of the allowance: an error (hyper then aborts the connection
    /// without the final chunk) or silence until the stall is released.
    async fn end(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        self.done = true;
        match self.ending {
            // A short pause lets hyper flush what was sent before the cut;
            // an immediate error would drop the buffered bytes too.
            Ending::Drop => tokio::time::sleep(FLUSH_PAUSE).await,
            Ending::Stall => self.stall.cancelled().await,
        }
        Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "keyflow-mock: stream cut by fault")))
    }

    async fn next_item(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.done {
            return None;
        }
        if !self.sse {
            // A non-stream answer is cut in the middle of its bytes.
            let mut whole = Vec::new();
            while let Some(Ok(chunk)) = self.inner.next().await {
                whole.extend_from_slice(&chunk);
            }
            self.sse = true;
            self.frames_left = 0;
            let half = whole.len() / 2;
            return Some(Ok(Bytes::from(whole).slice(..half)));
        }
        if self.frames_left == 0 {
            return self.end().await;
        }
        match self.inner.next().await {
            Some(Ok(chunk)) => {
                let frames = chunk.windows(2).filter(|pair| pair == b"\n\n").count();
                self.frames_left = self.frames_left.saturating_sub(frames);
                Some(Ok(chunk))
            }
            _ => self.end().await,
        }
    }
}

/// Wraps an answer's body so it ends early, per a stream-breaking fault.
fn break_body(response: Response, fault: &Fault, stall: CancellationToken) -> Response {
    let (after, ending) = match fault {
        Fault::DropMidStream { after_chunks } => (*after_chunks, Ending::Drop),
        Fault::StallMidStream { after_chunks } => (*after_chunks, Ending::Stall),
        _ => return response,
    };
    let (mut parts, body) = response.into_parts();
    let sse =
        parts.headers.get(header::CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"text/event-stream"));
    parts.headers.remove(header::CONTENT_LENGTH);
    let cut = Cut { inner: body.into_data_stream(), frames_left: after, sse, ending, stall, done: false };
    let stream = futures_util::stream::unfold(cut, |mut cut| async move {
        let item = cut.next_item().await?;
        Some((item, cut))
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_wins_and_x_api_key_is_opt_in() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("sk-x"));
        assert_eq!(carried_key(&headers, false), None);
        assert_eq!(carried_key(&headers, true), Some("sk-x"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer sk-b"));
        assert_eq!(carried_key(&headers, true), Some("sk-b"));
    }
}
