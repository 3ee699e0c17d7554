//! Who may call `/api`: the admin, by console session (cookie + CSRF token)
//! or by HTTP Basic (scripts). State-changing calls from another site are
//! refused whatever the credentials.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use http::Method;

use super::error::ApiError;
use crate::access::limiter::{locked_out_message, Way};
use crate::access::session::{cookie, Role, ADMIN_COOKIE};
use crate::state::AppState;

/// The user name and password of an HTTP Basic `Authorization` header.
fn basic_credentials(headers: &http::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The client address of a request (unspecified when served without one,
/// as in router tests).
pub fn peer_ip(extensions: &http::Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip())
}

/// Whether the headers carry the admin's HTTP Basic credentials. Wrong ones
/// count against the address's failed-login limit; while it is locked out
/// the answer is `429` without a check.
pub async fn admin_by_basic(state: &AppState, peer: IpAddr, headers: &http::HeaderMap) -> Result<bool, ApiError> {
    let Some((user, password)) = basic_credentials(headers) else { return Ok(false) };
    state.logins.check(peer).map_err(|wait| ApiError::TooManyRequests(locked_out_message(wait)))?;
    if state.admin_auth.verify(&user, &password).await {
        state.logins.succeeded(peer);
        Ok(true)
    } else {
        state.logins.failed(peer, Way::Basic);
        Ok(false)
    }
}

/// Whether the request comes from the admin: a console session or HTTP Basic.
pub async fn is_admin(state: &AppState, peer: IpAddr, headers: &http::HeaderMap) -> Result<bool, ApiError> {
    if admin_session(state, headers).await.is_some() {
        return Ok(true);
    }
    admin_by_basic(state, peer, headers).await
}

/// The admin session of the request, if its cookie names a live one.
pub async fn admin_session(state: &AppState, headers: &http::HeaderMap) -> Option<crate::access::session::Session> {
    let value = cookie(headers, ADMIN_COOKIE)?;
    state.sessions.get(value, Role::Admin).await
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser's `Origin` (or `Referer`) naming another host than the one
/// addressed: a cross-site request. `Origin: null` (sandboxed frames,
/// `data:` pages) is cross-site too. A request with neither header is a
/// script's, not a page's. The `Host` itself was checked by
/// `edge::host`, so a rebound domain never gets this far.
pub fn is_cross_site(headers: &http::HeaderMap) -> bool {
    let host = headers.get(http::header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(http::header::ORIGIN).or_else(|| headers.get(http::header::REFERER));
    let Some(origin) = origin else { return false };
    let Ok(origin) = origin.to_str() else { return true };
    if origin.trim().eq_ignore_ascii_case("null") {
        return true;
    }
    match (Some(origin), host) {
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
    if admin_by_basic(&state, peer_ip(request.extensions()), headers).await? {
        return Ok(next.run(request).await);
    }
    let Some(session) = admin_session(&state, headers).await else {
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
