//! `POST /v1/images/generations` with per-family size checks, and the image links.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Value};

use super::{bill, ensure_funds, model_of, optional_u64, parse_object, public_base, required_str};
use crate::catalogue::{image_sizes, Kind};
use crate::error::ApiError;
use crate::gate::Caller;
use crate::state::MockState;
use crate::text::{fnv1a, lowercase};

/// A valid 1×1 transparent PNG, served for every generated image link.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0a, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The largest `seed` upstream accepts.
const MAX_SEED: u64 = 9_999_999_999;

pub(super) async fn generate(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let object = parse_object(&body)?;
    let spec = model_of(&object, &[Kind::TextToImage])?;
    let prompt = required_str(&object, "prompt")?;
    let (sizes, _default) = image_sizes(spec.id);
    match object.get("image_size") {
        None | Some(Value::Null) => {}
        Some(Value::String(size)) if sizes.contains(&size.as_str()) => {}
        Some(_) => return Err(ApiError::InvalidParameter),
    }
    let batch_size = optional_u64(&object, "batch_size")?.unwrap_or(1);
    if batch_size > 4 {
        return Err(ApiError::InvalidParameter);
    }
    if optional_u64(&object, "num_inference_steps")?.is_some_and(|steps| steps > 100) {
        return Err(ApiError::InvalidParameter);
    }
    let seed = match object.get("seed") {
        None | Some(Value::Null) => fnv1a(prompt.as_bytes()) % MAX_SEED,
        Some(value) => value.as_u64().filter(|seed| *seed <= MAX_SEED).ok_or(ApiError::InvalidParameter)?,
    };
    // Images are refused with 403 (not 402) when the balance is gone, as observed.
    ensure_funds(&state, &caller, spec, StatusCode::FORBIDDEN)?;
    bill(&state, &caller, spec, batch_size, (0, 0, batch_size));

    let base = public_base(&state, &headers);
    let images: Vec<Value> =
        (0..batch_size).map(|_| json!({"url": format!("{base}/files/img/{}.png", lowercase(16))})).collect();
    Ok(Json(json!({"images": images, "timings": {"inference": 0.5}, "seed": seed})))
}

/// `GET /files/img/{name}.png`: the same tiny PNG for every name.
pub(super) async fn serve_image(Path(name): Path<String>) -> Response {
    if !name.ends_with(".png") {
        return ApiError::RouteNotFound.into_response();
    }
    let mut response = Bytes::from_static(PNG).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    response
}
