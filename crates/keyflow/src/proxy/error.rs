//! Errors keyflow itself answers on `/v1`: OpenAI's shape, or Anthropic's
//! on `/v1/messages`. Upstream's own errors never pass through here; they
//! reach the client unchanged.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::images::ImageError;
use crate::upstream::failover::FailoverError;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("invalid client token: send `Authorization: Bearer <token>` (or `x-api-key`) with a token configured in keyflow")]
    Unauthorized,
    #[error("{0}")]
    ModelNotAllowed(String),
    #[error("model `{0}` is disabled on this gateway; ask the operator or pick another model")]
    ModelBanned(String),
    #[error("request body exceeds {0} bytes; send a smaller body or raise MAX_BODY_BYTES")]
    BodyTooLarge(usize),
    #[error("{0}")]
    BadRequest(String),
    /// A prompt holding a banned word (images through chat).
    #[error("the prompt contains a banned word (`{0}`); rephrase it without that word")]
    ContentPolicy(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NoKey(String),
    #[error("upstream unreachable: {0}; check UPSTREAM_URL and the network")]
    Unreachable(String),
    #[error("upstream did not answer within {0} s; retry, or raise FIRST_BYTE_TIMEOUT")]
    Timeout(u64),
    #[error("rate limit of this client token reached ({0} requests per minute); retry in a minute")]
    TokenRateLimited(u32),
    #[error("spend quota of this client token is used up; ask the operator to raise it")]
    QuotaExceeded,
    /// Too many failed credentials from this address.
    #[error("{0}")]
    LockedOut(String),
    /// The request body stopped arriving, or arrived too slowly.
    #[error("{0}")]
    SlowBody(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Unauthorized => StatusCode::UNAUTHORIZED,
            ProxyError::ModelNotAllowed(_) | ProxyError::ModelBanned(_) => StatusCode::FORBIDDEN,
            ProxyError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::BadRequest(_) | ProxyError::ContentPolicy(_) => StatusCode::BAD_REQUEST,
            ProxyError::NotFound(_) => StatusCode::NOT_FOUND,
            ProxyError::NoKey(_) => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Unreachable(_) => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::TokenRateLimited(_) | ProxyError::QuotaExceeded | ProxyError::LockedOut(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ProxyError::SlowBody(_) => StatusCode::REQUEST_TIMEOUT,
            ProxyError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::Unauthorized => "invalid_api_key",
            ProxyError::ModelNotAllowed(_) => "model_not_allowed",
            ProxyError::ModelBanned(_) => "model_banned",
            ProxyError::BodyTooLarge(_) => "body_too_large",
            ProxyError::BadRequest(_) => "invalid_request",
            ProxyError::ContentPolicy(_) => "content_policy_violation",
            ProxyError::NotFound(_) => "not_found",
            ProxyError::NoKey(_) => "50301",
            ProxyError::Unreachable(_) => "upstream_unreachable",
            ProxyError::Timeout(_) => "upstream_timeout",
            ProxyError::TokenRateLimited(_) => "rate_limited",
            ProxyError::QuotaExceeded => "quota_exceeded",
            ProxyError::LockedOut(_) => "too_many_failed_logins",
            ProxyError::SlowBody(_) => "request_timeout",
            ProxyError::Internal(_) => "internal_error",
        }
    }

    fn openai_type(&self) -> &'static str {
        match self.status().as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            400 | 408 | 413 => "invalid_request_error",
            _ => "api_error",
        }
    }

    /// Renders in the dialect of the route the client called.
    pub fn render(&self, anthropic: bool) -> Response {
        let message = self.to_string();
        let body = if anthropic {
            let kind = match self.status().as_u16() {
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                400 => "invalid_request_error",
                503 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message, "code": self.code()}})
        } else {
            json!({"error": {"message": message, "type": self.openai_type(), "code": self.code()}})
        };
        (self.status(), axum::Json(body)).into_response()
    }
}

/// The failover loop's errors, in `/v1`'s words (the texts are the same).
impl From<FailoverError> for ProxyError {
    fn from(e: FailoverError) -> ProxyError {
        match e {
            FailoverError::PaidModel(_) => ProxyError::ModelNotAllowed(e.to_string()),
            FailoverError::NoKey(message) => ProxyError::NoKey(message),
            FailoverError::Unreachable(error) => ProxyError::Unreachable(error),
            FailoverError::Timeout(secs) => ProxyError::Timeout(secs),
        }
    }
}

/// Images through chat's refusals, answered like any other on `/v1`.
impl From<ImageError> for ProxyError {
    fn from(e: ImageError) -> ProxyError {
        match e {
            ImageError::BadRequest(message) => ProxyError::BadRequest(message),
            ImageError::ContentPolicy(word) => ProxyError::ContentPolicy(word),
            ImageError::NoKey(message) => ProxyError::NoKey(message),
            ImageError::Internal(message) => ProxyError::Internal(message),
        }
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        self.render(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Images through chat reports failover's errors in their own words:
    /// they must read as `/v1` answers them.
    #[test]
    fn failover_errors_keep_their_text_on_v1() {
        for e in [
            FailoverError::PaidModel("Pro/x".into()),
            FailoverError::NoKey("no usable key".into()),
            FailoverError::Unreachable("connection refused".into()),
            FailoverError::Timeout(7),
        ] {
            let text = e.to_string();
            assert_eq!(ProxyError::from(e).to_string(), text);
        }
    }
}
