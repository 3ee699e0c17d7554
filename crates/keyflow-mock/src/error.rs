//! Every error the mock answers, rendered byte for byte in SiliconFlow's shapes.
//!
//! The shapes come from `siliconflow-api.md` §2: 400 is `{code,message,data}`,
//! 401/403/504 are bare JSON strings, 402/403 balance errors carry code
//! 30001 without `data`, 429 has `message` and `data` but no `code`, and an
//! unknown route is Go's plain-text `404 page not found`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::fault::RateMetric;

/// The generic message of code 20015.
pub const INVALID_PARAMETER: &str = "The parameter is invalid. Please check again.";

/// An error answer of the mock.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 401 `"Api key is invalid"`: unknown, removed or wrong-region key.
    InvalidKey,
    /// 402 or 403 with code 30001: the key's balance is used up.
    NoBalance(StatusCode),
    /// 403 `"Forbidden"`: e.g. a model that needs real-name verification.
    Forbidden,
    /// 429 naming the metric that tripped.
    RateLimited(RateMetric),
    /// 400 code 20012: the model id is not in the catalogue (or not for this route).
    ModelNotFound,
    /// 400 code 20015 with the generic message.
    InvalidParameter,
    /// 400 code 20015 with a specific message, `data: null`.
    Invalid(String),
    /// 400 code 20015 for an empty list, which upstream sends without `data`.
    EmptyList,
    /// A file, batch, voice or video id that this key does not own.
    ///
    /// Upstream's answer is undocumented; the mock uses HTTP 404 (so a
    /// gateway's pinning bug is visible) with the documented 20015 body.
    NotOwned,
    /// 404 `404 page not found` in plain text (Go's router default).
    RouteNotFound,
    /// 410 from the retired `/v1/user/info`; the body is undocumented, plain text `Gone`.
    Gone,
    /// 500 with a bare JSON string.
    ServerError,
    /// 503 code 50505.
    Overloaded,
    /// 504 with a bare JSON string.
    GatewayTimeout,
}

impl ApiError {
    /// The HTTP status of this answer.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidKey => StatusCode::UNAUTHORIZED,
            ApiError::NoBalance(status) => *status,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ModelNotFound | ApiError::InvalidParameter | ApiError::Invalid(_) | ApiError::EmptyList => {
                StatusCode::BAD_REQUEST
            }
            ApiError::NotOwned | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::Gone => StatusCode::GONE,
            ApiError::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::GatewayTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The exact body bytes.
    pub fn body(&self) -> String {
        match self {
            ApiError::InvalidKey => "\"Api key is invalid\"".to_owned(),
            ApiError::NoBalance(_) => {
                r#"{"code":30001,"message":"Sorry, your account balance is insufficient"}"#.to_owned()
            }
            ApiError::Forbidden => "\"Forbidden\"".to_owned(),
            ApiError::RateLimited(metric) => format!(
                r#"{{"message":"Request was rejected due to rate limiting. Details: {metric} limit reached.","data":null}}"#
            ),
            ApiError::ModelNotFound => {
                r#"{"code":20012,"message":"Model does not exist. Please check it carefully.","data":null}"#.to_owned()
            }
            ApiError::InvalidParameter | ApiError::NotOwned => coded(20015, INVALID_PARAMETER),
            ApiError::Invalid(message) => coded(20015, message),
            ApiError::EmptyList => {
                r#"{"code":20015,"message":"List should have at least 1 item after validation"}"#.to_owned()
            }
            ApiError::RouteNotFound => "404 page not found".to_owned(),
            ApiError::Gone => "Gone".to_owned(),
            ApiError::ServerError => "\"Internal Server Error\"".to_owned(),
            ApiError::Overloaded => coded(50505, "Model service overloaded. Please try again later."),
            ApiError::GatewayTimeout => "\"Gateway Timeout\"".to_owned(),
        }
    }

    fn content_type(&self) -> &'static str {
        match self {
            ApiError::RouteNotFound | ApiError::Gone => "text/plain; charset=utf-8",
            _ => "application/json",
        }
    }
}

/// `{"code":N,"message":"...","data":null}` with the message JSON-escaped.
fn coded(code: u32, message: &str) -> String {
    let message = serde_json::Value::String(message.to_owned());
    format!(r#"{{"code":{code},"message":{message},"data":null}}"#)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.body()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type()));
        response
    }
}

/// The fallback for every route the mock does not serve.
pub async fn route_not_found() -> ApiError {
    ApiError::RouteNotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_exact() {
        assert_eq!(ApiError::InvalidKey.body(), r#""Api key is invalid""#);
        assert_eq!(
            ApiError::RateLimited(RateMetric::Tpm).body(),
            r#"{"message":"Request was rejected due to rate limiting. Details: TPM limit reached.","data":null}"#
        );
        assert_eq!(
            ApiError::Overloaded.body(),
            r#"{"code":50505,"message":"Model service overloaded. Please try again later.","data":null}"#
        );
        assert_eq!(ApiError::Invalid("a \"b\"".into()).body(), r#"{"code":20015,"message":"a \"b\"","data":null}"#);
    }
}
