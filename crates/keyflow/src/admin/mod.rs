//! `/api`: the admin JSON API (keys, models, settings). Every route checks
//! the caller on the server.

mod account;
pub(crate) mod auth;
pub mod error;
mod keys;
mod logs;
mod models;
mod public;
mod settings;
mod stats;
mod tokens;

use axum::routing::{delete, get, patch, post, put};
use axum::Router;

use crate::state::AppState;

pub use auth::{is_admin, peer_ip};
pub use stats::queue_depth;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/keys", get(keys::list).post(keys::import))
        .route("/api/keys/export", get(keys::export))
        .route("/api/keys/refresh", post(keys::refresh).get(keys::refresh_progress))
        .route("/api/keys/delete", post(keys::delete_many))
        .route("/api/keys/{id}", patch(keys::update).delete(keys::delete_one))
        .route("/api/models", get(models::list))
        .route("/api/models/prices", get(models::prices))
        .route("/api/models/prices/{*model}", put(models::put_price).delete(models::delete_price))
        .route("/api/logs", get(logs::list).delete(logs::clear))
        .route("/api/stats/overview", get(stats::overview))
        .route("/api/stats/hourly", get(stats::hourly))
        .route("/api/stats/daily", get(stats::daily))
        .route("/api/stats/monthly", get(stats::monthly))
        .route("/api/models/refresh", post(models::refresh))
        .route("/api/settings", get(settings::get).put(settings::put))
        .route("/api/settings/origins", get(settings::origins))
        .route("/api/tokens", get(tokens::list).post(tokens::create))
        .route("/api/tokens/{id}", delete(tokens::delete))
        .route("/api/password", post(account::change_password))
        .route_layer(axum::middleware::from_fn_with_state(state, auth::require_admin))
        // Reachable without admin credentials; each checks what it needs.
        .route("/api/login", post(account::login).layer(small_body()))
        .route("/api/logout", post(account::logout).layer(small_body()))
        .route("/api/session", get(account::session))
        .route("/api/public/dashboard", get(public::dashboard))
        .route("/api/public/login", post(public::guest_login).layer(small_body()))
        .layer(axum::middleware::from_fn(no_challenge_for_pages))
}

/// Bodies of the routes anyone may call are a user name and a password:
/// nobody unauthenticated gets to make keyflow buffer megabytes.
const UNAUTHENTICATED_BODY_LIMIT: usize = 16 << 10;

fn small_body() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(UNAUTHENTICATED_BODY_LIMIT)
}

/// Drops the `WWW-Authenticate` challenge from answers to the console's
/// own requests (marked `X-Requested-With`): a challenge makes browsers
/// open their password dialog over a `fetch()`. Scripts keep it.
async fn no_challenge_for_pages(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let from_page = request.headers().contains_key("x-requested-with");
    let mut response = next.run(request).await;
    if from_page {
        response.headers_mut().remove(http::header::WWW_AUTHENTICATE);
    }
    response
}

/// Paging shared by list endpoints: `?page=` from 1, `?size=`.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
pub struct Paging {
    pub page: Option<usize>,
    pub size: Option<usize>,
}

impl Paging {
    pub fn resolve(&self, default_size: usize) -> (usize, usize) {
        let page = self.page.unwrap_or(1).max(1);
        let size = self.size.unwrap_or(default_size).clamp(1, 1000);
        (page, size)
    }
}
