//! The HTTP/1.1 server loop. axum's own `serve` sets no header timeout
//! (hyper's is inert without a timer), no `TCP_NODELAY` and no connection
//! cap, so keyflow accepts and drives connections itself:
//!
//! - every accepted socket gets `TCP_NODELAY`: streamed events leave at once
//!   instead of waiting for the client's delayed ACK (Nagle);
//! - a request head must arrive within the header timeout, which hyper also
//!   applies while an idle keep-alive connection waits for its next request;
//! - request bodies are wrapped in [`TimedBody`] (pauses and minimum rate);
//! - past `max_connections` a connection is answered 503 and closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service as _, ServiceExt as _};

use super::body::{BodyLimits, TimedBody};

/// The server's limits, from [`crate::config::EdgeConfig`].
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    pub header_timeout: Duration,
    pub body: BodyLimits,
    pub max_connections: usize,
}

impl ServeLimits {
    pub fn from_config(edge: &crate::config::EdgeConfig) -> ServeLimits {
        ServeLimits {
            header_timeout: edge.header_timeout,
            body: BodyLimits { gap: edge.body_timeout, min_rate: edge.min_body_rate },
            max_connections: edge.max_connections,
        }
    }
}

/// What a connection over the cap is told before it is closed.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\nretry-after: 1\r\ncontent-length: 103\r\n\r\n{\"error\":{\"code\":\"too_many_connections\",\"message\":\"keyflow is at its connection limit; retry shortly\"}}";

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets
/// open connections finish their current request and returns when all are
/// closed.
pub async fn serve(listener: TcpListener, router: Router, limits: ServeLimits, shutdown: CancellationToken) {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors or a reset before accept: keep serving.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            connections.spawn(refuse(stream));
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        let service = connection_service(&mut make_service, peer, limits.body).await;
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result),
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await);
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// The router for one connection: its peer address as `ConnectInfo`, its
/// bodies timed.
async fn connection_service(
    make_service: &mut IntoMakeServiceWithConnectInfo<Router, SocketAddr>,
    peer: SocketAddr,
    limits: BodyLimits,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<axum::response::Response, Infallible>> + Send,
> + Send
       + 'static {
    let router = match make_service.call(peer).await {
        Ok(router) => router,
        Err(never) => match never {},
    };
    hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let request = request.map(|incoming| axum::body::Body::new(TimedBody::new(incoming, limits)));
        router.clone().oneshot(request)
    })
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Answers a connection over the cap and closes it, bounded in time.
async fn refuse(mut stream: TcpStream) {
    tracing::warn!("connection limit reached; refusing a connection");
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(OVER_CAPACITY)).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_answer() {
        let text = std::str::from_utf8(OVER_CAPACITY).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("content-length");
        assert_eq!(length, body.len());
        serde_json::from_str::<serde_json::Value>(body).expect("json body");
    }
}
