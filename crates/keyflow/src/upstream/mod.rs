//! SiliconFlow, seen from keyflow: one pooled client, and the one sender
//! every upstream call goes through — proxying and images (through the
//! failover loop), key validation, the catalogue fetch, free-model probes
//! and list unions.
//!
//! [`Upstream::exchange`] sends with a pool key (the only credential that
//! ever leaves, in a header marked sensitive), reads an error answer whole,
//! and classifies what came back — an answer or no answer — into one
//! [`Verdict`] (`classify`). [`failover`] is the loop that picks keys and
//! acts on verdicts. Nothing here knows a surface: callers say what a 401
//! can mean for them ([`Blame`]) and get typed results back.

pub mod classify;
pub mod client;
pub mod failover;
mod key_state;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::Full;

pub use classify::{classify, error_summary, Blame, Verdict};
use client::{Base, HttpClient};
pub use client::{BodyStream, Response, TransportError};

use crate::config::RuntimeSettings;
use crate::secret::Secret;

/// Client headers worth forwarding; everything else (credentials, hop-by-hop,
/// `accept-encoding` so bodies stay readable for the usage tap) stays behind.
const FORWARDED_HEADERS: &[&str] =
    &["content-type", "accept", "anthropic-version", "anthropic-beta", "user-agent", "x-session-id"];

/// Error bodies are small; anything larger is not one we need to read whole.
const ERROR_BODY_LIMIT: usize = 256 * 1024;

/// Why no answer could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("{0}")]
    Connect(String),
    #[error("no answer within {0} s")]
    Timeout(u64),
}

pub struct Upstream {
    base: String,
    /// `base` taken apart once; `None` when it does not parse, and then
    /// every exchange fails with the reason.
    parsed: Result<Base, TransportError>,
    /// SiliconFlow's API: every exchange.
    api: ArcSwap<HttpClient>,
    /// Other hosts (images re-hosted from upstream's storage), built on
    /// first use: most gateways never re-host, and its TLS roots cost memory.
    client: arc_swap::ArcSwapOption<reqwest::Client>,
    connect_timeout: std::sync::atomic::AtomicU64,
}

/// One request to send upstream.
pub struct Outbound<'a> {
    pub method: Method,
    pub path_and_query: &'a str,
    /// The client's headers; only [`FORWARDED_HEADERS`] leave.
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    /// What a 401 can mean for this request.
    pub blame: Blame,
}

impl<'a> Outbound<'a> {
    /// A `GET` without a body, about the key alone ([`Blame::Key`]).
    pub fn get(path_and_query: &'a str, headers: &'a HeaderMap) -> Outbound<'a> {
        Outbound { method: Method::GET, path_and_query, headers, body: Bytes::new(), blame: Blame::Key }
    }
}

/// What one exchange came to, classified once.
pub enum Reply {
    /// A 2xx head: the body is still to be streamed or read by the caller.
    Success(Response),
    /// Upstream's error answer, read whole, with its verdict.
    Refused { status: StatusCode, headers: HeaderMap, body: Bytes, verdict: Verdict },
    /// No answer to act on ([`Verdict::NoAnswer`]).
    Failed(SendError),
}

impl Reply {
    /// The one classification of this reply.
    pub fn verdict(&self) -> Verdict {
        match self {
            Reply::Success(_) => Verdict::Success,
            Reply::Refused { verdict, .. } => verdict.clone(),
            Reply::Failed(e) => Verdict::NoAnswer(e.clone()),
        }
    }
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
        let base = base.trim_end_matches('/').to_string();
        let connect = Duration::from_secs(settings.connect_timeout_secs.max(1));
        Upstream {
            parsed: Base::parse(&base),
            base,
            api: ArcSwap::from_pointee(HttpClient::new(connect)),
            client: arc_swap::ArcSwapOption::empty(),
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
            let connect = Duration::from_secs(settings.connect_timeout_secs.max(1));
            self.api.store(Arc::new(HttpClient::new(connect)));
            self.client.store(None);
        }
    }

    /// The pooled client itself, for calls that are not SiliconFlow's API
    /// (images re-hosted from upstream's storage); they carry no pool key.
    pub fn client(&self) -> Arc<reqwest::Client> {
        if let Some(client) = self.client.load_full() {
            return client;
        }
        let built = Arc::new(build_client(self.connect_timeout.load(std::sync::atomic::Ordering::Relaxed)));
        // Two first uses at once may both build; either client serves.
        self.client.store(Some(Arc::clone(&built)));
        built
    }

    /// Sends one request with `key` and waits for the response head, at most
    /// `wait`; an error answer's body is read whole within `wait` too. Every
    /// outcome comes back classified.
    pub async fn exchange(&self, out: Outbound<'_>, key: &Secret, wait: Duration) -> Reply {
        let blame = out.blame;
        let response = match self.send(out, key, wait).await {
            Ok(response) => response,
            Err(e) => return Reply::Failed(e),
        };
        let status = response.status();
        if status.is_success() {
            return Reply::Success(response);
        }
        let headers = response.headers().clone();
        match read_body(response, ERROR_BODY_LIMIT, wait).await {
            Ok(body) => {
                let verdict = classify(status, &headers, &body, blame);
                Reply::Refused { status, headers, body, verdict }
            }
            // A broken error body is as good as no answer.
            Err(e) => Reply::Failed(e),
        }
    }

    /// The one place a pool key becomes a header.
    async fn send(&self, out: Outbound<'_>, key: &Secret, wait: Duration) -> Result<Response, SendError> {
        let base = self.parsed.as_ref().map_err(|e| SendError::Connect(e.to_string()))?;
        let uri = base.uri(out.path_and_query).map_err(|e| SendError::Connect(e.to_string()))?;
        let mut request = http::Request::new(Full::new(out.body));
        *request.method_mut() = out.method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        for name in FORWARDED_HEADERS {
            if let Some(value) = out.headers.get(*name) {
                headers.insert(*name, value.clone());
            }
        }
        let mut auth = HeaderValue::try_from(format!("Bearer {}", key.expose()))
            .map_err(|_| SendError::Connect("pool key holds characters not allowed in a header".into()))?;
        auth.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, auth);
        let client = self.api.load();
        match tokio::time::timeout(wait, client.send(request)).await {
            Err(_) => Err(SendError::Timeout(wait.as_secs())),
            Ok(Err(e)) => Err(SendError::Connect(e.0)),
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
pub async fn read_body(response: Response, limit: usize, timeout: Duration) -> Result<Bytes, SendError> {
    read_stream(response.bytes_stream(), limit, timeout).await
}

/// Reads a whole body from its chunks, at most `limit` bytes, within
/// `timeout` (also for the other hosts' answers, through reqwest).
pub async fn read_stream<S, E>(stream: S, limit: usize, timeout: Duration) -> Result<Bytes, SendError>
where
    S: futures_util::Stream<Item = Result<Bytes, E>>,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let read = async {
        let mut stream = std::pin::pin!(stream);
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| SendError::Connect(e.to_string()))?;
            if buf.len() + chunk.len() > limit {
                return Err(SendError::Connect(format!("upstream body larger than {limit} bytes")));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(timeout, read).await.unwrap_or(Err(SendError::Timeout(timeout.as_secs())))
}
