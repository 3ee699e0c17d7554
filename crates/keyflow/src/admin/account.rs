//! Console login, logout, session and password change.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::{admin_session, is_cross_site};
use super::error::{ApiError, ApiResult};
use crate::access::limiter::{locked_out_message, Way};
use crate::access::session::{cookie, is_tls, set_cookie, Role, ADMIN_COOKIE, ADMIN_TTL};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

/// Gates every login form (admin and guest): same-site only, and not while
/// this address is over its failed-login limit.
pub(super) fn admit_login_attempt(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> ApiResult<()> {
    if is_cross_site(headers) {
        return Err(ApiError::Forbidden("cross-site login refused".into()));
    }
    state.logins.check(peer.ip()).map_err(|wait| ApiError::TooManyRequests(locked_out_message(wait)))
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    admit_login_attempt(&state, peer, &headers)?;
    if !state.admin_auth.verify(&body.username, &body.password).await {
        state.logins.failed(peer.ip(), Way::LoginForm);
        return Err(ApiError::Unauthorized);
    }
    state.logins.succeeded(peer.ip());
    let (value, session) = state.sessions.create(Role::Admin, &body.username).await;
    let cookie = set_cookie(ADMIN_COOKIE, &value, ADMIN_TTL, is_tls(&headers));
    Ok(([(http::header::SET_COOKIE, cookie)], Json(json!({"username": session.username, "csrf_token": session.csrf})))
        .into_response())
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(value) = cookie(&headers, ADMIN_COOKIE) {
        state.sessions.revoke(value).await;
    }
    let cleared = set_cookie(ADMIN_COOKIE, "", std::time::Duration::ZERO, is_tls(&headers));
    ([(http::header::SET_COOKIE, cleared)], Json(json!({"ok": true}))).into_response()
}

pub async fn session(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<serde_json::Value>> {
    let session = admin_session(&state, &headers).await.ok_or(ApiError::Unauthorized)?;
    Ok(Json(json!({"username": session.username, "csrf_token": session.csrf})))
}

#[derive(Deserialize)]
pub struct PasswordBody {
    current: String,
    new: String,
}

/// Changes the admin password and revokes every admin session.
pub async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<PasswordBody>,
) -> ApiResult<Json<serde_json::Value>> {
    // The current password is a credential too: guesses count.
    state.logins.check(peer.ip()).map_err(|wait| ApiError::TooManyRequests(locked_out_message(wait)))?;
    if !state.admin_auth.verify(state.admin_auth.username(), &body.current).await {
        state.logins.failed(peer.ip(), Way::LoginForm);
        return Err(ApiError::BadRequest("the current password is wrong".into()));
    }
    if body.new.chars().count() < 8 {
        return Err(ApiError::BadRequest("the new password needs at least 8 characters".into()));
    }
    state.admin_auth.change(state.store.as_ref(), &body.new).await?;
    state.sessions.revoke_all(Role::Admin).await;
    tracing::info!("admin password changed; sessions revoked");
    Ok(Json(json!({"ok": true})))
}
