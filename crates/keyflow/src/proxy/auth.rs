//! Client tokens: who may call `/v1`, and with which scope.

use std::sync::Arc;

use http::HeaderMap;

use super::error::ProxyError;
use crate::access::client::Client;
use crate::secret::constant_time_eq;
use crate::state::AppState;

/// The admin, when the request carries the admin's HTTP Basic credentials
/// (wrong ones count against the address's failed-login limit).
pub async fn admin_by_basic(
    state: &AppState,
    peer: std::net::IpAddr,
    headers: &HeaderMap,
) -> Result<Option<Client>, ProxyError> {
    match crate::admin::auth::admin_by_basic(state, peer, headers).await {
        Ok(true) => Ok(Some(Client { name: Some(Arc::from("admin")), free_only: false, admin: true })),
        Ok(false) => Ok(None),
        Err(e) => Err(ProxyError::LockedOut(e.to_string())),
    }
}

/// The token from `Authorization: Bearer T` or `x-api-key: T`.
pub fn presented_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        // The scheme is case-insensitive (`BEARER` from some clients).
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
            _ => value,
        };
        return Some(token.trim());
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Identifies the caller. `named` gets the token's name as soon as it is
/// known, so a refusal for its limits is still attributed to it.
pub fn authenticate(state: &AppState, headers: &HeaderMap, named: &mut Option<Arc<str>>) -> Result<Client, ProxyError> {
    let config = &state.config;
    let token = presented_token(headers);
    if let Some(info) = token.filter(|t| !t.is_empty()).and_then(|t| state.tokens.find(t)) {
        *named = Some(Arc::clone(&info.name));
        return admit(state, &info);
    }
    let matches = |list: &[crate::secret::Secret]| {
        token.and_then(|t| list.iter().position(|s| constant_time_eq(s.expose().as_bytes(), t.as_bytes())))
    };
    if let Some(i) = matches(&config.client_tokens) {
        return Ok(Client { name: Some(Arc::from(format!("env:{}", i + 1))), free_only: false, admin: false });
    }
    if let Some(i) = matches(&config.free_client_tokens) {
        return Ok(Client { name: Some(Arc::from(format!("free:{}", i + 1))), free_only: true, admin: false });
    }
    if config.client_tokens.is_empty() && config.free_client_tokens.is_empty() && state.tokens.is_empty() {
        // Open only while no client token of any kind exists: a configured
        // free-models-only token must not leave paid models open to
        // callers who present no token at all.
        return Ok(Client { name: None, free_only: false, admin: false });
    }
    Err(ProxyError::Unauthorized)
}

/// A console token's limits: requests per minute and spend quota.
fn admit(state: &AppState, info: &crate::tokens::TokenInfo) -> Result<Client, ProxyError> {
    if let Some(quota) = info.spend_quota {
        let spent = info.spent(&state.meters);
        if spent >= quota {
            return Err(ProxyError::QuotaExceeded);
        }
    }
    let minute = (crate::clock::now_secs().max(0) / 60) as u64;
    if !info.admit(minute) {
        return Err(ProxyError::TokenRateLimited(info.rpm_limit.unwrap_or(0)));
    }
    Ok(Client { name: Some(Arc::clone(&info.name)), free_only: info.free_only, admin: false })
}
