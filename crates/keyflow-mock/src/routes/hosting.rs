//! Fakes of the services keyflow re-hosts images with: a Lsky Pro image
//! host (`POST /api/v1/upload`) and a short-link service (`POST /shorten`).
//!
//! They live outside the SiliconFlow key check: Lsky Pro has its own token
//! ([`LSKY_TOKEN`]) and the shortener takes none.

use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::{json, Value};

use super::public_base;
use crate::state::MockState;
use crate::text::{fnv1a, lowercase};

/// The only token the fake Lsky Pro accepts (`Authorization: Bearer ...`).
pub const LSKY_TOKEN: &str = "lsky-mock-token";
/// The API key the fake Sink short-link server accepts.
pub const SINK_KEY: &str = "sink-mock-key";

/// Lsky Pro's failure shape: `status: false` and a message.
fn lsky_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"status": false, "message": message, "data": {}}))).into_response()
}

/// `POST /api/v1/upload`: stores nothing, answers a link under the mock
/// (served by `GET /lsky/i/{name}`) in Lsky Pro's v1 answer shape.
pub(super) async fn lsky_upload(State(state): State<MockState>, headers: HeaderMap, multipart: Multipart) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    if token != Some(LSKY_TOKEN) {
        return lsky_error(StatusCode::UNAUTHORIZED, "Unauthenticated.");
    }
    let Some((file_name, mime, bytes)) = file_field(multipart).await else {
        return lsky_error(StatusCode::UNPROCESSABLE_ENTITY, "file 不能为空");
    };
    let key = lowercase(16);
    let extension = match mime.as_str() {
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        _ => "png",
    };
    let url = format!("{}/lsky/i/{key}.{extension}", public_base(&state, &headers));
    let data = json!({
        "key": key,
        "name": format!("{key}.{extension}"),
        "pathname": format!("{key}.{extension}"),
        "origin_name": file_name,
        "size": bytes.len() as f64 / 1024.0,
        "mimetype": mime,
        "extension": extension,
        "md5": format!("{:016x}", fnv1a(&bytes)),
        "links": {
            "url": url,
            "html": format!("<img src=\"{url}\" alt=\"{file_name}\" title=\"{file_name}\" />"),
            "markdown": format!("![{file_name}]({url})"),
            "thumbnail_url": url,
        },
    });
    Json(json!({"status": true, "message": "上传成功", "data": data})).into_response()
}

/// The non-empty `file` field: its file name, content type and bytes.
async fn file_field(mut multipart: Multipart) -> Option<(String, String, Bytes)> {
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("image.png").to_owned();
        let mime = field.content_type().unwrap_or("application/octet-stream").to_owned();
        let bytes = field.bytes().await.ok()?;
        return (!bytes.is_empty()).then_some((name, mime, bytes));
    }
    None
}

/// `POST /shorten` with `{"url": "<long>"}`: answers a short link made
/// from a hash of the long one (the mock keeps no table, so it does not redirect).
pub(super) async fn shorten(State(state): State<MockState>, headers: HeaderMap, body: Bytes) -> Response {
    let long = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|value| value.get("url")?.as_str().map(str::to_owned))
        .filter(|url| url.starts_with("http://") || url.starts_with("https://"));
    let Some(long) = long else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "`url` must be an http(s) link"}))).into_response();
    };
    let code = format!("{:08x}", fnv1a(long.as_bytes()) & 0xffff_ffff);
    let short = format!("{}/s/{code}", public_base(&state, &headers));
    Json(json!({"short_url": short, "url": long, "code": code})).into_response()
}

/// `POST /api/link/create` as a Sink server answers it: Bearer [`SINK_KEY`],
/// JSON `{"url": …}`, the short link in `shortLink`.
pub(super) async fn sink_create(State(state): State<MockState>, headers: HeaderMap, body: Bytes) -> Response {
    let bearer = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {SINK_KEY}")) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"statusCode": 401, "statusMessage": "Unauthorized"})))
            .into_response();
    }
    let long =
        serde_json::from_slice::<Value>(&body).ok().and_then(|value| value.get("url")?.as_str().map(str::to_owned));
    let Some(long) = long else {
        return (StatusCode::BAD_REQUEST, Json(json!({"statusCode": 400, "statusMessage": "url required"})))
            .into_response();
    };
    let slug = format!("{:08x}", fnv1a(long.as_bytes()) & 0xffff_ffff);
    let short = format!("{}/k/{slug}", public_base(&state, &headers));
    Json(json!({"link": {"url": long, "slug": slug}, "shortLink": short})).into_response()
}
