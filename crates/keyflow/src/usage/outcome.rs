//! What one client request came to: the seam where logs, usage and
//! metrics attach. Recording costs the request path a channel send.
//!
//! It lives with the recording pipeline that consumes it; `/v1` and images
//! through chat fill it in, and nothing below this floor needs to know them.

use std::time::Duration;

use super::Usage;
use crate::store::KeyId;

/// Upstream failures met along the way, by class (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    pub key_dead: u16,
    pub no_balance: u16,
    pub forbidden: u16,
    pub rate_limited: u16,
    pub server: u16,
    pub timeout: u16,
    pub connect: u16,
}

impl ErrorCounts {
    /// `(class, count)` pairs with a non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u16)> {
        [
            ("key_dead", self.key_dead),
            ("no_balance", self.no_balance),
            ("forbidden", self.forbidden),
            ("rate_limited", self.rate_limited),
            ("server", self.server),
            ("timeout", self.timeout),
            ("connect", self.connect),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Unix milliseconds when the request arrived.
    pub started_at_ms: i64,
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
    /// Characters of input for priced-by-character routes (speech).
    pub input_chars: u64,
    pub upstream_errors: ErrorCounts,
}
