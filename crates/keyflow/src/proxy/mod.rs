//! `/v1`: the client API. Every SiliconFlow route is forwarded with a pool
//! key; a few are served from keyflow's own state (models, user info,
//! billing, list unions).

pub(crate) mod auth;
mod body;
pub mod error;
mod lists;
mod respond;
pub mod route;
mod synth;

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;

pub use auth::presented_token;

use error::ProxyError;
use route::RouteKind;

use crate::pins::PinKind;
use crate::state::AppState;
use crate::upstream::failover::{self, Attempt};
use crate::usage::body::request_facts;
use crate::usage::recorder::Slot;
use crate::usage::Outcome;

/// A request's log entry while it is served: the reserved recorder slot
/// and the outcome filled in as facts become known.
pub struct Pending {
    pub slot: Option<Slot>,
    pub outcome: Outcome,
    pub started: Instant,
}

impl Pending {
    /// Records the outcome through the slot (once).
    pub fn finish(&mut self, status: u16, error: Option<String>) {
        self.outcome.status = status;
        if error.is_some() {
            self.outcome.error = error;
        }
        self.outcome.latency = self.started.elapsed();
        if let Some(slot) = self.slot.take() {
            slot.send(std::mem::take(&mut self.outcome));
        }
    }
}

/// The `/v1/*` handler.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let anthropic = request.uri().path() == "/v1/messages";
    // The one wait recording may cause: room in the log queue (backpressure).
    let slot = state.recorder.slot().await;
    let outcome = Outcome { started_at_ms: crate::clock::now_ms(), stream: false, ..Default::default() };
    let mut pending = Pending { slot, outcome, started };
    match serve(&state, request, &mut pending).await {
        // A slot still held here belongs to an answer that recorded itself.
        Ok(response) => response,
        Err(e) => {
            pending.finish(e.status().as_u16(), Some(e.to_string()));
            e.render(anthropic)
        }
    }
}

async fn serve(state: &AppState, request: Request, pending: &mut Pending) -> Result<Response, ProxyError> {
    let started = pending.started;
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if let Err(e) = route::check_path(path) {
        pending.outcome.route = "invalid path".to_string();
        return Err(ProxyError::BadRequest(e.to_string()));
    }
    let Some(route) = route::classify(&parts.method, path) else {
        // Only an unknown path is logged under the path the client sent.
        pending.outcome.route = path.to_string();
        return Err(ProxyError::NotFound(format!("no route {path}")));
    };
    pending.outcome.route = route.upstream_path.clone();
    let peer = crate::admin::peer_ip(&parts.extensions);
    let client = match auth::admin_by_basic(state, peer, &parts.headers).await? {
        Some(admin) => admin,
        None => auth::authenticate(state, &parts.headers, &mut pending.outcome.client)?,
    };
    pending.outcome.client = client.name.clone();
    let path_and_query = match parts.uri.query() {
        Some(q) => format!("{}?{q}", route.upstream_path),
        None => route.upstream_path.clone(),
    };

    let answered = match route.kind {
        RouteKind::Models => Some(synth::models(state, parts.uri.query()).await?),
        RouteKind::UserInfo => Some(synth::user_info(state)),
        RouteKind::BillingSubscription => Some(synth::billing_subscription(state)),
        RouteKind::BillingUsage => Some(synth::billing_usage(state, parts.uri.query()).await),
        RouteKind::List(kind) => {
            Some(lists::union(state, kind, &path_and_query, &parts.headers, client.caller()).await?)
        }
        _ => None,
    };
    if let Some(response) = answered {
        pending.finish(response.status().as_u16(), None);
        return Ok(response);
    }

    let limit = state.config.max_body_bytes;
    let body = axum::body::to_bytes(body, limit).await.map_err(|e| {
        use std::error::Error as _;
        match e.source().and_then(crate::edge::body::is_slow_body) {
            Some(slow) => ProxyError::SlowBody(slow),
            None => ProxyError::BodyTooLarge(limit),
        }
    })?;
    let json_route = matches!(route.kind, RouteKind::Inference | RouteKind::PassThrough)
        || matches!(route.kind, RouteKind::Owned(_) | RouteKind::Create(PinKind::Batch));
    // A body keyflow would read differently from upstream is refused (SPEC §10).
    let facts = if json_route {
        request_facts(&body).map_err(|e| ProxyError::BadRequest(e.to_string()))?
    } else {
        Default::default()
    };
    pending.outcome.model = facts.model.clone();
    pending.outcome.stream = facts.stream;
    if route.upstream_path == "/v1/audio/speech" {
        pending.outcome.input_chars = json_field(&body, "input").map_or(0, |t| t.chars().count() as u64);
    }
    let settings = state.settings();
    if let Some(model) = facts.model.as_deref() {
        if settings.ban_models.iter().any(|m| m == model) {
            return Err(ProxyError::ModelBanned(model.to_string()));
        }
    }

    // Images through chat (SPEC §7): a chat call to an image model.
    if let (Some(model), "/v1/chat/completions") = (facts.model.as_deref(), route.upstream_path.as_str()) {
        if crate::images::is_image_model(state, model).await {
            return crate::images::serve_chat(state, &client, &parts.headers, &body, started).await.map_err(
                |refused| {
                    // What a refusal spent (a paid prompt expansion) is logged with it.
                    pending.outcome.usage = refused.usage;
                    pending.outcome.upstream_errors = refused.upstream_errors;
                    ProxyError::from(refused.error)
                },
            );
        }
    }

    let pinned = owner_of(state, &route, &body, client.caller()).await?;
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

    let answer = failover::run(
        &state.failover(),
        Attempt {
            method: parts.method.clone(),
            path_and_query: &path_and_query,
            headers: &parts.headers,
            body,
            model: facts.model.as_deref(),
            session: session.as_deref(),
            free_only: client.free_only,
            pinned,
            claims: None,
            blame: route.kind.blame(),
        },
        &mut pending.outcome.upstream_errors,
    )
    .await?;

    let ctx = respond::Context { state, route: &route, dialect, strip_usage };
    respond::respond(ctx, answer, pending).await
}

/// The key that owns the resource a request is about, if it is one.
async fn owner_of(
    state: &AppState,
    route: &route::Route,
    body: &Bytes,
    caller: crate::pins::Caller<'_>,
) -> Result<Option<i64>, ProxyError> {
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
        // Speech in a custom voice must use the account that holds the voice.
        RouteKind::Inference if route.upstream_path == "/v1/audio/speech" => {
            match json_field(body, "voice").filter(|v| v.starts_with("speech:")) {
                Some(uri) => (PinKind::Voice, Some(uri)),
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let Some(id) = id else {
        return Err(ProxyError::BadRequest(format!(
            "this request names no {} id; send the id the create call returned",
            kind.as_str()
        )));
    };
    match state.pins.find(state.store.as_ref(), kind, &id, caller).await {
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
