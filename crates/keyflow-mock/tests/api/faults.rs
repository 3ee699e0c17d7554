//! Injected faults, broken streams and per-account RPM limits.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use keyflow_mock::{Fault, RateMetric};

use crate::support::{chat_body, json_of, spawn, KEY_A, KEY_B};

const MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";

async fn chat_status(mock: &crate::support::TestMock, key: &str, model: &str) -> u16 {
    mock.post_json(key, "/v1/chat/completions", &chat_body(model, "hi", false)).await.status().as_u16()
}

#[tokio::test]
async fn counted_fault_then_normal() {
    let mock = spawn().await;
    mock.state.set_fault_times(KEY_A, Fault::Overloaded, 2);
    for _ in 0..2 {
        let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body(MODEL, "hi", false)).await;
        assert_eq!(response.status(), 503);
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"code":50505,"message":"Model service overloaded. Please try again later.","data":null}"#
        );
    }
    assert_eq!(chat_status(&mock, KEY_A, MODEL).await, 200);
}

#[tokio::test]
async fn rate_limit_body_has_no_code_and_no_retry_after() {
    let mock = spawn().await;
    mock.state.set_fault(KEY_A, Fault::RateLimited(RateMetric::Tpm));
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body(MODEL, "hi", false)).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_none());
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"message":"Request was rejected due to rate limiting. Details: TPM limit reached.","data":null}"#
    );
    assert_eq!(chat_status(&mock, KEY_B, MODEL).await, 200);
    mock.state.clear_faults();
    assert_eq!(chat_status(&mock, KEY_A, MODEL).await, 200);
}

#[tokio::test]
async fn every_error_fault_has_its_status() {
    let mock = spawn().await;
    let cases = [
        (Fault::Unauthorized, 401),
        (Fault::NoBalance402, 402),
        (Fault::NoBalance403, 403),
        (Fault::Forbidden, 403),
        (Fault::ServerError, 500),
        (Fault::GatewayTimeout, 504),
    ];
    for (fault, status) in cases {
        mock.state.set_fault_times(KEY_A, fault, 1);
        assert_eq!(chat_status(&mock, KEY_A, MODEL).await, status);
    }
    mock.state.set_fault_times(KEY_A, Fault::Forbidden, 1);
    let response = mock.get(KEY_A, "/v1/user/info").await;
    assert_eq!(response.text().await.unwrap(), r#""Forbidden""#);
}

#[tokio::test]
async fn model_fault_hits_only_that_model() {
    let mock = spawn().await;
    mock.state.set_model_fault(KEY_A, "Qwen/Qwen3-8B", Fault::Forbidden);
    assert_eq!(chat_status(&mock, KEY_A, "Qwen/Qwen3-8B").await, 403);
    assert_eq!(chat_status(&mock, KEY_A, MODEL).await, 200);
}

#[tokio::test]
async fn global_ratio_reaches_every_key() {
    let mock = spawn().await;
    mock.state.set_global_fault_ratio(Fault::RateLimited(RateMetric::Rpm), 1.0);
    assert_eq!(chat_status(&mock, KEY_A, MODEL).await, 429);
    assert_eq!(chat_status(&mock, KEY_B, MODEL).await, 429);
    mock.state.set_global_fault_ratio(Fault::ServerError, 0.0);
    assert_eq!(chat_status(&mock, KEY_A, MODEL).await, 200);
}

#[tokio::test]
async fn slow_delays_the_answer() {
    let mock = spawn().await;
    mock.state.set_fault_times(KEY_A, Fault::Slow(Duration::from_millis(150)), 1);
    let started = Instant::now();
    assert_eq!(chat_status(&mock, KEY_A, MODEL).await, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn drop_mid_stream_breaks_the_body() {
    let mock = spawn().await;
    mock.state.set_fault_times(KEY_A, Fault::DropMidStream { after_chunks: 2 }, 1);
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body(MODEL, "hi", true)).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut received = Vec::new();
    let mut failed = false;
    while let Some(item) = body.next().await {
        match item {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the client must see a broken body");
    let text = String::from_utf8(received).unwrap();
    assert_eq!(text.matches("\n\n").count(), 2);
    assert!(!text.contains("[DONE]"));

    // A non-stream answer is cut in the middle.
    mock.state.set_fault_times(KEY_A, Fault::DropMidStream { after_chunks: 0 }, 1);
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body(MODEL, "hi", false)).await;
    assert!(response.text().await.is_err());
}

#[tokio::test]
async fn stall_holds_until_released() {
    let mock = spawn().await;
    mock.state.set_fault_times(KEY_A, Fault::StallMidStream { after_chunks: 1 }, 1);
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body(MODEL, "hi", true)).await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.ends_with(b"\n\n"));
    let waited = tokio::time::timeout(Duration::from_millis(200), body.next()).await;
    assert!(waited.is_err(), "the stream must go silent");
    mock.state.release_stalls();
    let after = tokio::time::timeout(Duration::from_secs(5), body.next()).await.unwrap();
    assert!(matches!(after, Some(Err(_)) | None));
}

#[tokio::test]
async fn rpm_is_per_account_and_model() {
    let mock = spawn().await;
    mock.state.add_key("sk-sibling", 5.0, "acct-1");
    mock.state.set_account_rpm("acct-1", MODEL, 2);
    assert_eq!(chat_status(&mock, KEY_A, MODEL).await, 200);
    assert_eq!(chat_status(&mock, "sk-sibling", MODEL).await, 200);
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body(MODEL, "hi", false)).await;
    assert_eq!(response.status(), 429);
    assert_eq!(
        json_of(response).await["message"],
        "Request was rejected due to rate limiting. Details: RPM limit reached."
    );
    assert_eq!(chat_status(&mock, "sk-sibling", MODEL).await, 429);
    assert_eq!(chat_status(&mock, KEY_A, "Qwen/Qwen3-8B").await, 200);
    assert_eq!(chat_status(&mock, KEY_B, MODEL).await, 200);
    mock.state.set_account_rpm("acct-1", MODEL, 0);
    assert_eq!(chat_status(&mock, KEY_A, MODEL).await, 200);
}

#[tokio::test]
async fn shutdown_ends_stalled_streams() {
    let mock = spawn().await;
    mock.state.set_fault(KEY_A, Fault::StallMidStream { after_chunks: 0 });
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body(MODEL, "hi", true)).await;
    let started = Instant::now();
    let (body, ()) = tokio::join!(response.bytes(), mock.server.shutdown());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(body.is_err(), "the stalled body ends with an error");
}
