//! Injectable misbehaviour: error answers, delays and broken streams.

use std::fmt;
use std::time::Duration;

use axum::http::StatusCode;

use crate::error::ApiError;

/// The rate-limit metric a 429 names in its `Details:` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateMetric {
    Rpm,
    Rph,
    Rpd,
    Tpm,
    Tpd,
    Ipm,
    Ipd,
}

impl fmt::Display for RateMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateMetric::Rpm => "RPM",
            RateMetric::Rph => "RPH",
            RateMetric::Rpd => "RPD",
            RateMetric::Tpm => "TPM",
            RateMetric::Tpd => "TPD",
            RateMetric::Ipm => "IPM",
            RateMetric::Ipd => "IPD",
        })
    }
}

/// One way a request can go wrong, set per key, per key and model, for the
/// next n requests, or for a random share of all requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 401 `"Api key is invalid"`.
    Unauthorized,
    /// 402 with code 30001 (chat and most routes when the balance is gone).
    NoBalance402,
    /// 403 with code 30001 (image generation when the balance is gone).
    NoBalance403,
    /// 403 `"Forbidden"`, e.g. a model that needs real-name verification.
    Forbidden,
    /// 429 naming the metric.
    RateLimited(RateMetric),
    /// 500.
    ServerError,
    /// 503 code 50505.
    Overloaded,
    /// 504 bare string.
    GatewayTimeout,
    /// Waits this long, then answers normally.
    Slow(Duration),
    /// 400 whose message repeats the caller's key, as a careless upstream
    /// error might: a gateway must not relay it raw.
    EchoKey,
    /// Answers 200 and sends `after_chunks` whole SSE frames (for chat the
    /// first frame is the role chunk; a non-stream answer sends half its
    /// bytes instead), then breaks the connection: the client sees an
    /// incomplete chunked body, never `[DONE]`.
    DropMidStream { after_chunks: usize },
    /// Like `DropMidStream` but keeps the connection open and silent until
    /// the mock shuts down or `MockState::release_stalls` is called.
    StallMidStream { after_chunks: usize },
}

impl Fault {
    /// The error answer this fault replaces the real one with, if any.
    pub fn error(&self) -> Option<ApiError> {
        match self {
            Fault::Unauthorized => Some(ApiError::InvalidKey),
            Fault::NoBalance402 => Some(ApiError::NoBalance(StatusCode::PAYMENT_REQUIRED)),
            Fault::NoBalance403 => Some(ApiError::NoBalance(StatusCode::FORBIDDEN)),
            Fault::Forbidden => Some(ApiError::Forbidden),
            Fault::RateLimited(metric) => Some(ApiError::RateLimited(*metric)),
            Fault::ServerError => Some(ApiError::ServerError),
            Fault::Overloaded => Some(ApiError::Overloaded),
            Fault::GatewayTimeout => Some(ApiError::GatewayTimeout),
            Fault::Slow(_) | Fault::EchoKey | Fault::DropMidStream { .. } | Fault::StallMidStream { .. } => None,
        }
    }
}

/// How `GET /v1/user/info` behaves, to imitate its 2026 retirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserInfoMode {
    /// The wrapped account object.
    #[default]
    Normal,
    /// Plain-text `404 page not found`.
    NotFound,
    /// 410, as clients reported after the endpoint was retired.
    Gone,
}

/// Where streamed chat and completion chunks carry `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamUsage {
    /// Every chunk carries running totals, as SiliconFlow was observed to do.
    #[default]
    Running,
    /// Only the final (`finish_reason`) chunk carries usage.
    LastOnly,
    /// No chunk carries usage, so only an `include_usage` trailing chunk has it.
    Omitted,
}
