//! Every upstream outcome is classified once here — an answer, or no answer
//! at all: who caused it, whether another key may help, and what happens to
//! the key. Failover and key state read only this classification (SPEC §3's
//! table).

use std::time::Duration;

use http::{HeaderMap, StatusCode};

use super::SendError;
use crate::pool::LimitWindow;

/// Who a 401 can be about on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The key is the only credential involved (inference, the creation of
    /// resources, keyflow's own calls): a 401 means the key is dead.
    Key,
    /// The client's own request may cause a 401 too (an unknown path,
    /// another account's resource): the key is re-validated, not condemned.
    KeyOrClient,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the answer goes to the client.
    Success,
    /// 401 where only the key can be at fault: the key is dead; mark it
    /// `invalid`, try another key.
    KeyDead,
    /// 401 where the client may be at fault ([`Blame::KeyOrClient`]): the
    /// key is re-validated in the background and the answer returned as is.
    KeyDoubted,
    /// 402/403 with code 30001: no balance; the key becomes `free`, and the
    /// model is learned to be paid. Try a funded key.
    NoBalance,
    /// Another 403 (e.g. real-name verification): this key may not call
    /// this model. Try another key.
    ForbiddenForModel,
    /// 429: cool the key's account down for the model; try another key.
    RateLimited { window: LimitWindow, retry_after: Option<Duration> },
    /// 5xx but 504: upstream trouble unrelated to the key; retry (counted).
    Transient,
    /// The client's own problem (400, 404, 413, 422), or a 504 whose work
    /// may have run and been billed: returned as is.
    Final,
    /// No answer to act on: the connection failed, upstream stayed silent
    /// until the wait ran out, or an error answer's body broke off. Nothing
    /// is known about the key; retry (counted).
    NoAnswer(SendError),
}

impl Verdict {
    /// Whether the key itself is condemned, so moving to another key does
    /// not count against `MAX_RETRIES`.
    pub fn condemns_key(&self) -> bool {
        matches!(self, Verdict::KeyDead | Verdict::NoBalance | Verdict::ForbiddenForModel | Verdict::RateLimited { .. })
    }
}

/// Classifies an upstream answer from its status, headers and (error) body.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8], blame: Blame) -> Verdict {
    match status.as_u16() {
        200..=299 => Verdict::Success,
        401 if blame == Blame::Key => Verdict::KeyDead,
        401 => Verdict::KeyDoubted,
        402 | 403 if has_code(body, 30001) => Verdict::NoBalance,
        // A 402 without the code still means payment is required.
        402 => Verdict::NoBalance,
        403 => Verdict::ForbiddenForModel,
        429 => Verdict::RateLimited {
            window: LimitWindow::from_message(&String::from_utf8_lossy(body)),
            retry_after: retry_after(headers),
        },
        504 => Verdict::Final,
        500..=599 => Verdict::Transient,
        _ => Verdict::Final,
    }
}

fn has_code(body: &[u8], code: i64) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_i64().or_else(|| c.as_str().and_then(|s| s.parse().ok()))))
        == Some(code)
}

/// `Retry-After` in seconds (SiliconFlow sends none, but honour it if ever present).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(|s| Duration::from_secs(s.clamp(1, 86_400)))
}

/// A short description of an upstream error body for logs and `last_error`.
pub fn error_summary(status: StatusCode, body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .or_else(|| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| v.to_string()),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    // Upstream may repeat the credential in its message: this text goes to
    // `last_error`, the request log and keyflow's own error messages.
    let text = crate::secret::mask_keys(&text);
    let mut text: String = text.chars().take(200).collect();
    if text.is_empty() {
        text = status.canonical_reason().unwrap_or("error").to_string();
    }
    format!("{}: {}", status.as_u16(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: u16, body: &str) -> Verdict {
        classify(StatusCode::from_u16(status).expect("status"), &HeaderMap::new(), body.as_bytes(), Blame::Key)
    }

    #[test]
    fn follows_the_failover_table() {
        assert_eq!(verdict(200, "{}"), Verdict::Success);
        assert_eq!(verdict(401, "\"Api key is invalid\""), Verdict::KeyDead);
        let empty = r#"{"code":30001,"message":"Sorry, your account balance is insufficient"}"#;
        assert_eq!(verdict(402, empty), Verdict::NoBalance);
        assert_eq!(verdict(403, empty), Verdict::NoBalance);
        assert_eq!(verdict(403, "\"Forbidden\""), Verdict::ForbiddenForModel);
        let limited =
            r#"{"message":"Request was rejected due to rate limiting. Details: RPD limit reached.","data":null}"#;
        assert_eq!(verdict(429, limited), Verdict::RateLimited { window: LimitWindow::Day, retry_after: None });
        assert_eq!(verdict(500, ""), Verdict::Transient);
        assert_eq!(verdict(503, r#"{"code":50505}"#), Verdict::Transient);
        assert_eq!(verdict(504, "\"timeout\""), Verdict::Final);
        assert_eq!(verdict(400, r#"{"code":20012}"#), Verdict::Final);
        assert_eq!(verdict(404, "404 page not found"), Verdict::Final);
        assert_eq!(verdict(413, ""), Verdict::Final);
        assert_eq!(verdict(422, ""), Verdict::Final);
    }

    #[test]
    fn a_401_condemns_the_key_only_where_nothing_else_can_cause_it() {
        let unsure = classify(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"\"Invalid token\"", Blame::KeyOrClient);
        assert_eq!(unsure, Verdict::KeyDoubted);
        assert!(!unsure.condemns_key());
        assert!(Verdict::KeyDead.condemns_key());
        assert!(!Verdict::NoAnswer(SendError::Timeout(3)).condemns_key());
    }

    #[test]
    fn honours_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("7"));
        let v = classify(StatusCode::TOO_MANY_REQUESTS, &headers, b"{}", Blame::Key);
        assert_eq!(v, Verdict::RateLimited { window: LimitWindow::Minute, retry_after: Some(Duration::from_secs(7)) });
    }

    #[test]
    fn summarizes_every_error_shape() {
        assert_eq!(error_summary(StatusCode::UNAUTHORIZED, b"\"Api key is invalid\""), "401: Api key is invalid");
        assert_eq!(error_summary(StatusCode::NOT_FOUND, b"404 page not found"), "404: 404 page not found");
        assert!(error_summary(StatusCode::PAYMENT_REQUIRED, br#"{"code":30001,"message":"no money"}"#)
            .ends_with("no money"));
    }
}
