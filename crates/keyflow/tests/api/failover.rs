//! The failover table of SPEC §3, against faults the mock injects.

use keyflow_mock::{Fault, RateMetric};
use serde_json::Value;

use crate::helpers::*;

const PAID: &str = "deepseek-ai/DeepSeek-V3";

#[tokio::test]
async fn dead_key_is_marked_invalid_and_request_moves_on() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    let first = t.chat(PAID, false).await;
    let first_id = TestApp::key_id_of(&first);
    let dead = if first_id == 1 { &keys[0] } else { &keys[1] };
    t.mock.state().set_fault(dead, Fault::Unauthorized);
    // Whichever key is picked, the request ends on the healthy key.
    for _ in 0..3 {
        let response = t.chat(PAID, false).await;
        assert_eq!(response.status(), 200);
        assert_ne!(TestApp::key_id_of(&response), first_id);
    }
    let row = t.key_row(first_id).await;
    assert_eq!(row["state"], "invalid");
    assert!(row["last_error"].as_str().unwrap().starts_with("401"));
}

#[tokio::test]
async fn empty_key_becomes_free_and_model_is_learned_paid() {
    let t = spawn_app().await;
    let rich = t.add_keys(0, 1, 10.0, "acct-a").await;
    let poor = t.add_keys(1, 1, 5.0, "acct-b").await;
    // The poorer key runs dry upstream without keyflow knowing yet.
    t.mock.state().set_balance(&poor[0], 0.0);
    t.mock.state().set_fault(&rich[0], Fault::Slow(std::time::Duration::from_millis(0)));
    let settings = serde_json::json!({"key_strategy": "balance_asc"});
    t.admin(reqwest::Method::PUT, "/api/settings").json(&settings).send().await.unwrap();
    let response = t.chat(PAID, false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-keyflow-retries"], "1");
    let poor_row = t.key_row(2).await;
    assert_eq!(poor_row["state"], "free");
    let models = t.admin_get("/api/models").await;
    let v3 = models["items"].as_array().unwrap().iter().find(|m| m["id"] == PAID).unwrap().clone();
    assert_eq!(v3["free"], false);
}

#[tokio::test]
async fn rate_limit_cools_the_account_and_moves_on() {
    let t = spawn_app().await;
    let a = t.add_keys(0, 2, 10.0, "acct-a").await;
    let b = t.add_keys(2, 1, 1.0, "acct-b").await;
    for key in &a {
        t.mock.state().set_fault(key, Fault::RateLimited(RateMetric::Tpm));
    }
    let response = t.chat(PAID, false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(TestApp::key_id_of(&response), 3);
    // The account's other key is not tried again while it cools.
    let hits_before: u64 = a.iter().map(|k| t.mock.state().hits(k)).sum();
    let response = t.chat(PAID, false).await;
    assert_eq!(TestApp::key_id_of(&response), 3);
    let hits_after: u64 = a.iter().map(|k| t.mock.state().hits(k)).sum();
    assert_eq!(hits_before, hits_after, "cooling account was called again");
    let row = t.key_row(1).await;
    assert_eq!(row["state"], "cooling");
    assert!(row["cooldown_until"].as_i64().is_some());
    let _ = b;
}

#[tokio::test]
async fn all_keys_down_gives_50301() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    for key in &keys {
        t.mock.state().set_fault(key, Fault::RateLimited(RateMetric::Rpm));
    }
    let response = t.chat(PAID, false).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "50301");
    // Anthropic's shape on /v1/messages.
    let response = t
        .post_json(
            "/v1/messages",
            serde_json::json!({"model": PAID, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn server_errors_retry_up_to_max_retries_then_return_upstream_answer() {
    let t = spawn_app_with(Default::default(), |c| c.runtime.max_retries = 2).await;
    let keys = t.add_keys(0, 5, 10.0, "acct-a").await;
    for key in &keys {
        t.mock.state().set_fault(key, Fault::ServerError);
    }
    let response = t.chat(PAID, false).await;
    assert_eq!(response.status(), 500);
    let calls: u64 = keys.iter().map(|k| t.mock.state().hits_on(k, "/v1/chat/completions")).sum();
    assert_eq!(calls, 3, "first attempt + MAX_RETRIES");
    // 5xx never marks a key bad.
    for id in 1..=5 {
        assert_eq!(t.key_row(id).await["state"], "active");
    }
}

#[tokio::test]
async fn client_errors_are_returned_without_burning_keys() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    let response = t.chat("no/such-model", false).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 20012);
    let calls: u64 = keys.iter().map(|k| t.mock.state().hits_on(k, "/v1/chat/completions")).sum();
    assert_eq!(calls, 1);
}
