//! Who may call `/api`: the admin, by console session (cookie + CSRF token)
//! or by HTTP Basic (scripts). State-changing calls from another site are
//! refused whatever the credentials.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use http::Method;

use super::error::ApiError;
use super::session::{cookie, Role, ADMIN_COOKIE};
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
    state.admin_auth.check(user, password)
}

/// The admin session of the request, if its cookie names a live one.
pub fn admin_session(state: &AppState, headers: &http::HeaderMap) -> Option<super::session::Session> {
    cookie(headers, ADMIN_COOKIE).and_then(|value| state.sessions.get(value, Role::Admin))
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser's `Origin` (or `Referer`) naming another host than the one
/// addressed: a cross-site request.
pub fn is_cross_site(headers: &http::HeaderMap) -> bool {
    let host = headers.get(http::header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers
        .get(http::header::ORIGIN)
        .or_else(|| headers.get(http::header::REFERER))
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null");
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let after_scheme = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
            let origin_host = after_scheme.split('/').next().unwrap_or("");
            !origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => true,
        _ => false,
    }
}

/// Rejects every protected `/api` call without admin credentials, and
/// state changes that lack the session's CSRF token or come cross-site.
pub async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    let headers = request.headers();
    let unsafe_method = is_unsafe(request.method());
    if unsafe_method && is_cross_site(headers) {
        return Err(ApiError::Forbidden("cross-site request refused".into()));
    }
    if is_admin_basic(&state, headers) {
        return Ok(next.run(request).await);
    }
    let Some(session) = admin_session(&state, headers) else {
        return Err(ApiError::Unauthorized);
    };
    if unsafe_method {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !crate::secret::constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
            return Err(ApiError::Forbidden("missing or wrong X-CSRF-Token header; reload the console".into()));
        }
    }
    Ok(next.run(request).await)
}
