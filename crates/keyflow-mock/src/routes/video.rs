//! Async video: `POST /v1/video/submit`, `POST /v1/video/status` and the video links.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{bill, ensure_funds, model_of, parse_object, public_base, required_str};
use crate::catalogue::{Kind, VIDEO_SIZES};
use crate::error::ApiError;
use crate::gate::Caller;
use crate::state::{lock, MockState, Video};
use crate::text::{fnv1a, hex_id};

/// The start of an MP4 file (`ftyp` box), served for every video link.
const MP4: &[u8] = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x08free";

/// A UUID-shaped request id.
fn request_id() -> String {
    let hex = hex_id();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

pub(super) async fn submit(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let object = parse_object(&body)?;
    let spec = model_of(&object, &[Kind::TextToVideo])?;
    let prompt = required_str(&object, "prompt")?;
    let size = required_str(&object, "image_size")?;
    if !VIDEO_SIZES.contains(&size) {
        return Err(ApiError::InvalidParameter);
    }
    ensure_funds(&state, &caller, spec, StatusCode::PAYMENT_REQUIRED)?;
    bill(&state, &caller, spec, 1, (0, 0, 0));
    let id = request_id();
    let video = Video {
        owner: caller.key.to_string(),
        polls: 0,
        url: format!("{}/files/video/{id}.mp4", public_base(&state, &headers)),
        seed: object.get("seed").and_then(Value::as_u64).unwrap_or_else(|| fnv1a(prompt.as_bytes()) % 9_999_999_999),
    };
    lock(&state.inner.resources).videos.insert(id.clone(), video);
    Ok(Json(json!({"requestId": id})))
}

/// One poll: `InQueue`, then `InProgress`, then `Succeed` with the link.
pub(super) async fn status(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let object = parse_object(&body)?;
    let id = required_str(&object, "requestId")?;
    let (status, url, seed) = lock(&state.inner.resources).poll_video(&caller.key, id)?;
    let results = if status == "Succeed" {
        json!({"videos": [{"url": url}], "timings": {"inference": 30.0}, "seed": seed})
    } else {
        Value::Null
    };
    Ok(Json(json!({"status": status, "reason": "", "results": results})))
}

/// `GET /files/video/{name}.mp4`: a tiny MP4 header for every name.
pub(super) async fn serve_video(Path(name): Path<String>) -> Response {
    if !name.ends_with(".mp4") {
        return ApiError::RouteNotFound.into_response();
    }
    let mut response = Bytes::from_static(MP4).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    response
}
