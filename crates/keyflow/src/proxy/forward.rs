//! The failover loop: pick a key, send, classify, act on the key, and try
//! another key or answer (SPEC §3's table, via `classify`).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use super::classify::{classify, error_summary, Verdict};
use super::error::ProxyError;
use super::outcome::ErrorCounts;
use crate::jobs::writer::WriteOp;
use crate::pool::{KeyPool, Lease, ModelClass, Pick};
use crate::state::AppState;
use crate::store::{KeyId, KeyState, KeyStatusUpdate};
use crate::upstream::{read_body, Outbound, SendError};

/// Keys tried at most for one request, condemned ones included.
pub const MAX_KEYS_PER_REQUEST: usize = 16;
/// Error bodies are small; anything larger is not one we need to read whole.
const ERROR_BODY_LIMIT: usize = 256 * 1024;

/// One request, ready to send.
pub struct Attempt<'a> {
    pub method: Method,
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    pub model: Option<&'a str>,
    pub session: Option<&'a str>,
    /// Only free models (a free-models-only client token).
    pub free_only: bool,
    /// The resource's owner: no other key can serve it.
    pub pinned: Option<KeyId>,
    /// Keys shared with concurrent sibling requests that must each use a
    /// different key (images through chat); `None` for ordinary requests.
    pub claims: Option<&'a KeyClaims>,
}

/// The keys a group of concurrent requests has taken, so that no two of
/// them send through the same key.
#[derive(Default)]
pub struct KeyClaims(parking_lot::Mutex<Vec<KeyId>>);

impl KeyClaims {
    /// Picks a key outside `tried` and the claimed ones, and claims it. Pick
    /// and claim happen under one lock so two siblings never take one key.
    fn pick(&self, tried: &[KeyId], pick: impl FnOnce(&[KeyId]) -> Option<Lease>) -> Option<Lease> {
        let mut claimed = self.0.lock();
        let mut exclude = claimed.clone();
        exclude.extend_from_slice(tried);
        let lease = pick(&exclude)?;
        claimed.push(lease.key().id);
        Some(lease)
    }
}

/// What the loop ended with.
pub enum Answer {
    /// A 2xx: the body is still to be read (streamed) by the caller.
    Success { response: reqwest::Response, lease: Lease, retries: u32, upstream_wait: Duration },
    /// Upstream's own non-2xx answer, returned as is.
    Upstream {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        key_id: KeyId,
        retries: u32,
        error: String,
        /// Time spent waiting on upstream over all attempts.
        upstream_wait: Duration,
    },
}

pub async fn run(state: &AppState, attempt: Attempt<'_>, errors: &mut ErrorCounts) -> Result<Answer, ProxyError> {
    let settings = state.settings();
    let model = attempt.model.unwrap_or("");
    let first_byte = Duration::from_secs(settings.first_byte_timeout_secs.max(1));
    let mut tried: Vec<KeyId> = Vec::new();
    let mut transient = 0u32;
    let mut last_upstream: Option<Answer> = None;
    let mut last_problem: Option<String> = None;
    let mut last_send_error: Option<SendError> = None;
    let mut waited = Duration::ZERO;

    while tried.len() < MAX_KEYS_PER_REQUEST {
        let class = match (attempt.free_only, state.catalog.class_of(model, &settings)) {
            (true, ModelClass::Paid) => {
                return Err(ProxyError::ModelNotAllowed(format!(
                    "model `{model}` is a paid model; this client token may call free models only"
                )))
            }
            // A free-only token may try an unknown model on empty keys only.
            (true, _) => ModelClass::Free,
            (false, class) => class,
        };
        let lease = match attempt.pinned {
            Some(id) => match state.pool.get(id) {
                Some(entry) if !tried.contains(&id) || transient > 0 => Some(entry.lease_now()),
                _ => None,
            },
            None => {
                let pick = |exclude: &[KeyId]| {
                    state.pool.pick(&Pick {
                        model,
                        class,
                        exclude,
                        session: attempt.session,
                        strategy: settings.key_strategy,
                        rpm_limit: settings.key_rpm_limit,
                    })
                };
                match attempt.claims {
                    Some(claims) => claims.pick(&tried, pick),
                    None => pick(&tried),
                }
            }
        };
        let Some(lease) = lease else { break };
        let entry = lease.key().clone();
        if attempt.free_only && entry.state() != KeyState::Free && class == ModelClass::Free {
            // Free-only traffic stays on empty keys unless the model is known free.
            if state.catalog.class_of(model, &settings) != ModelClass::Free {
                tried.push(entry.id);
                continue;
            }
        }
        let retries = tried.len() as u32;
        let sent_at = Instant::now();
        let out = Outbound {
            method: attempt.method.clone(),
            path_and_query: attempt.path_and_query,
            headers: attempt.headers,
            body: attempt.body.clone(),
        };
        let sent = state.upstream.send(out, &entry.secret, first_byte).await;
        waited += sent_at.elapsed();
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                transient += 1;
                match e {
                    SendError::Timeout(_) => errors.timeout += 1,
                    SendError::Connect(_) => errors.connect += 1,
                }
                tracing::debug!(key = %entry.secret, error = %e, "upstream attempt failed");
                last_problem = Some(e.to_string());
                last_send_error = Some(e);
                if !tried.contains(&entry.id) {
                    tried.push(entry.id);
                }
                if transient > settings.max_retries {
                    break;
                }
                continue;
            }
        };
        let status = response.status();
        if status.is_success() {
            if !model.is_empty() {
                state.pool.cooldowns().clear(&KeyPool::scope_of(&entry), model);
            }
            return Ok(Answer::Success { response, lease, retries, upstream_wait: waited });
        }
        let headers = response.headers().clone();
        let body = match read_body(response, ERROR_BODY_LIMIT, first_byte).await {
            Ok(body) => body,
            Err(e) => {
                transient += 1;
                last_problem = Some(e.to_string());
                last_send_error = Some(e);
                tried.push(entry.id);
                if transient > settings.max_retries {
                    break;
                }
                continue;
            }
        };
        waited += sent_at.elapsed();
        // Upstream answered: whatever failed before was not the network.
        last_send_error = None;
        let verdict = match classify(status, &headers, &body) {
            // A 401 where the client's own request may have caused it (an
            // unknown path, another account's resource) does not condemn
            // the key: it is re-validated, and the answer goes back as is.
            Verdict::KeyDead if !condemns_on_401(&attempt.method, attempt.path_and_query) => {
                crate::keys::recheck(state, entry.id);
                Verdict::Final
            }
            verdict => verdict,
        };
        count(errors, &verdict);
        let summary = error_summary(status, &body);
        apply_verdict(state, &lease, model, &verdict, &summary);
        let answer = Answer::Upstream {
            status,
            headers,
            body,
            key_id: entry.id,
            retries,
            error: summary.clone(),
            upstream_wait: waited,
        };
        if !tried.contains(&entry.id) {
            tried.push(entry.id);
        }
        match verdict {
            Verdict::Success | Verdict::Final => return Ok(answer),
            Verdict::Transient => {
                transient += 1;
                last_upstream = Some(answer);
                if transient > settings.max_retries {
                    break;
                }
            }
            Verdict::NoBalance if attempt.free_only => {
                return Err(ProxyError::ModelNotAllowed(format!(
                    "model `{model}` is a paid model; this client token may call free models only"
                )));
            }
            _ => {
                last_problem = Some(summary);
                last_upstream = None;
                if attempt.pinned.is_some() {
                    // The resource lives in that one account: say why it failed.
                    return Ok(answer);
                }
            }
        }
    }

    // Out of keys or retries: upstream's last transient answer if there is
    // one, else keyflow's own error.
    if let Some(answer) = last_upstream {
        return Ok(answer);
    }
    // The last attempt never got an answer: upstream is unreachable or
    // silent, which says nothing about the keys.
    match last_send_error {
        Some(SendError::Timeout(secs)) => return Err(ProxyError::Timeout(secs)),
        Some(SendError::Connect(e)) => return Err(ProxyError::Unreachable(e)),
        None => {}
    }
    Err(no_key_error(state, model, tried.len(), last_problem))
}

/// Whether a 401 on this path can only mean that the key is dead: the
/// inference routes and the creation of resources, where the key is the
/// only credential involved. Elsewhere the key is re-validated first.
fn condemns_on_401(method: &Method, path_and_query: &str) -> bool {
    let path = path_and_query.split('?').next().unwrap_or(path_and_query);
    super::route::classify(method, path).is_some_and(|route| {
        matches!(
            route.kind,
            super::route::RouteKind::Inference | super::route::RouteKind::Opaque | super::route::RouteKind::Create(_)
        )
    })
}

fn count(errors: &mut ErrorCounts, verdict: &Verdict) {
    match verdict {
        Verdict::KeyDead => errors.key_dead += 1,
        Verdict::NoBalance => errors.no_balance += 1,
        Verdict::ForbiddenForModel => errors.forbidden += 1,
        Verdict::RateLimited { .. } => errors.rate_limited += 1,
        Verdict::Transient => errors.server += 1,
        Verdict::Success | Verdict::Final => {}
    }
}

fn no_key_error(state: &AppState, model: &str, n_tried: usize, last: Option<String>) -> ProxyError {
    if state.pool.is_empty() {
        return ProxyError::NoKey(
            "the key pool is empty: import keys in the console or with `keyflow keys import`".into(),
        );
    }
    let what = if model.is_empty() { String::new() } else { format!(" for model `{model}`") };
    let last = last.map(|l| format!(" (last upstream answer: {l})")).unwrap_or_default();
    ProxyError::NoKey(format!(
        "no usable key{what}: {n_tried} tried{last}; keys may be cooling down after rate limits, out of balance or invalid — retry later or add keys"
    ))
}

/// What an upstream answer does to the key (and what it teaches about the model).
fn apply_verdict(state: &AppState, lease: &Lease, model: &str, verdict: &Verdict, summary: &str) {
    let entry = lease.key();
    let persist = |new_state: KeyState, balance: Option<Option<f64>>| {
        state.writer.send(WriteOp::KeyStatus(KeyStatusUpdate {
            id: entry.id,
            state: new_state,
            balance,
            charge_balance: None,
            account_id: None,
            last_error: Some(summary.to_string()),
            checked_at: None,
        }));
    };
    match verdict {
        Verdict::KeyDead => {
            tracing::warn!(key = %entry.secret, "upstream says the key is invalid (401)");
            entry.set_state(KeyState::Invalid);
            entry.set_last_error(Some(summary.to_string()));
            state.pool.mark_dirty();
            if state.config.purge_invalid {
                state.pool.remove(&[entry.id]);
                state.writer.send(WriteOp::DeleteKeys(vec![entry.id]));
            } else {
                persist(KeyState::Invalid, None);
            }
        }
        Verdict::NoBalance => {
            tracing::info!(key = %entry.secret, model, "key has no balance (30001): now free-only");
            entry.set_state(KeyState::Free);
            entry.set_reported_balance(Some(0.0), entry.charge_balance().map(|_| 0.0));
            entry.set_last_error(Some(summary.to_string()));
            state.pool.mark_dirty();
            persist(KeyState::Free, Some(Some(0.0)));
            if !model.is_empty() {
                state.catalog.learn(&state.writer, model, false);
            }
        }
        Verdict::ForbiddenForModel => {
            entry.block_model(model);
            entry.set_last_error(Some(format!("{summary} (model {model})")));
        }
        Verdict::RateLimited { window, retry_after } => {
            let wait = state.pool.cooldowns().trip(KeyPool::scope_of(entry), model, *window, *retry_after);
            entry.set_last_error(Some(format!("{summary} (cooling {} s)", wait.as_secs())));
            tracing::debug!(key = %entry.secret, model, wait_secs = wait.as_secs(), "rate limited; cooling down");
        }
        Verdict::Transient | Verdict::Final | Verdict::Success => {}
    }
}
