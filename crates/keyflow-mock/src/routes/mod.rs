//! The HTTP surface: the route table and the helpers every handler shares
//! (JSON parsing, model lookup, balance checks and billing).

mod account;
mod audio;
mod batches;
mod chat;
mod completions;
mod embed;
mod fast;
mod form;
mod hosting;
mod images;
mod messages;
mod sse;
mod video;
mod voice;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::catalogue::{self, Kind, ModelSpec};
use crate::error::{route_not_found, ApiError};
use crate::gate::{admit, observe, Caller, MAX_BODY};
use crate::state::MockState;

pub(crate) use fast::CannedCell;
pub use hosting::{LSKY_TOKEN, SINK_KEY};

/// The mock's whole HTTP surface, ready to serve or to mount in-process.
pub fn router(state: MockState) -> Router {
    let api = Router::new()
        .route("/v1/models", get(account::models))
        .route("/v1/user/info", get(account::user_info))
        .route("/v1/chat/completions", post(chat::chat))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/embeddings", post(embed::embeddings))
        .route("/v1/rerank", post(embed::rerank))
        .route("/v1/images/generations", post(images::generate))
        .route("/v1/audio/speech", post(audio::speech))
        .route("/v1/audio/transcriptions", post(audio::transcribe))
        .route("/v1/uploads/audio/voice", post(voice::upload))
        .route("/v1/audio/voice/list", get(voice::list))
        .route("/v1/audio/voice/deletions", post(voice::delete))
        .route("/v1/video/submit", post(video::submit))
        .route("/v1/video/status", post(video::status))
        .route("/v1/files", post(batches::upload_file).get(batches::list_files))
        .route("/v1/batches", post(batches::create).get(batches::list))
        .route("/v1/batches/{id}", get(batches::get_one))
        .route("/v1/batches/{id}/cancel", post(batches::cancel))
        .route_layer(from_fn_with_state(state.clone(), admit));
    // Generated media links are public, like upstream's signed object URLs.
    let media = Router::new()
        .route("/files/img/{name}", get(images::serve_image))
        .route("/files/video/{name}", get(video::serve_video));
    // Image re-hosting fakes (Lsky Pro, a shortener): their own auth, not a key's.
    let hosting = Router::new()
        .route("/api/v1/upload", post(hosting::lsky_upload))
        .route("/lsky/i/{name}", get(images::serve_image))
        .route("/shorten", post(hosting::shorten))
        .route("/api/link/create", post(hosting::sink_create));
    api.merge(media)
        .merge(hosting)
        .fallback(route_not_found)
        .layer(from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The body as a JSON object; anything else is the generic 20015.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(ApiError::InvalidParameter),
    }
}

/// The request's `model`: missing or empty is 20015, unknown or of another
/// kind than the route serves is 20012.
pub(crate) fn model_of(object: &Map<String, Value>, kinds: &[Kind]) -> Result<&'static ModelSpec, ApiError> {
    let id = match object.get("model") {
        Some(Value::String(id)) if !id.is_empty() => id,
        _ => return Err(ApiError::InvalidParameter),
    };
    catalogue::find(id).filter(|spec| kinds.contains(&spec.kind)).ok_or(ApiError::ModelNotFound)
}

/// A required non-empty string field, else 20015.
pub(crate) fn required_str<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match object.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        _ => Err(ApiError::InvalidParameter),
    }
}

/// An optional positive integer field; present but not one is 20015.
pub(crate) fn optional_u64(object: &Map<String, Value>, field: &str) -> Result<Option<u64>, ApiError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().filter(|n| *n > 0).map(Some).ok_or(ApiError::InvalidParameter),
    }
}

/// Whether `field` is `true`.
pub(crate) fn flag(object: &Map<String, Value>, field: &str) -> bool {
    object.get(field).and_then(Value::as_bool).unwrap_or(false)
}

/// Refuses a paid model when the key's balance is not positive, with the
/// route's status (402 for text routes, 403 for images, as observed).
pub(crate) fn ensure_funds(
    state: &MockState,
    caller: &Caller,
    spec: &ModelSpec,
    status: StatusCode,
) -> Result<(), ApiError> {
    if state.config().fast || state.config().is_free(spec.id) {
        return Ok(());
    }
    match state.balance(&caller.key) {
        Some(balance) if balance > 0.0 => Ok(()),
        Some(_) => Err(ApiError::NoBalance(status)),
        None => Err(ApiError::InvalidKey),
    }
}

/// Debits a paid model's cost for `units` and counts the answer as served.
pub(crate) fn bill(state: &MockState, caller: &Caller, spec: &ModelSpec, units: u64, usage: (u64, u64, u64)) {
    if state.config().fast {
        return;
    }
    if !state.config().is_free(spec.id) {
        state.debit(&caller.key, catalogue::cost(spec, units));
    }
    let (prompt_tokens, completion_tokens, images) = usage;
    state.add_served(prompt_tokens, completion_tokens, images);
}

/// The platform success envelope `{"code":20000,"message":..,"status":true,"data":..}`.
pub(crate) fn wrapped(message: &str, data: Value) -> Value {
    json!({"code": 20000, "message": message, "status": true, "data": data})
}

/// The base of generated media links: the configured public URL, else the
/// request's `Host`.
pub(crate) fn public_base(state: &MockState, headers: &HeaderMap) -> String {
    if let Some(url) = state.settings().public_url {
        return url;
    }
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}
