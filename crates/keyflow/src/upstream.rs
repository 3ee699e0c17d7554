//! The HTTP client to SiliconFlow: one pooled connection set, timeouts
//! from the live settings, the pool key as the only credential sent.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};

use crate::config::RuntimeSettings;
use crate::secret::Secret;

/// Client headers worth forwarding; everything else (credentials, hop-by-hop,
/// `accept-encoding` so bodies stay readable for the usage tap) stays behind.
const FORWARDED_HEADERS: &[&str] =
    &["content-type", "accept", "anthropic-version", "anthropic-beta", "user-agent", "x-session-id"];

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Connect(String),
    #[error("no answer within {0} s")]
    Timeout(u64),
}

pub struct Upstream {
    base: String,
    client: ArcSwap<reqwest::Client>,
    connect_timeout: std::sync::atomic::AtomicU64,
}

/// One request to send upstream.
pub struct Outbound<'a> {
    pub method: Method,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

fn build_client(connect_timeout: u64) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(connect_timeout.max(1)))
        .pool_max_idle_per_host(1024)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

impl Upstream {
    pub fn new(base: &str, settings: &RuntimeSettings) -> Upstream {
        Upstream {
            base: base.trim_end_matches('/').to_string(),
            client: ArcSwap::from_pointee(build_client(settings.connect_timeout_secs)),
            connect_timeout: settings.connect_timeout_secs.into(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Applies changed settings; the client is rebuilt only when the connect
    /// timeout changed, so pooled connections survive other edits.
    pub fn apply(&self, settings: &RuntimeSettings) {
        use std::sync::atomic::Ordering;
        if self.connect_timeout.swap(settings.connect_timeout_secs, Ordering::Relaxed) != settings.connect_timeout_secs
        {
            self.client.store(Arc::new(build_client(settings.connect_timeout_secs)));
        }
    }

    pub fn client(&self) -> Arc<reqwest::Client> {
        self.client.load_full()
    }

    /// Sends one attempt and waits for the response head, at most `first_byte`.
    pub async fn send(
        &self,
        out: Outbound<'_>,
        key: &Secret,
        first_byte: Duration,
    ) -> Result<reqwest::Response, SendError> {
        let url = format!("{}{}", self.base, out.path_and_query);
        let mut request = self.client.load().request(out.method, url);
        for name in FORWARDED_HEADERS {
            if let Some(value) = out.headers.get(*name) {
                request = request.header(*name, value.clone());
            }
        }
        let mut auth = HeaderValue::try_from(format!("Bearer {}", key.expose()))
            .map_err(|_| SendError::Connect("pool key holds characters not allowed in a header".into()))?;
        auth.set_sensitive(true);
        request = request.header(http::header::AUTHORIZATION, auth).body(out.body);
        match tokio::time::timeout(first_byte, request.send()).await {
            Err(_) => Err(SendError::Timeout(first_byte.as_secs())),
            Ok(Err(e)) if e.is_timeout() => Err(SendError::Timeout(first_byte.as_secs())),
            Ok(Err(e)) => Err(SendError::Connect(describe(&e))),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// A reqwest error without the URL (it would be noise) and with its cause.
pub fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Reads a whole (error or JSON) body, at most `limit` bytes, within `timeout`.
pub async fn read_body(response: reqwest::Response, limit: usize, timeout: Duration) -> Result<Bytes, SendError> {
    use futures_util::StreamExt;
    let read = async {
        let mut stream = response.bytes_stream();
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| SendError::Connect(describe(&e)))?;
            if buf.len() + chunk.len() > limit {
                return Err(SendError::Connect(format!("upstream body larger than {limit} bytes")));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(Err(SendError::Timeout(timeout.as_secs())))
}
