//! What one client request came to: the seam where logs, usage and
//! metrics attach. Recording costs the request path a channel send.

use std::time::Duration;

use crate::store::KeyId;
use crate::usage::Usage;

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub client: Option<std::sync::Arc<str>>,
    pub route: String,
    pub model: Option<String>,
    pub key_id: Option<KeyId>,
    pub status: u16,
    pub error: Option<String>,
    pub latency: Duration,
    /// Time until the first body byte reached keyflow from upstream.
    pub ttfb: Option<Duration>,
    /// Time spent waiting on upstream (for keyflow's own overhead).
    pub upstream_time: Duration,
    pub usage: Option<Usage>,
    pub retries: u32,
    pub stream: bool,
    pub images: u32,
    pub aborted: bool,
}

/// Hands an outcome to the recorder. Never blocks the request path.
pub fn record(state: &crate::state::AppState, outcome: Outcome) {
    tracing::debug!(
        route = %outcome.route,
        model = outcome.model.as_deref().unwrap_or(""),
        key_id = outcome.key_id,
        status = outcome.status,
        retries = outcome.retries,
        latency_ms = outcome.latency.as_millis() as u64,
        aborted = outcome.aborted,
        "request"
    );
    state.recorder.record(outcome);
}
