//! The public dashboard's data and its guest login, per `ACCESS_CONTROL`:
//! `open` to anyone, `restricted` behind the guest password (a guest
//! session that expires), `private` to the admin only.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::is_admin;
use super::error::{ApiError, ApiResult};
use crate::access::limiter::Way;
use crate::access::session::{cookie, is_tls, set_cookie, Role, GUEST_COOKIE, GUEST_TTL};
use crate::config::AccessControl;
use crate::secret::constant_time_eq;
use crate::state::AppState;

pub async fn dashboard(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let settings = state.settings();
    let allowed = match settings.access_control {
        AccessControl::Open => true,
        AccessControl::Restricted => {
            let guest = match cookie(&headers, GUEST_COOKIE) {
                Some(value) => state.sessions.get(value, Role::Guest).await.is_some(),
                None => false,
            };
            guest || is_admin(&state, peer.ip(), &headers).await?
        }
        AccessControl::Private => is_admin(&state, peer.ip(), &headers).await?,
    };
    if !allowed {
        let (status, code, message) = match settings.access_control {
            AccessControl::Restricted => (
                http::StatusCode::UNAUTHORIZED,
                "guest_login_required",
                "enter the guest password to see the dashboard",
            ),
            _ => (http::StatusCode::FORBIDDEN, "private", "the dashboard is private: log in to the console"),
        };
        return Ok((status, Json(json!({"error": {"code": code, "message": message}}))).into_response());
    }
    let snapshot = state.pool.snapshot();
    let keys: Vec<_> = snapshot
        .entries
        .iter()
        .map(|e| {
            let v = crate::keys::view(&state.pool, e);
            json!({"key": v.key, "state": v.state, "balance": v.balance})
        })
        .collect();
    let live = state.meters.live.rates(crate::clock::now_secs().max(0) as u64);
    Ok(Json(json!({
        "pool_balance": (state.pool.total_balance() * 100.0).round() / 100.0,
        "counts": state.pool.counts(),
        "keys": keys,
        "live": live,
        "access_control": settings.access_control,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub struct GuestLogin {
    password: String,
}

pub async fn guest_login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<GuestLogin>,
) -> ApiResult<Response> {
    super::account::admit_login_attempt(&state, peer, &headers)?;
    let settings = state.settings();
    if settings.access_control != AccessControl::Restricted {
        return Err(ApiError::BadRequest("guest login is only used when ACCESS_CONTROL is `restricted`".into()));
    }
    let expected = settings.guest_password.as_deref().unwrap_or("");
    if expected.is_empty() || !constant_time_eq(body.password.as_bytes(), expected.as_bytes()) {
        state.logins.failed(peer.ip(), Way::GuestLogin);
        return Err(ApiError::Unauthorized);
    }
    state.logins.succeeded(peer.ip());
    // The cookie is a random session id: it holds nothing of the password.
    let (value, _) = state.sessions.create(Role::Guest, "guest").await;
    let cookie = set_cookie(GUEST_COOKIE, &value, GUEST_TTL, is_tls(&headers));
    Ok(([(http::header::SET_COOKIE, cookie)], Json(json!({"ok": true, "expires_in": GUEST_TTL.as_secs()})))
        .into_response())
}
