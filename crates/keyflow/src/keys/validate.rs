//! Asking upstream whether a key works and what it holds.
//!
//! `GET /v1/user/info` gives validity, balance and account id. SiliconFlow
//! is retiring it (some clients get 410), so on 404/410 validity comes from
//! a one-token chat with `TEST_MODEL` (as the seed tools probed keys): 200
//! is alive, 401 dead, 30001 alive but empty. When that probe says nothing
//! about the key (the model is unknown, say), an authenticated
//! `GET /v1/models` decides validity and the balance stays unknown.

use std::time::Duration;

use serde_json::Value;

use crate::secret::Secret;
use crate::upstream::{describe, read_body, Upstream};

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

pub async fn validate(upstream: &Upstream, key: &Secret, test_model: &str) -> Validation {
    match get(upstream, key, "/v1/user/info").await {
        Ok((200, body)) => parse_user_info(&body),
        Ok((401, _)) => Validation::Invalid("401: Api key is invalid".into()),
        Ok((404 | 410 | 403, _)) => match probe(upstream, key, test_model).await {
            Some(verdict) => verdict,
            None => check_models(upstream, key).await,
        },
        Ok((status, body)) => Validation::Transient(summary(status, &body)),
        Err(e) => Validation::Transient(e),
    }
}

/// A one-token chat with `TEST_MODEL`; `None` when the answer says nothing
/// about the key itself.
async fn probe(upstream: &Upstream, key: &Secret, test_model: &str) -> Option<Validation> {
    let body = serde_json::json!({
        "model": test_model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 1,
        "stream": false,
    });
    match send(upstream, key, http::Method::POST, "/v1/chat/completions", Some(body)).await {
        Ok((200, _)) => Some(Validation::Valid { balance: None, charge_balance: None, account_id: None }),
        Ok((401, _)) => Some(Validation::Invalid("401: Api key is invalid".into())),
        Ok((402 | 403, body)) if body_code(&body) == Some(30001) => {
            Some(Validation::Valid { balance: Some(0.0), charge_balance: None, account_id: None })
        }
        Ok(_) | Err(_) => None,
    }
}

fn body_code(body: &[u8]) -> Option<i64> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("code")?.as_i64()
}

async fn check_models(upstream: &Upstream, key: &Secret) -> Validation {
    {
        match get(upstream, key, "/v1/models").await {
            Ok((200, _)) => Validation::Valid { balance: None, charge_balance: None, account_id: None },
            Ok((401, _)) => Validation::Invalid("401: Api key is invalid".into()),
            Ok((status, body)) => Validation::Transient(summary(status, &body)),
            Err(e) => Validation::Transient(e),
        }
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

async fn get(upstream: &Upstream, key: &Secret, path: &str) -> Result<(u16, bytes::Bytes), String> {
    send(upstream, key, http::Method::GET, path, None).await
}

async fn send(
    upstream: &Upstream,
    key: &Secret,
    method: http::Method,
    path: &str,
    json: Option<Value>,
) -> Result<(u16, bytes::Bytes), String> {
    let url = format!("{}{}", upstream.base(), path);
    let mut auth = http::HeaderValue::try_from(format!("Bearer {}", key.expose())).map_err(|e| e.to_string())?;
    auth.set_sensitive(true);
    let mut request = upstream.client().request(method, url).header(http::header::AUTHORIZATION, auth);
    if let Some(json) = json {
        request = request.json(&json);
    }
    let send = request.send();
    let response = match tokio::time::timeout(VALIDATE_TIMEOUT, send).await {
        Err(_) => return Err("timeout".into()),
        Ok(Err(e)) => return Err(describe(&e)),
        Ok(Ok(r)) => r,
    };
    let status = response.status().as_u16();
    let body = read_body(response, 1 << 20, VALIDATE_TIMEOUT).await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

fn summary(status: u16, body: &[u8]) -> String {
    crate::proxy::classify::error_summary(
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY),
        body,
    )
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
