//! `/v1`: the client API. Every SiliconFlow route is forwarded with a pool
//! key; a few are served from keyflow's own state (models, user info,
//! billing, list unions).

mod auth;
mod body;
pub mod classify;
pub mod error;
mod forward;
mod lists;
mod outcome;
mod respond;
pub mod route;
mod synth;

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;

pub use auth::presented_token;
pub use outcome::Outcome;

use error::ProxyError;
use forward::Attempt;
use route::{PinKind, RouteKind};

use crate::state::AppState;
use crate::usage::body::request_facts;

/// The `/v1/*` handler.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let anthropic = request.uri().path() == "/v1/messages";
    match serve(&state, request).await {
        Ok(response) => response,
        Err(e) => e.render(anthropic),
    }
}

async fn serve(state: &AppState, request: Request) -> Result<Response, ProxyError> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    let route = route::classify(&parts.method, path).ok_or_else(|| ProxyError::NotFound(format!("no route {path}")))?;
    let client = auth::authenticate(state, &parts.headers)?;
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{}?{q}", route.upstream_path),
        None => route.upstream_path.clone(),
    };

    match route.kind {
        RouteKind::Models => return synth::models(state, parts.uri.query()).await,
        RouteKind::UserInfo => return Ok(synth::user_info(state)),
        RouteKind::BillingSubscription => return Ok(synth::billing_subscription(state)),
        RouteKind::BillingUsage => return Ok(synth::billing_usage(state, parts.uri.query()).await),
        RouteKind::List(kind) => return lists::union(state, kind, &path_and_query, &parts.headers).await,
        _ => {}
    }

    let limit = state.config.max_body_bytes;
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| ProxyError::BodyTooLarge(limit))?;
    let json_route = matches!(route.kind, RouteKind::Inference | RouteKind::PassThrough)
        || matches!(route.kind, RouteKind::Owned(_) | RouteKind::Create(PinKind::Batch));
    let facts = if json_route { request_facts(&body) } else { Default::default() };
    let settings = state.settings();
    if let Some(model) = facts.model.as_deref() {
        if settings.ban_models.iter().any(|m| m == model) {
            return Err(ProxyError::ModelBanned(model.to_string()));
        }
    }

    let pinned = owner_of(state, &route, &body).await?;
    let session = parts
        .headers
        .get("x-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(facts.user.clone())
        .filter(|_| settings.sticky_sessions);

    // Ask for usage in streams so none goes uncounted; strip it again later.
    let dialect = if route.upstream_path == "/v1/messages" {
        crate::usage::Dialect::Anthropic
    } else {
        crate::usage::Dialect::OpenAi
    };
    let (body, strip_usage) = match (facts.stream, dialect) {
        (true, crate::usage::Dialect::OpenAi) => match crate::usage::body::request_include_usage(&body) {
            Some(changed) => (changed, true),
            None => (body, false),
        },
        _ => (body, false),
    };

    let answer = forward::run(
        state,
        Attempt {
            method: parts.method.clone(),
            path_and_query: &path_and_query,
            headers: &parts.headers,
            body,
            model: facts.model.as_deref(),
            session: session.as_deref(),
            free_only: client.free_only,
            pinned,
        },
    )
    .await?;

    let ctx = respond::Context {
        state,
        route: &route,
        client: client.name.clone(),
        model: facts.model.clone(),
        stream: facts.stream,
        dialect,
        strip_usage,
        started,
    };
    respond::respond(ctx, answer).await
}

/// The key that owns the resource a request is about, if it is one.
async fn owner_of(state: &AppState, route: &route::Route, body: &Bytes) -> Result<Option<i64>, ProxyError> {
    let (kind, id) = match route.kind {
        RouteKind::Owned(kind) => {
            let id = match (&route.path_id, kind) {
                (Some(id), _) => Some(id.clone()),
                (None, PinKind::Video) => json_field(body, "requestId"),
                (None, PinKind::Voice) => json_field(body, "uri"),
                _ => None,
            };
            (kind, id)
        }
        RouteKind::Create(PinKind::Batch) => (PinKind::File, json_field(body, "input_file_id")),
        _ => return Ok(None),
    };
    let Some(id) = id else {
        return Err(ProxyError::BadRequest(format!(
            "this request names no {} id; send the id the create call returned",
            kind.as_str()
        )));
    };
    match state.pins.find(state.store.as_ref(), kind, &id).await {
        Ok(Some(key)) => Ok(Some(key)),
        Ok(None) => Err(ProxyError::NotFound(format!(
            "unknown {} `{id}`: it was not created through this gateway",
            kind.as_str()
        ))),
        Err(e) => Err(ProxyError::Internal(e.to_string())),
    }
}

fn json_field(body: &[u8], name: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get(name)?.as_str().map(str::to_string)
}

/// An empty body with a status, for handlers that need one.
pub fn empty(status: http::StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}
