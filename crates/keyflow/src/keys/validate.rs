//! Asking upstream whether a key works and what it holds.
//!
//! `GET /v1/user/info` gives validity, balance and account id. SiliconFlow
//! is retiring it (some clients get 410), so on 404/410 validity comes from
//! a one-token chat with `TEST_MODEL` (as the seed tools probed keys): 200
//! is alive, 401 dead, 30001 alive but empty. When that probe says nothing
//! about the key (the model is unknown, say), an authenticated
//! `GET /v1/models` decides validity and the balance stays unknown.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::secret::Secret;
use crate::upstream::{error_summary, read_body, Blame, Outbound, Reply, SendError, Upstream, Verdict};

#[derive(Debug, Clone, PartialEq)]
pub enum Validation {
    Valid {
        balance: Option<f64>,
        charge_balance: Option<f64>,
        account_id: Option<String>,
    },
    /// Upstream says the key is dead (401).
    Invalid(String),
    /// Could not tell now (429, 5xx, network): the key is left as it was.
    Transient(String),
}

const VALIDATE_TIMEOUT: Duration = Duration::from_secs(20);
/// A user-info answer is small.
const BODY_LIMIT: usize = 1 << 20;

pub async fn validate(upstream: &Upstream, key: &Secret, test_model: &str) -> Validation {
    let no_headers = HeaderMap::new();
    match upstream.exchange(Outbound::get("/v1/user/info", &no_headers), key, VALIDATE_TIMEOUT).await {
        Reply::Success(response) => match read_body(response, BODY_LIMIT, VALIDATE_TIMEOUT).await {
            Ok(body) => parse_user_info(&body),
            Err(e) => Validation::Transient(e.to_string()),
        },
        Reply::Refused { verdict: Verdict::KeyDead, .. } => Validation::Invalid(DEAD.into()),
        // User info retired (404/410), or refused to this account (403):
        // that says nothing about the key, so ask another way.
        Reply::Refused { status, .. } if matches!(status.as_u16(), 403 | 404 | 410) => {
            match probe(upstream, key, test_model).await {
                Some(verdict) => verdict,
                None => check_models(upstream, key).await,
            }
        }
        Reply::Refused { status, body, .. } => Validation::Transient(error_summary(status, &body)),
        Reply::Failed(e) => Validation::Transient(note(e)),
    }
}

/// What upstream says about a dead key, in `last_error`.
const DEAD: &str = "401: Api key is invalid";

/// A one-token chat with `TEST_MODEL`; `None` when the answer says nothing
/// about the key itself.
async fn probe(upstream: &Upstream, key: &Secret, test_model: &str) -> Option<Validation> {
    let body = serde_json::json!({
        "model": test_model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 1,
        "stream": false,
    });
    let headers = HeaderMap::from_iter([(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))]);
    let out = Outbound {
        method: http::Method::POST,
        path_and_query: "/v1/chat/completions",
        headers: &headers,
        body: body.to_string().into(),
        blame: Blame::Key,
    };
    match upstream.exchange(out, key, VALIDATE_TIMEOUT).await.verdict() {
        Verdict::Success => Some(Validation::Valid { balance: None, charge_balance: None, account_id: None }),
        Verdict::KeyDead => Some(Validation::Invalid(DEAD.into())),
        Verdict::NoBalance => Some(Validation::Valid { balance: Some(0.0), charge_balance: None, account_id: None }),
        _ => None,
    }
}

/// An authenticated model list: it decides validity, not the balance.
async fn check_models(upstream: &Upstream, key: &Secret) -> Validation {
    let no_headers = HeaderMap::new();
    match upstream.exchange(Outbound::get("/v1/models", &no_headers), key, VALIDATE_TIMEOUT).await {
        Reply::Success(_) => Validation::Valid { balance: None, charge_balance: None, account_id: None },
        Reply::Refused { verdict: Verdict::KeyDead, .. } => Validation::Invalid(DEAD.into()),
        Reply::Refused { status, body, .. } => Validation::Transient(error_summary(status, &body)),
        Reply::Failed(e) => Validation::Transient(note(e)),
    }
}

/// The note for a check that got no answer.
fn note(error: SendError) -> String {
    match error {
        SendError::Timeout(_) => "timeout".into(),
        SendError::Connect(e) => e,
    }
}

/// Like [`validate`], retrying rate limits and transient failures with
/// backoff so a burst of 429s during a large import loses no key.
pub async fn validate_patiently(upstream: &Upstream, key: &Secret, test_model: &str, attempts: u32) -> Validation {
    let mut delay = Duration::from_millis(250);
    let mut last = Validation::Transient("not tried".into());
    for attempt in 0..attempts.max(1) {
        last = validate(upstream, key, test_model).await;
        if !matches!(last, Validation::Transient(_)) {
            return last;
        }
        if attempt + 1 < attempts {
            let jitter = Duration::from_millis(rand::random::<u64>() % 200);
            tokio::time::sleep(delay + jitter).await;
            delay = (delay * 2).min(Duration::from_secs(8));
        }
    }
    last
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

fn parse_user_info(body: &[u8]) -> Validation {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Validation::Transient("user info answer is not JSON".into());
    };
    let data = value.get("data").unwrap_or(&Value::Null);
    let account_id = data.get("id").and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    Validation::Valid {
        balance: number(data.get("totalBalance")).or_else(|| number(data.get("balance"))),
        charge_balance: number(data.get("chargeBalance")),
        account_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_total_balance_strings_and_account() {
        let body = br#"{"code":20000,"message":"OK","status":true,"data":{"id":"u1","balance":"0.88","chargeBalance":"88.00","totalBalance":"88.88"}}"#;
        assert_eq!(
            parse_user_info(body),
            Validation::Valid { balance: Some(88.88), charge_balance: Some(88.0), account_id: Some("u1".into()) }
        );
    }
}
