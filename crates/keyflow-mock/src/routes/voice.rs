//! Custom voices: upload, list and delete, each visible only to the key that made it.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Value};

use super::form::Form;
use super::parse_object;
use crate::catalogue::{self, Kind};
use crate::error::ApiError;
use crate::gate::Caller;
use crate::state::{lock, MockState, Voice};
use crate::text::lowercase;

/// Upstream's rule for `customName`: letters, digits, `_` and `-`, up to 64.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The upload's fields from a multipart form or, as some SDKs send it, JSON.
async fn fields(request: Request) -> Result<(String, String, String, bool), ApiError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        let body = Bytes::from_request(request, &()).await.map_err(|_| ApiError::InvalidParameter)?;
        let object = parse_object(&body)?;
        let text = |name: &str| object.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        let has_audio = text("audio").starts_with("data:");
        return Ok((text("model"), text("customName"), text("text"), has_audio));
    }
    let multipart = Multipart::from_request(request, &()).await.map_err(|_| ApiError::InvalidParameter)?;
    let form = Form::read(multipart).await?;
    let text = |name: &str| form.fields.get(name).cloned().unwrap_or_default();
    let has_audio = text("audio").starts_with("data:") || form.file.as_ref().is_some_and(|file| !file.bytes.is_empty());
    Ok((text("model"), text("customName"), text("text"), has_audio))
}

pub(super) async fn upload(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let (model, custom_name, text, has_audio) = fields(request).await?;
    if model.is_empty() {
        return Err(ApiError::InvalidParameter);
    }
    catalogue::find(&model).filter(|spec| spec.kind == Kind::TextToSpeech).ok_or(ApiError::ModelNotFound)?;
    if !valid_name(&custom_name) || text.is_empty() || !has_audio {
        return Err(ApiError::InvalidParameter);
    }
    let account: String = caller.account.chars().filter(char::is_ascii_alphanumeric).collect();
    let uri = format!("speech:{custom_name}:{account}:{}", lowercase(20));
    lock(&state.inner.resources).voices.push(Voice {
        owner: caller.key.to_string(),
        model,
        custom_name,
        text,
        uri: uri.clone(),
    });
    Ok(Json(json!({"uri": uri})))
}

pub(super) async fn list(State(state): State<MockState>, Extension(caller): Extension<Caller>) -> Json<Value> {
    let resources = lock(&state.inner.resources);
    let results: Vec<Value> = resources
        .voices
        .iter()
        .filter(|voice| *voice.owner == *caller.key)
        .map(|voice| {
            json!({"model": voice.model, "customName": voice.custom_name, "text": voice.text, "uri": voice.uri})
        })
        .collect();
    Json(json!({"results": results}))
}

/// Deletes the caller's voice; answers 200 with an empty body.
pub(super) async fn delete(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let object = parse_object(&body)?;
    let uri = super::required_str(&object, "uri")?;
    lock(&state.inner.resources).delete_voice(&caller.key, uri)?;
    Ok(StatusCode::OK.into_response())
}
