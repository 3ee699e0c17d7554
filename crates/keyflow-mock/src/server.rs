//! `MockServer`: the mock's router served on a real TCP port, with clean shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::MockConfig;
use crate::routes::router;
use crate::state::MockState;

/// How long `shutdown` lets open connections finish before dropping them.
const DRAIN: Duration = Duration::from_secs(2);

/// A running mock bound to a local address.
pub struct MockServer {
    addr: SocketAddr,
    state: MockState,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl MockServer {
    /// Serves a fresh mock on `127.0.0.1` at a free port.
    pub async fn start(config: MockConfig) -> anyhow::Result<MockServer> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Serves a fresh mock on `addr` (port 0 picks a free port).
    pub async fn start_on(addr: SocketAddr, config: MockConfig) -> anyhow::Result<MockServer> {
        Self::start_with_state(addr, MockState::new(config)).await
    }

    /// Serves an existing state (keys added beforehand stay) on `addr`.
    pub async fn start_with_state(addr: SocketAddr, state: MockState) -> anyhow::Result<MockServer> {
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding the mock to {addr}"))?;
        let addr = listener.local_addr().context("reading the mock's address")?;
        state.set_public_url(&format!("http://{addr}"));
        // Streamed chunks are small; Nagle's algorithm would hold them back.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        });
        let stop = CancellationToken::new();
        let app = router(state.clone());
        let signal = stop.clone().cancelled_owned();
        let tracker = TaskTracker::new();
        let task = tracker.spawn(async move {
            if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(signal).await {
                tracing::warn!(%error, "mock server stopped with an error");
            }
        });
        tracker.close();
        Ok(MockServer { addr, state, stop, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The control handle (shares state with the server).
    pub fn state(&self) -> MockState {
        self.state.clone()
    }

    /// Stops accepting, releases stalled streams, lets open requests finish
    /// for up to two seconds, then drops the rest.
    pub async fn shutdown(self) {
        self.state.release_stalls();
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(DRAIN, &mut task).await.is_err() {
            task.abort();
        }
    }
}
