//! The key pool (SPEC §4): validation without `user/info`, free-only tokens,
//! free keys for free models, per-model blocks and cool-downs, stickiness,
//! the per-key RPM cap, the nine strategies and refresh.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use keyflow::secret::Secret;
use keyflow_mock::{Fault, RateMetric, UserInfoMode};
use serde_json::{json, Value};

use crate::helpers::*;

const PAID: &str = "deepseek-ai/DeepSeek-V3";
const OTHER_PAID: &str = "Pro/deepseek-ai/DeepSeek-R1";
/// Free upstream (in the mock's default free list).
const FREE: &str = "Qwen/Qwen2.5-7B-Instruct";

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn chat_token(t: &TestApp, token: &str, model: &str) -> reqwest::Response {
    t.http
        .post(format!("{}/v1/chat/completions", t.url))
        .bearer_auth(token)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
}

/// Served key ids of `n` chats for `model`; every answer must be 200.
async fn served_ids(t: &TestApp, model: &str, n: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let response = t.chat(model, false).await;
        assert_eq!(response.status(), 200, "chat for {model}");
        ids.push(TestApp::key_id_of(&response));
    }
    ids
}

#[tokio::test]
async fn retired_user_info_falls_back_to_a_test_model_probe_then_the_models_check() {
    // Gone: TEST_MODEL is served, so a one-token chat decides. NotFound with
    // a TEST_MODEL upstream does not know: the models list decides.
    for (mode, test_model) in [(UserInfoMode::Gone, None), (UserInfoMode::NotFound, Some("no/such-model"))] {
        let t = spawn_app_with(Default::default(), |c| {
            if let Some(model) = test_model {
                c.test_model = model.to_string();
            }
        })
        .await;
        t.mock.state().set_user_info_mode(mode);
        let valid = [test_key(0), test_key(1)];
        for key in &valid {
            t.mock.state().add_key(key, 10.0, "acct-a");
        }
        let dead = test_key(2);
        let report = t.import(&format!("{}\n{}\n{dead}", valid[0], valid[1])).await;
        assert_eq!((report["added"].as_u64(), report["invalid"].as_u64()), (Some(2), Some(1)), "{mode:?}: {report}");
        for id in [1, 2] {
            let row = t.key_row(id).await;
            assert_eq!(row["state"], "active", "{mode:?}: {row}");
            assert!(row["balance"].is_null(), "{mode:?}: balance must show as unknown: {row}");
        }
        assert_eq!(t.key_row(3).await["state"], "invalid");
        let probes = t.mock.state().hits_on(&valid[0], "/v1/chat/completions");
        assert!(probes >= 1, "{mode:?}: TEST_MODEL was not probed");
        if test_model.is_some() {
            assert!(
                t.mock.state().hits_on(&valid[0], "/v1/models") >= 1,
                "{mode:?}: validity not checked on /v1/models"
            );
        } else {
            let probe = t.mock.state().last_request(&valid[0]).expect("probe recorded");
            let body: serde_json::Value = serde_json::from_slice(&probe.body).expect("json probe");
            assert_eq!(
                (body["model"].as_str(), body["max_tokens"].as_u64()),
                (Some(keyflow::config::DEFAULT_TEST_MODEL), Some(1))
            );
        }
        assert_eq!(t.chat(PAID, false).await.status(), 200);

        // A key that dies later is still found by a refresh.
        t.mock.state().remove_key(&valid[1]);
        let response = t.admin(reqwest::Method::POST, "/api/keys/refresh").send().await.unwrap();
        assert_eq!(response.status(), 202);
        t.wait_refresh(Duration::from_secs(10)).await;
        assert_eq!(t.key_row(2).await["state"], "invalid", "{mode:?}");
        assert_eq!(t.key_row(1).await["state"], "active", "{mode:?}");
    }
}

#[tokio::test]
async fn free_token_may_call_free_models_only() {
    let t = spawn_app_with(Default::default(), |c| c.free_client_tokens = vec![Secret::new("free-tok")]).await;
    let empty = t.add_keys(0, 1, 0.0, "acct-z").await;
    let funded = t.add_keys(1, 1, 10.0, "acct-f").await;
    assert_eq!(t.key_row(1).await["state"], "free");

    let response = chat_token(&t, "free-tok", FREE).await;
    assert_eq!(response.status(), 200);
    assert_eq!(TestApp::key_id_of(&response), 1, "free-only traffic belongs on the empty key");

    for model in ["Pro/Qwen/Qwen2.5-7B-Instruct", PAID] {
        let response = chat_token(&t, "free-tok", model).await;
        assert_eq!(response.status(), 403, "{model}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "model_not_allowed", "{model}: {body}");
    }
    assert_eq!(t.mock.state().hits_on(&funded[0], "/v1/chat/completions"), 0, "a free token spent paid balance");
    assert_eq!(t.mock.state().hits_on(&empty[0], "/v1/chat/completions"), 2, "`Pro/` is refused without a call");
}

#[tokio::test]
async fn configured_free_models_prefer_free_keys() {
    let t = spawn_app_with(Default::default(), |c| c.runtime.free_models = vec![FREE.to_string()]).await;
    t.add_keys(0, 2, 10.0, "acct-f").await;
    t.add_keys(2, 2, 0.0, "acct-z").await;
    let free = served_ids(&t, FREE, 6).await;
    assert!(free.iter().all(|id| *id >= 3), "free model served by funded keys: {free:?}");
    let paid = served_ids(&t, PAID, 4).await;
    assert!(paid.iter().all(|id| *id <= 2), "paid model on empty keys: {paid:?}");
}

#[tokio::test]
async fn models_found_free_by_probing_prefer_free_keys() {
    // SPEC §4: a model is free if listed in FREE_MODELS *or found free by
    // probing with a `free` key*; free models then prefer `free` keys.
    let t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct-f").await;
    t.add_keys(2, 2, 0.0, "acct-z").await;
    let response = t.admin(reqwest::Method::POST, "/api/keys/refresh").send().await.unwrap();
    assert_eq!(response.status(), 202);
    t.wait_refresh(Duration::from_secs(10)).await;
    let learned = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            let models = t.admin_get("/api/models").await;
            let items = models["items"].as_array().unwrap().clone();
            if items.iter().any(|m| m["id"] == FREE && m["free"] == true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let served = served_ids(&t, FREE, 6).await;
    assert!(learned.is_ok(), "{FREE} never found free (no probe with a free key); served by {served:?}");
    assert!(served.iter().all(|id| *id >= 3), "free model served by funded keys: {served:?}");
}

#[tokio::test]
async fn plain_forbidden_blocks_the_key_for_that_model_only() {
    let t = spawn_app().await;
    let preferred = t.add_keys(0, 1, 20.0, "acct-a").await;
    t.add_keys(1, 1, 10.0, "acct-b").await;
    t.mock.state().set_model_fault(&preferred[0], PAID, Fault::Forbidden);
    let response = t.chat(PAID, false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(TestApp::key_id_of(&response), 2);
    assert_eq!(response.headers()["x-keyflow-retries"], "1");
    assert_eq!(served_ids(&t, PAID, 3).await, [2, 2, 2]);
    assert_eq!(t.mock.state().hits_on(&preferred[0], "/v1/chat/completions"), 1, "blocked key asked again");
    // Other models still use the key.
    assert_eq!(served_ids(&t, OTHER_PAID, 2).await, [1, 1]);
    assert_eq!(t.key_row(1).await["state"], "active");
}

#[tokio::test]
async fn a_daily_limit_cools_until_the_next_day() {
    let t = spawn_app().await;
    let preferred = t.add_keys(0, 1, 20.0, "acct-a").await;
    t.add_keys(1, 1, 10.0, "acct-b").await;
    t.mock.state().set_model_fault(&preferred[0], PAID, Fault::RateLimited(RateMetric::Rpd));
    let response = t.chat(PAID, false).await;
    assert_eq!(response.status(), 200);
    assert_eq!(TestApp::key_id_of(&response), 2);
    let row = t.key_row(1).await;
    assert_eq!(row["state"], "cooling", "{row}");
    let now = now_secs();
    // Daily limits reset at midnight in China (UTC+8).
    let until_midnight = 86_400 - (now + 8 * 3600) % 86_400;
    let wait = row["cooldown_until"].as_i64().expect("cooldown_until") - now;
    assert!((wait - until_midnight).abs() <= 5, "RPD cool-down of {wait} s, {until_midnight} s to midnight CST");
    assert!(wait > 60 || until_midnight <= 65, "RPD cooled like a minute limit: {wait} s");
    assert_eq!(served_ids(&t, PAID, 2).await, [2, 2]);
    assert_eq!(t.mock.state().hits_on(&preferred[0], "/v1/chat/completions"), 1);
    // The cool-down is for that model only.
    assert_eq!(served_ids(&t, OTHER_PAID, 1).await, [1]);
}

#[tokio::test]
async fn sticky_sessions_keep_a_user_on_one_key() {
    let t = spawn_app_with(Default::default(), |c| c.runtime.sticky_sessions = true).await;
    t.add_keys(0, 4, 10.0, "acct-a").await;
    let chat_as = |user: String| {
        t.post_json(
            "/v1/chat/completions",
            json!({"model": PAID, "user": user, "messages": [{"role": "user", "content": "hi"}]}),
        )
    };
    let mut alice = HashSet::new();
    for _ in 0..10 {
        let response = chat_as("alice".into()).await;
        assert_eq!(response.status(), 200);
        alice.insert(TestApp::key_id_of(&response));
    }
    assert_eq!(alice.len(), 1, "one user spread over keys: {alice:?}");

    let mut by_session = HashSet::new();
    for _ in 0..5 {
        let response = t
            .http
            .post(format!("{}/v1/chat/completions", t.url))
            .header("x-session-id", "session-42")
            .json(&json!({"model": PAID, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        by_session.insert(TestApp::key_id_of(&response));
    }
    assert_eq!(by_session.len(), 1, "one X-Session-Id spread over keys: {by_session:?}");

    let mut users = HashSet::new();
    for i in 0..10 {
        users.insert(TestApp::key_id_of(&chat_as(format!("user-{i}")).await));
    }
    assert!(users.len() >= 2, "different users all on one key: {users:?}");
}

#[tokio::test]
async fn per_key_rpm_cap_spreads_requests() {
    let t = spawn_app_with(Default::default(), |c| c.runtime.key_rpm_limit = Some(2)).await;
    t.add_keys(0, 3, 10.0, "acct-a").await;
    let minute = now_secs() / 60;
    let ids = served_ids(&t, PAID, 6).await;
    let mut per_key: HashMap<i64, usize> = HashMap::new();
    for id in &ids {
        *per_key.entry(*id).or_default() += 1;
    }
    let seventh = t.chat(PAID, false).await.status();
    // The cap counts per calendar minute; a minute boundary resets it.
    if now_secs() / 60 == minute {
        assert_eq!(per_key, HashMap::from([(1, 2), (2, 2), (3, 2)]), "{ids:?}");
        assert_eq!(seventh, 503, "every key is at its cap");
    }
}

#[tokio::test]
async fn every_strategy_can_be_set_and_serves() {
    let t = spawn_app().await;
    // Three keys created in three different seconds, balances not in age order.
    for (i, balance) in [5.0, 9.0, 1.0].into_iter().enumerate() {
        if i > 0 {
            let before = now_secs();
            eventually(Duration::from_secs(3), || async { (now_secs() > before).then_some(()) }).await;
        }
        t.add_keys(i, 1, balance, &format!("acct-{i}")).await;
    }
    let cases: [(&str, Option<i64>); 9] = [
        ("random", None),
        ("round_robin", None),
        ("balance_desc", Some(2)),
        ("balance_asc", Some(3)),
        ("oldest", Some(1)),
        ("newest", Some(3)),
        ("least_used", None),
        ("most_used", None),
        ("least_inflight", None),
    ];
    for (strategy, always) in cases {
        let saved = t.put_settings(json!({"key_strategy": strategy})).await;
        assert_eq!(saved["key_strategy"], strategy);
        assert_eq!(t.admin_get("/api/settings").await["key_strategy"], strategy);
        let mut served = Vec::new();
        for _ in 0..6 {
            let usage: HashMap<i64, u64> = t
                .all_key_rows()
                .await
                .iter()
                .map(|row| (row["id"].as_i64().unwrap(), row["usage_count"].as_u64().unwrap()))
                .collect();
            let response = t.chat(PAID, false).await;
            assert_eq!(response.status(), 200, "{strategy}");
            let id = TestApp::key_id_of(&response);
            let (min, max) = (*usage.values().min().unwrap(), *usage.values().max().unwrap());
            match strategy {
                "least_used" => assert_eq!(usage[&id], min, "{strategy}: {usage:?} -> {id}"),
                "most_used" => assert_eq!(usage[&id], max, "{strategy}: {usage:?} -> {id}"),
                _ => {}
            }
            served.push(id);
        }
        if let Some(expected) = always {
            assert!(served.iter().all(|id| *id == expected), "{strategy}: {served:?}");
        }
        if strategy == "round_robin" {
            assert_eq!(served.iter().collect::<HashSet<_>>().len(), 3, "{strategy}: {served:?}");
        }
    }
}

#[tokio::test]
async fn refresh_reads_balances_from_upstream() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    t.mock.state().set_balance(&keys[0], 3.5);
    t.mock.state().set_balance(&keys[1], 0.0);
    t.mock.state().remove_key(&keys[2]);
    let response = t.admin(reqwest::Method::POST, "/api/keys/refresh").send().await.unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["started"], true);
    let progress = t.wait_refresh(Duration::from_secs(10)).await;
    assert_eq!((progress["total"].as_u64(), progress["done"].as_u64()), (Some(3), Some(3)), "{progress}");
    assert_eq!(progress["invalid"], 1);
    let first = t.key_row(1).await;
    assert_eq!((first["state"].as_str(), first["balance"].as_f64()), (Some("active"), Some(3.5)), "{first}");
    let second = t.key_row(2).await;
    assert_eq!((second["state"].as_str(), second["balance"].as_f64()), (Some("free"), Some(0.0)), "{second}");
    assert_eq!(t.key_row(3).await["state"], "invalid");
    let info: Value = t.http.get(format!("{}/v1/user/info", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["data"]["totalBalance"], "3.50");
}

#[tokio::test]
async fn balance_estimate_subtracts_metered_spend() {
    // SPEC §4: the balance shown is the last upstream balance minus the spend
    // metered since, from the price table.
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let long = "请详细解释一下。".repeat(400);
    for _ in 0..3 {
        assert_eq!(t.chat_with_content(PAID, &long).await.status(), 200);
    }
    let balance = t.key_row(1).await["balance"].as_f64().unwrap();
    assert!(balance < 10.0, "balance estimate unchanged after paid requests: {balance}");
}
