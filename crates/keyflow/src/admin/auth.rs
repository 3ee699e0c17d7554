//! Who may call `/api`: the admin, by HTTP Basic (scripts).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;

use super::error::ApiError;
use crate::secret::constant_time_eq;
use crate::state::AppState;

/// Whether the headers carry the admin's HTTP Basic credentials.
pub fn is_admin_basic(state: &AppState, headers: &http::HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic ")) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else { return false };
    let Some((user, password)) = text.split_once(':') else { return false };
    let user_ok = constant_time_eq(user.as_bytes(), state.config.admin_username.as_bytes());
    let password_ok = constant_time_eq(password.as_bytes(), state.config.admin_password.expose().as_bytes());
    user_ok & password_ok
}

/// Rejects every `/api` call without admin credentials.
pub async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    if is_admin_basic(&state, request.headers()) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::Unauthorized)
    }
}
