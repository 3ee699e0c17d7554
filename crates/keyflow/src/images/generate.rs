//! One image: an upstream `/v1/images/generations` call through the failover
//! loop on a key no sibling image uses, then the optional re-hosting.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::rehost::{rehost, Link};
use crate::config::ImageSettings;
use crate::state::AppState;
use crate::store::KeyId;
use crate::upstream::failover::{self, Answer, Attempt, KeyClaims};
use crate::upstream::Blame;
use crate::usage::ErrorCounts;

/// An image answer is a small JSON document holding links.
const BODY_LIMIT: usize = 1 << 20;
/// The largest `seed` upstream accepts.
const MAX_SEED: u64 = 9_999_999_999;

/// What every image of one request shares.
pub struct Request<'a> {
    pub state: &'a AppState,
    pub settings: &'a ImageSettings,
    /// Headers for upstream (`content-type`, the client's `user-agent`).
    pub headers: &'a http::HeaderMap,
    pub model: &'a str,
    pub prompt: &'a str,
    /// `None` for models that take no `image_size`.
    pub size: Option<(u32, u32)>,
    /// An input image (image-to-image models), from the chat message.
    pub input_image: Option<&'a str>,
    pub free_only: bool,
    /// Keys taken by this request's images: each image gets its own.
    pub claims: &'a KeyClaims,
}

/// How one image went.
#[derive(Debug, Clone)]
pub enum Generated {
    Done { link: Link, key_id: KeyId, retries: u32, upstream_time: Duration },
    Failed { reason: String, retries: u32 },
}

impl Generated {
    pub fn retries(&self) -> u32 {
        match self {
            Generated::Done { retries, .. } | Generated::Failed { retries, .. } => *retries,
        }
    }
}

/// Generates one image and re-hosts it; never fails, a failure is a result.
/// Also returns the upstream failures met on the way.
pub async fn generate(request: &Request<'_>) -> (Generated, ErrorCounts) {
    let mut errors = ErrorCounts::default();
    let generated = generate_counting(request, &mut errors).await;
    (generated, errors)
}

async fn generate_counting(request: &Request<'_>, errors: &mut ErrorCounts) -> Generated {
    let started = std::time::Instant::now();
    let attempt = Attempt {
        method: http::Method::POST,
        path_and_query: "/v1/images/generations",
        headers: request.headers,
        body: body(request).to_string().into(),
        model: Some(request.model),
        session: None,
        free_only: request.free_only,
        pinned: None,
        claims: Some(request.claims),
        blame: Blame::Key,
    };
    let (response, lease, retries) = match failover::run(&request.state.failover(), attempt, errors).await {
        Ok(Answer::Success { response, lease, retries, .. }) => (response, lease, retries),
        Ok(Answer::Upstream { error, retries, .. }) => return Generated::Failed { reason: error, retries },
        Err(e) => return Generated::Failed { reason: e.to_string(), retries: 0 },
    };
    let key_id = lease.key().id;
    let idle = Duration::from_secs(request.state.settings().idle_timeout_secs.max(1));
    let body = crate::upstream::read_body(response, BODY_LIMIT, idle).await;
    drop(lease);
    let upstream_time = started.elapsed();
    let url = match body {
        Ok(body) => first_image_url(&body),
        Err(e) => return Generated::Failed { reason: format!("reading the answer: {e}"), retries },
    };
    let Some(url) = url else {
        return Generated::Failed { reason: "upstream answered without an image link".into(), retries };
    };
    let link = rehost(request.state, request.settings, &url).await;
    Generated::Done { link, key_id, retries, upstream_time }
}

/// The `/v1/images/generations` body. A random seed per image makes the
/// images of one request differ, as users asking for several expect.
fn body(request: &Request<'_>) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(request.model));
    body.insert("prompt".into(), json!(request.prompt));
    if let Some((w, h)) = request.size {
        body.insert("image_size".into(), json!(format!("{w}x{h}")));
    }
    body.insert("batch_size".into(), json!(1));
    body.insert("seed".into(), json!(rand::random::<u64>() % (MAX_SEED + 1)));
    if let Some(image) = request.input_image {
        body.insert("image".into(), json!(image));
    }
    Value::Object(body)
}

/// The first link of an answer: SiliconFlow's `images`, or OpenAI's `data`.
fn first_image_url(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    ["/images/0/url", "/data/0/url"]
        .iter()
        .find_map(|pointer| value.pointer(pointer)?.as_str())
        .filter(|url| !url.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_come_from_either_shape() {
        let siliconflow = br#"{"images":[{"url":"https://a/1.png"}],"timings":{"inference":1.2},"seed":7}"#;
        assert_eq!(first_image_url(siliconflow).as_deref(), Some("https://a/1.png"));
        assert_eq!(first_image_url(br#"{"data":[{"url":"https://a/2.png"}]}"#).as_deref(), Some("https://a/2.png"));
        assert_eq!(first_image_url(br#"{"images":[]}"#), None);
        assert_eq!(first_image_url(b"oops"), None);
    }
}
