//! Re-hosting generated images: upstream's links expire after an hour, so
//! an operator may have each image copied to a Lsky Pro server and/or its
//! link shortened. Each step falls back to the link it was given, and the
//! original link is always kept beside the new one.
//!
//! The image is downloaded only from upstream's own origin or from public
//! addresses ([`guard`]), and every answer is read with a size cap.

mod guard;

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::config::ImageSettings;
use crate::state::AppState;
use crate::upstream::describe;

/// Downloading the image and uploading it each get this long.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);
/// A short-link service answers quickly or not at all.
const SHORTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Generated images are a few MB; refuse to buffer anything much larger.
const MAX_IMAGE_BYTES: usize = 32 << 20;
/// Lsky Pro and short-link answers are small JSON documents.
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// Why one re-hosting step kept the link it was given. Logged for the
/// operator, never shown to the client (who gets upstream's link instead).
#[derive(Debug, thiserror::Error)]
pub enum RehostError {
    #[error("download: not a link: {0}")]
    NotALink(String),
    #[error("download refused: {0}")]
    Refused(#[from] guard::Refused),
    #[error("the download client could not be built")]
    NoClient,
    /// No answer, or a broken or oversized body (`step` says which transfer).
    #[error("{step}: {reason}")]
    Transfer { step: &'static str, reason: String },
    #[error("download answered {0}")]
    DownloadStatus(http::StatusCode),
    #[error("download: image larger than {MAX_IMAGE_BYTES} bytes")]
    TooLarge,
    #[error("upload answer ({status}) is not JSON: {source}")]
    UploadNotJson { status: http::StatusCode, source: serde_json::Error },
    #[error("Lsky Pro answered {status}: {message}")]
    Lsky { status: http::StatusCode, message: String },
    #[error("short-link service answered {0}")]
    ShortenStatus(http::StatusCode),
    #[error("no short link in the service's answer")]
    NoShortLink,
}

fn transfer(step: &'static str) -> impl FnOnce(String) -> RehostError {
    move |reason| RehostError::Transfer { step, reason }
}

/// An image link as shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The link to show: re-hosted and/or shortened when that worked.
    pub url: String,
    /// Upstream's own link.
    pub original: String,
}

impl Link {
    pub fn rehosted(&self) -> bool {
        self.url != self.original
    }
}

/// Applies the configured re-hosting steps to `original`.
pub async fn rehost(state: &AppState, settings: &ImageSettings, original: &str) -> Link {
    let mut url = original.to_string();
    let client = state.upstream.client();
    if let (true, Some(lsky), Some(token)) = (settings.use_lsky_pro, &settings.lsky_url, &settings.lsky_token) {
        match upload_to_lsky(state, &client, lsky, token, original).await {
            Ok(hosted) => url = hosted,
            Err(e) => tracing::warn!(error = %e, "Lsky Pro upload failed; keeping upstream's link"),
        }
    }
    if let (true, Some(service)) = (settings.use_shortlink, &settings.shortlink_url) {
        match shorten(&client, service, settings.shortlink_api_key.as_deref(), &url).await {
            Ok(short) => url = short,
            Err(e) => tracing::warn!(error = %e, "short link failed; keeping the long link"),
        }
    }
    Link { url, original: original.to_string() }
}

/// Downloads the image and uploads it to Lsky Pro's `/api/v1/upload`.
async fn upload_to_lsky(
    state: &AppState,
    client: &reqwest::Client,
    base: &str,
    token: &str,
    image_url: &str,
) -> Result<String, RehostError> {
    let (image, content_type) = download(state, image_url).await?;
    let boundary = format!("keyflow-{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>());
    let body = multipart_file(&boundary, &image, &content_type);
    let base = base.trim_end_matches('/');
    let base = base.strip_suffix("/api/v1").unwrap_or(base);
    let response = client
        .post(format!("{base}/api/v1/upload"))
        .bearer_auth(token)
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .timeout(TRANSFER_TIMEOUT)
        .send()
        .await
        .map_err(|e| transfer("upload")(describe(&e)))?;
    let status = response.status();
    let answer = read_answer("upload answer", response, TRANSFER_TIMEOUT).await?;
    let answer: Value =
        serde_json::from_slice(&answer).map_err(|source| RehostError::UploadNotJson { status, source })?;
    let hosted = answer.pointer("/data/links/url").and_then(Value::as_str).filter(|u| is_http(u));
    match (answer.get("status").and_then(Value::as_bool), hosted) {
        (Some(true), Some(url)) => Ok(url.to_string()),
        _ => {
            let message = answer.get("message").and_then(Value::as_str).unwrap_or("no image link in the answer");
            Err(RehostError::Lsky { status, message: message.to_string() })
        }
    }
}

/// The image bytes and their content type. Links on the configured
/// upstream's origin (trusted, and where a local test upstream serves its
/// images) use the upstream client; any other link goes through the client
/// that connects to public addresses only.
async fn download(state: &AppState, url: &str) -> Result<(Bytes, String), RehostError> {
    let link = reqwest::Url::parse(url).map_err(|e| RehostError::NotALink(e.to_string()))?;
    let upstream = reqwest::Url::parse(state.upstream.base()).ok();
    let request = if upstream.is_some_and(|base| guard::same_origin(&base, &link)) {
        state.upstream.client().get(link)
    } else {
        guard::check_url(&link)?;
        guard::public_client().ok_or(RehostError::NoClient)?.get(link)
    };
    let response = request.timeout(TRANSFER_TIMEOUT).send().await.map_err(|e| transfer("download")(describe(&e)))?;
    if !response.status().is_success() {
        return Err(RehostError::DownloadStatus(response.status()));
    }
    // Refused before reading when the size is announced; counted while
    // streaming otherwise (`read_body`).
    if response.content_length().is_some_and(|n| n > MAX_IMAGE_BYTES as u64) {
        return Err(RehostError::TooLarge);
    }
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|t| t.starts_with("image/"))
        .unwrap_or("image/png")
        .to_string();
    let bytes = crate::upstream::read_stream(reqwest_chunks(response), MAX_IMAGE_BYTES, TRANSFER_TIMEOUT)
        .await
        .map_err(|e| transfer("download")(e.to_string()))?;
    Ok((bytes, content_type))
}

/// A `multipart/form-data` body with the one field Lsky Pro needs, `file`.
/// Built by hand: one fixed part does not justify reqwest's multipart feature.
fn multipart_file(boundary: &str, image: &[u8], content_type: &str) -> Vec<u8> {
    let extension = match content_type {
        "image/jpeg" | "image/jpg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        _ => "png",
    };
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"image.{extension}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let mut body = Vec::with_capacity(head.len() + image.len() + tail.len());
    body.extend_from_slice(head.as_bytes());
    body.extend_from_slice(image);
    body.extend_from_slice(tail.as_bytes());
    body
}

/// Asks the short-link service for a short form of `long`.
/// Shortens `long`. With an API key the service is a Sink server (the
/// image-chat tool's choice): `POST {base}/api/link/create` with Bearer
/// auth, answering `shortLink`; without, `service` takes `{"url": …}` itself.
async fn shorten(
    client: &reqwest::Client,
    service: &str,
    api_key: Option<&str>,
    long: &str,
) -> Result<String, RehostError> {
    let request = match api_key {
        Some(key) => {
            let base = service.trim_end_matches('/');
            let base = base.strip_suffix("/api/link/create").unwrap_or(base);
            client.post(format!("{base}/api/link/create")).bearer_auth(key)
        }
        None => client.post(service),
    };
    let response = request
        .header(http::header::ACCEPT, "application/json")
        .json(&serde_json::json!({"url": long}))
        .timeout(SHORTEN_TIMEOUT)
        .send()
        .await
        .map_err(|e| transfer("short link")(describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(RehostError::ShortenStatus(status));
    }
    let body = read_answer("short link", response, SHORTEN_TIMEOUT).await?;
    short_url_in(&body, long).ok_or(RehostError::NoShortLink)
}

/// A Lsky Pro or short-link answer, at most [`MAX_ANSWER_BYTES`]: a
/// misbehaving service must not make the gateway buffer an endless body.
async fn read_answer(step: &'static str, response: reqwest::Response, timeout: Duration) -> Result<Bytes, RehostError> {
    crate::upstream::read_stream(reqwest_chunks(response), MAX_ANSWER_BYTES, timeout)
        .await
        .map_err(|e| transfer(step)(e.to_string()))
}

/// Where short-link services put the link: liberal, since every one differs.
/// A plain-text body that is a link counts too; the long link itself does not.
fn short_url_in(body: &[u8], long: &str) -> Option<String> {
    const FIELDS: &[&str] = &[
        "/short_url",
        "/shorturl",
        "/shortUrl",
        "/short_link",
        "/shortLink",
        "/short",
        "/link",
        "/url",
        "/data/short_url",
        "/data/shorturl",
        "/data/shortUrl",
        "/data/link",
        "/data/url",
        "/result/short_url",
        "/result/url",
    ];
    let usable = |u: &&str| is_http(u) && *u != long;
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => FIELDS.iter().filter_map(|f| value.pointer(f)?.as_str()).find(usable).map(str::to_string),
        Err(_) => std::str::from_utf8(body).ok().map(str::trim).filter(usable).map(str::to_string),
    }
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

/// An answer's body chunks, with reqwest's errors spelled out.
fn reqwest_chunks(response: reqwest::Response) -> impl futures_util::Stream<Item = Result<bytes::Bytes, String>> {
    use futures_util::TryStreamExt;
    response.bytes_stream().map_err(|e| describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_links_are_found_in_many_shapes() {
        let long = "https://img.example/a/very/long/link.png";
        for body in [
            r#"{"short_url": "https://s.example/a"}"#,
            r#"{"shorturl": "https://s.example/a"}"#,
            r#"{"url": "https://img.example/a/very/long/link.png", "short": "https://s.example/a"}"#,
            r#"{"code": 0, "data": {"short_url": "https://s.example/a"}}"#,
            r#"{"url": "https://s.example/a"}"#,
            "https://s.example/a\n",
        ] {
            assert_eq!(short_url_in(body.as_bytes(), long).as_deref(), Some("https://s.example/a"), "{body}");
        }
        assert_eq!(short_url_in(br#"{"url": "https://img.example/a/very/long/link.png"}"#, long), None);
        assert_eq!(short_url_in(br#"{"error": "quota"}"#, long), None);
        assert_eq!(short_url_in(b"not a link", long), None);
    }

    #[test]
    fn multipart_body_has_one_file_part() {
        let body = multipart_file("B", b"PNGDATA", "image/png");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"image.png\""));
        assert!(text.contains("Content-Type: image/png\r\n\r\nPNGDATA\r\n--B--\r\n"), "{text}");
    }
}
