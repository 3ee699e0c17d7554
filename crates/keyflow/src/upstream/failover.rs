//! The failover loop: pick a key, exchange, act on the verdict, and try
//! another key or answer (SPEC §3's table, via `classify`).
//!
//! Proxying and images through chat both run their upstream calls here, so
//! the loop knows neither: it is handed what it reads and acts on
//! ([`Failover`]) and the request ([`Attempt`]), and returns upstream's
//! answer or a [`FailoverError`] each surface renders its own way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use super::{key_state, Blame, Outbound, Reply, SendError, Upstream, Verdict};
use crate::catalog::Catalog;
use crate::config::RuntimeSettings;
use crate::pool::{KeyPool, Lease, ModelClass, Pick};
use crate::store::writer::Writer;
use crate::store::{KeyId, KeyState};
use crate::usage::ErrorCounts;

/// Keys tried at most for one request, condemned ones included.
pub const MAX_KEYS_PER_REQUEST: usize = 16;

/// Re-validates a key in the background after a 401 that may not be about
/// it ([`Verdict::KeyDoubted`]); the key service implements it.
pub trait Recheck: Send + Sync {
    fn recheck(&self, key: KeyId);
}

/// What the loop reads and acts on, borrowed from the app for one call.
pub struct Failover<'a> {
    /// The live settings when the call started.
    pub settings: Arc<RuntimeSettings>,
    pub pool: &'a KeyPool,
    pub catalog: &'a Catalog,
    pub upstream: &'a Upstream,
    pub writer: &'a Writer,
    /// `PURGE_INVALID`: a key found dead is deleted rather than kept marked.
    pub purge_invalid: bool,
    pub recheck: &'a dyn Recheck,
}

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
    /// What a 401 can mean on this route.
    pub blame: Blame,
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
    Success { response: super::Response, lease: Lease, retries: u32, upstream_wait: Duration },
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

/// Why the loop ended without an answer of upstream's to return. The texts
/// are the ones `/v1` shows, so every caller reports a failure alike.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    /// A free-models-only caller asked for a paid model.
    #[error("model `{0}` is a paid model; this client token may call free models only")]
    PaidModel(String),
    /// Out of keys (or retries) without an answer worth returning.
    #[error("{0}")]
    NoKey(String),
    #[error("upstream unreachable: {0}; check UPSTREAM_URL and the network")]
    Unreachable(String),
    #[error("upstream did not answer within {0} s; retry, or raise FIRST_BYTE_TIMEOUT")]
    Timeout(u64),
}

/// What one attempt leaves the loop to do.
enum Step {
    Answer(Answer),
    Next,
    Stop,
}

/// One run of the loop: what it reads and acts on, and the request.
struct Call<'c, 'a> {
    failover: &'c Failover<'c>,
    attempt: &'c Attempt<'a>,
    model: &'a str,
}

/// What the loop has learned so far.
struct Trail<'e> {
    tried: Vec<KeyId>,
    /// Attempts that failed for upstream's reasons (counted against
    /// `MAX_RETRIES`); condemned keys do not count.
    transient: u32,
    waited: Duration,
    /// The last transient answer, returned when nothing better comes.
    fallback: Option<Answer>,
    last: Last,
    /// Upstream failures by class, for the request's metrics.
    errors: &'e mut ErrorCounts,
}

/// Why the last key failed, for the error when keys or retries run out.
enum Last {
    Nothing,
    /// No answer came: upstream is unreachable or silent, which says
    /// nothing about the keys.
    NoAnswer(SendError),
    /// Upstream condemned the key (its error summary).
    Condemned(String),
}

/// Sends `attempt` through one key after another until an answer is worth
/// returning (SPEC §3): at most [`MAX_KEYS_PER_REQUEST`] keys, and no more
/// than `MAX_RETRIES` failures that were upstream's fault.
pub async fn run(
    failover: &Failover<'_>,
    attempt: Attempt<'_>,
    errors: &mut ErrorCounts,
) -> Result<Answer, FailoverError> {
    let call = Call { failover, attempt: &attempt, model: attempt.model.unwrap_or("") };
    let first_byte = Duration::from_secs(failover.settings.first_byte_timeout_secs.max(1));
    let mut trail =
        Trail { tried: Vec::new(), transient: 0, waited: Duration::ZERO, fallback: None, last: Last::Nothing, errors };
    while trail.tried.len() < MAX_KEYS_PER_REQUEST {
        let class = call.model_class()?;
        let Some(lease) = call.next_key(class, &trail) else { break };
        if !call.serves_free_only(class, &lease) {
            trail.tried.push(lease.key().id);
            continue;
        }
        let sent_at = Instant::now();
        let reply = failover.upstream.exchange(call.outbound(), &lease.key().secret, first_byte).await;
        trail.waited += sent_at.elapsed();
        match call.settle(&mut trail, lease, reply)? {
            Step::Answer(answer) => return Ok(answer),
            Step::Next => {}
            Step::Stop => break,
        }
    }
    call.give_up(trail)
}

impl Call<'_, '_> {
    /// The model's price class as this caller may use it.
    fn model_class(&self) -> Result<ModelClass, FailoverError> {
        match (self.attempt.free_only, self.failover.catalog.class_of(self.model, &self.failover.settings)) {
            (true, ModelClass::Paid) => Err(FailoverError::PaidModel(self.model.to_string())),
            // A free-only token may try an unknown model on empty keys only.
            (true, _) => Ok(ModelClass::Free),
            (false, class) => Ok(class),
        }
    }

    /// The next key: the pinned owner (again only after a transient
    /// failure), else the pool's pick outside the keys tried (and those
    /// claimed by siblings).
    fn next_key(&self, class: ModelClass, trail: &Trail<'_>) -> Option<Lease> {
        if let Some(id) = self.attempt.pinned {
            let entry = self.failover.pool.get(id)?;
            return (!trail.tried.contains(&id) || trail.transient > 0).then(|| entry.lease_now());
        }
        let settings = &self.failover.settings;
        let pick = |exclude: &[KeyId]| {
            self.failover.pool.pick(&Pick {
                model: self.model,
                class,
                exclude,
                session: self.attempt.session,
                strategy: settings.key_strategy,
                rpm_limit: settings.key_rpm_limit,
            })
        };
        match self.attempt.claims {
            Some(claims) => claims.pick(&trail.tried, pick),
            None => pick(&trail.tried),
        }
    }

    /// Free-only traffic stays on empty keys unless the model is known free.
    fn serves_free_only(&self, class: ModelClass, lease: &Lease) -> bool {
        !(self.attempt.free_only
            && lease.key().state() != KeyState::Free
            && class == ModelClass::Free
            && self.failover.catalog.class_of(self.model, &self.failover.settings) != ModelClass::Free)
    }

    fn outbound(&self) -> Outbound<'_> {
        Outbound {
            method: self.attempt.method.clone(),
            path_and_query: self.attempt.path_and_query,
            headers: self.attempt.headers,
            body: self.attempt.body.clone(),
            blame: self.attempt.blame,
        }
    }

    /// Acts on one reply: the key's state from its verdict, then what the
    /// loop does next.
    fn settle(&self, trail: &mut Trail<'_>, lease: Lease, reply: Reply) -> Result<Step, FailoverError> {
        let key_id = lease.key().id;
        // Keys tried before this one: nothing is added to `tried` between
        // the send and here.
        let retries = trail.tried.len() as u32;
        let (status, headers, body, verdict) = match reply {
            Reply::Success(response) => {
                if !self.model.is_empty() {
                    self.failover.pool.cooldowns().clear(&KeyPool::scope_of(lease.key()), self.model);
                }
                return Ok(Step::Answer(Answer::Success { response, lease, retries, upstream_wait: trail.waited }));
            }
            Reply::Failed(error) => {
                tracing::debug!(key = %lease.key().secret, error = %error, "upstream attempt failed");
                count_no_answer(trail.errors, &error);
                return Ok(trail.unanswered(self.failover, key_id, error));
            }
            Reply::Refused { status, headers, body, verdict } => (status, headers, body, verdict),
        };
        count(trail.errors, &verdict);
        let summary = super::error_summary(status, &body);
        key_state::apply(self.failover, lease.key(), self.model, &verdict, &summary);
        trail.add_tried(key_id);
        let error = summary.clone();
        let answer = Answer::Upstream { status, headers, body, key_id, retries, error, upstream_wait: trail.waited };
        Ok(match verdict {
            Verdict::Success | Verdict::Final | Verdict::KeyDoubted => Step::Answer(answer),
            Verdict::Transient | Verdict::NoAnswer(_) => {
                trail.transient += 1;
                trail.fallback = Some(answer);
                trail.last = Last::Nothing;
                trail.past_retries(self.failover)
            }
            Verdict::NoBalance if self.attempt.free_only => {
                return Err(FailoverError::PaidModel(self.model.to_string()))
            }
            // The resource lives in that one account: say why it failed.
            Verdict::KeyDead | Verdict::NoBalance | Verdict::ForbiddenForModel | Verdict::RateLimited { .. }
                if self.attempt.pinned.is_some() =>
            {
                Step::Answer(answer)
            }
            Verdict::KeyDead | Verdict::NoBalance | Verdict::ForbiddenForModel | Verdict::RateLimited { .. } => {
                trail.fallback = None;
                trail.last = Last::Condemned(summary);
                Step::Next
            }
        })
    }

    /// Out of keys or retries: upstream's last transient answer if there is
    /// one, else keyflow's own error — about upstream when the last attempt
    /// got no answer (the keys are fine), about the keys otherwise.
    fn give_up(&self, trail: Trail<'_>) -> Result<Answer, FailoverError> {
        let n_tried = trail.tried.len();
        match (trail.fallback, trail.last) {
            (Some(answer), _) => Ok(answer),
            (None, Last::NoAnswer(SendError::Timeout(secs))) => Err(FailoverError::Timeout(secs)),
            (None, Last::NoAnswer(SendError::Connect(e))) => Err(FailoverError::Unreachable(e)),
            (None, Last::Condemned(summary)) => {
                Err(no_key_error(self.failover.pool, self.model, n_tried, Some(summary)))
            }
            (None, Last::Nothing) => Err(no_key_error(self.failover.pool, self.model, n_tried, None)),
        }
    }
}

impl Trail<'_> {
    fn add_tried(&mut self, key_id: KeyId) {
        if !self.tried.contains(&key_id) {
            self.tried.push(key_id);
        }
    }

    /// No answer to act on: retry (counted), and remember why.
    fn unanswered(&mut self, failover: &Failover<'_>, key_id: KeyId, error: SendError) -> Step {
        self.transient += 1;
        self.last = Last::NoAnswer(error);
        self.add_tried(key_id);
        self.past_retries(failover)
    }

    /// Stops once transient failures exceed `MAX_RETRIES`.
    fn past_retries(&self, failover: &Failover<'_>) -> Step {
        if self.transient > failover.settings.max_retries {
            Step::Stop
        } else {
            Step::Next
        }
    }
}

fn count(errors: &mut ErrorCounts, verdict: &Verdict) {
    match verdict {
        Verdict::KeyDead => errors.key_dead += 1,
        Verdict::NoBalance => errors.no_balance += 1,
        Verdict::ForbiddenForModel => errors.forbidden += 1,
        Verdict::RateLimited { .. } => errors.rate_limited += 1,
        Verdict::Transient => errors.server += 1,
        Verdict::NoAnswer(error) => count_no_answer(errors, error),
        Verdict::Success | Verdict::KeyDoubted | Verdict::Final => {}
    }
}

fn count_no_answer(errors: &mut ErrorCounts, error: &SendError) {
    match error {
        SendError::Timeout(_) => errors.timeout += 1,
        SendError::Connect(_) => errors.connect += 1,
    }
}

fn no_key_error(pool: &KeyPool, model: &str, n_tried: usize, last: Option<String>) -> FailoverError {
    if pool.is_empty() {
        return FailoverError::NoKey(
            "the key pool is empty: import keys in the console or with `keyflow keys import`".into(),
        );
    }
    let what = if model.is_empty() { String::new() } else { format!(" for model `{model}`") };
    let last = last.map(|l| format!(" (last upstream answer: {l})")).unwrap_or_default();
    FailoverError::NoKey(format!(
        "no usable key{what}: {n_tried} tried{last}; keys may be cooling down after rate limits, out of balance or invalid — retry later or add keys"
    ))
}
