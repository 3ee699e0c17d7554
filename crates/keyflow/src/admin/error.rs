//! Errors of the `/api` surface, rendered once as `{"error": {...}}`.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication required: log in, or send HTTP Basic credentials of the admin")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("storage error: {0}")]
    Store(#[from] crate::store::StoreError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Store(_) => "storage_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Store(e) = &self {
            tracing::error!(error = %e, "admin api storage error");
        }
        let mut response =
            (self.status(), axum::Json(json!({"error": {"message": self.to_string(), "code": self.code()}})))
                .into_response();
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, http::HeaderValue::from_static("Basic realm=\"keyflow\""));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

// Service errors, each mapped here once to the HTTP class it belongs to:
// the services know nothing of HTTP, the handlers only use `?`.

impl From<crate::keys::UnknownSort> for ApiError {
    fn from(e: crate::keys::UnknownSort) -> ApiError {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<crate::settings::SettingsError> for ApiError {
    fn from(e: crate::settings::SettingsError) -> ApiError {
        match e {
            crate::settings::SettingsError::Store(e) => ApiError::Store(e),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

impl From<crate::usage::prices::PriceError> for ApiError {
    fn from(e: crate::usage::prices::PriceError) -> ApiError {
        use crate::usage::prices::PriceError;
        match e {
            PriceError::OutOfRange => ApiError::BadRequest(e.to_string()),
            PriceError::NotFound(_) => ApiError::NotFound(e.to_string()),
            PriceError::Store(e) => ApiError::Store(e),
        }
    }
}

impl From<crate::stats::UnknownTimeZone> for ApiError {
    fn from(e: crate::stats::UnknownTimeZone) -> ApiError {
        ApiError::BadRequest(e.to_string())
    }
}
