//! The HTTP client under [`super::Upstream`]: hyper's pooled client over
//! rustls, aimed at one base URL parsed once.
//!
//! Every proxied request goes through here, so it does only what a proxy
//! needs: the URI is the parsed base's scheme and authority with the
//! request's path appended (no URL parsing, no IDNA per request), no
//! redirects, no cookies, no middleware. Connections are kept alive and
//! reused (`TCP_NODELAY` on), HTTP/1.1 to match what SiliconFlow serves.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Idle connections kept per host: enough for a busy gateway's bursts.
const MAX_IDLE_PER_HOST: usize = 1024;
/// How long an idle connection is kept (upstream closes its own sooner or later).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a request or a body read failed, with the causes spelled out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

impl TransportError {
    fn of(e: &(dyn std::error::Error + 'static)) -> TransportError {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let cause = s.to_string();
            if !text.contains(&cause) {
                text = format!("{text}: {cause}");
            }
            source = s.source();
        }
        TransportError(text)
    }
}

/// A base URL taken apart once: what every request's URI is built from.
#[derive(Debug, Clone)]
pub struct Base {
    scheme: Scheme,
    authority: Authority,
    /// The base's path without its trailing slash (usually empty).
    prefix: String,
}

impl Base {
    pub fn parse(base: &str) -> Result<Base, TransportError> {
        let uri: Uri = base.parse().map_err(|e| TransportError(format!("upstream URL `{base}`: {e}")))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned()) else {
            return Err(TransportError(format!("upstream URL `{base}` needs a scheme and a host")));
        };
        let prefix = uri.path().trim_end_matches('/').to_string();
        Ok(Base { scheme, authority, prefix })
    }

    /// The URI of `path_and_query` (starting with `/`) under this base.
    pub fn uri(&self, path_and_query: &str) -> Result<Uri, TransportError> {
        let path = if self.prefix.is_empty() {
            PathAndQuery::try_from(path_and_query)
        } else {
            PathAndQuery::try_from(format!("{}{path_and_query}", self.prefix))
        };
        let path = path.map_err(|e| TransportError(format!("request path: {e}")))?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path)
            .build()
            .map_err(|e| TransportError(format!("request URI: {e}")))
    }
}

/// The pooled client.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(connect_timeout: Duration) -> HttpClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_keepalive(Some(Duration::from_secs(60)));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .pool_idle_timeout(IDLE_TIMEOUT)
            .build(https);
        HttpClient { inner }
    }

    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response, TransportError> {
        match self.inner.request(request).await {
            Ok(response) => Ok(Response { inner: response }),
            Err(e) => Err(TransportError::of(&e)),
        }
    }
}

/// An upstream answer whose body is still to be read.
#[derive(Debug)]
pub struct Response {
    inner: http::Response<Incoming>,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The body's length when upstream said it.
    pub fn content_length(&self) -> Option<u64> {
        self.inner.body().size_hint().exact()
    }

    /// The body as it arrives, chunk by chunk (trailers are dropped).
    pub fn bytes_stream(self) -> BodyStream {
        BodyStream { body: self.inner.into_body() }
    }
}

/// The data frames of a response body.
pub struct BodyStream {
    body: Incoming,
}

impl Stream for BodyStream {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(TransportError::of(&e)))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(Ok(data))),
                    // A trailers frame: nothing a client of keyflow reads.
                    Err(_) => continue,
                },
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_is_parsed_once_and_joined_with_each_path() {
        let base = Base::parse("https://api.siliconflow.cn").expect("base");
        assert_eq!(base.uri("/v1/chat/completions").expect("uri"), "https://api.siliconflow.cn/v1/chat/completions");
        let base = Base::parse("http://127.0.0.1:9000/proxy/").expect("base");
        assert_eq!(
            base.uri("/v1/files?purpose=batch").expect("uri"),
            "http://127.0.0.1:9000/proxy/v1/files?purpose=batch"
        );
        assert!(Base::parse("not a url").is_err());
        assert!(Base::parse("/relative").is_err());
    }
}
