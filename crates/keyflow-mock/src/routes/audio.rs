//! `POST /v1/audio/speech` (chunked binary audio) and `POST /v1/audio/transcriptions`.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Value};

use super::form::Form;
use super::{bill, ensure_funds, model_of, parse_object, required_str};
use crate::catalogue::{self, Kind, SYSTEM_VOICES};
use crate::error::ApiError;
use crate::gate::Caller;
use crate::state::{lock, MockState};
use crate::text::fnv1a;

/// Size of each body chunk of synthesized audio.
const AUDIO_CHUNK: usize = 4096;

/// The leading bytes and content type of each `response_format`.
fn format_of(name: &str) -> Option<(&'static [u8], &'static str)> {
    match name {
        "mp3" => Some((b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg")),
        "opus" => Some((b"OggS\x00\x02", "audio/opus")),
        "wav" => Some((b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav")),
        "pcm" => Some((b"", "audio/pcm")),
        _ => None,
    }
}

/// Deterministic audio for `input`: the format's header, then bytes derived
/// from the text, 256 + 64 per character (capped at 1 MiB).
pub fn synthesize(input: &str, header: &[u8]) -> Vec<u8> {
    let len = (256 + 64 * input.chars().count()).min(1 << 20);
    let seed = fnv1a(input.as_bytes());
    let mut audio = Vec::with_capacity(header.len() + len);
    audio.extend_from_slice(header);
    audio.extend((0..len as u64).map(|i| (seed.rotate_left((i % 64) as u32) ^ i) as u8));
    audio
}

pub(super) async fn speech(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let object = parse_object(&body)?;
    let spec = model_of(&object, &[Kind::TextToSpeech])?;
    let input = required_str(&object, "input")?;
    if input.chars().count() > 128_000 {
        return Err(ApiError::InvalidParameter);
    }
    if let Some(voice) = object.get("voice").filter(|voice| !voice.is_null()) {
        if object.get("references").is_some_and(|refs| !refs.is_null()) {
            return Err(ApiError::InvalidParameter);
        }
        let voice = voice.as_str().ok_or(ApiError::InvalidParameter)?;
        let system = voice
            .strip_prefix(spec.id)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|name| SYSTEM_VOICES.contains(&name));
        let custom = voice.starts_with("speech:") && lock(&state.inner.resources).owns_voice(&caller.key, voice);
        if !system && !custom {
            return Err(ApiError::InvalidParameter);
        }
    }
    let format = object.get("response_format").and_then(Value::as_str).unwrap_or("mp3");
    let (header_bytes, content_type) = format_of(format).ok_or(ApiError::InvalidParameter)?;
    ensure_funds(&state, &caller, spec, StatusCode::PAYMENT_REQUIRED)?;
    bill(&state, &caller, spec, input.len() as u64, (0, 0, 0));

    // Sent as several chunks without a length, like upstream's chunked audio.
    let audio = Bytes::from(synthesize(input, header_bytes));
    let chunks: Vec<Bytes> = (0..audio.len())
        .step_by(AUDIO_CHUNK)
        .map(|start| audio.slice(start..(start + AUDIO_CHUNK).min(audio.len())))
        .collect();
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, Infallible>));
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// The transcript names the upload's size and FNV-1a hash so tests can check
/// that a gateway passed the file through byte for byte.
pub fn transcript(audio: &[u8]) -> String {
    format!("模拟转写：收到 {} 字节音频 (fnv1a {:016x})", audio.len(), fnv1a(audio))
}

pub(super) async fn transcribe(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let form = Form::read(multipart.map_err(|_| ApiError::InvalidParameter)?).await?;
    let model = form.text("model")?;
    let spec = catalogue::find(model).filter(|spec| spec.kind == Kind::SpeechToText).ok_or(ApiError::ModelNotFound)?;
    let file = form.file.as_ref().ok_or(ApiError::InvalidParameter)?;
    if file.bytes.is_empty() {
        return Err(ApiError::InvalidParameter);
    }
    ensure_funds(&state, &caller, spec, StatusCode::PAYMENT_REQUIRED)?;
    bill(&state, &caller, spec, 0, (0, 0, 0));
    Ok(Json(json!({"text": transcript(&file.bytes)})))
}
