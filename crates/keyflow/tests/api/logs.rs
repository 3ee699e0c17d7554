//! Every request counted: log rows, usage, cost, statistics, metrics.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

const PAID: &str = "deepseek-ai/DeepSeek-V3";

async fn logs(t: &TestApp, query: &str) -> Value {
    t.admin_get(&format!("/api/logs?size=1000{query}")).await
}

/// Waits until the log holds `n` rows.
async fn wait_rows(t: &TestApp, n: u64) -> Value {
    eventually(Duration::from_secs(10), || async {
        let page = logs(t, "").await;
        (page["total"].as_u64() == Some(n)).then_some(page)
    })
    .await
}

#[tokio::test]
async fn each_request_gets_one_row_with_the_tokens_upstream_served() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 50.0, "acct-a").await;
    for stream in [false, true, false, true] {
        let response = t.chat(PAID, stream).await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    let embed = t.post_json("/v1/embeddings", json!({"model": "BAAI/bge-m3", "input": ["a", "bb"]})).await;
    assert_eq!(embed.status(), 200);
    let page = wait_rows(&t, 5).await;
    let rows = page["items"].as_array().unwrap();
    let served = t.mock.state().served();
    let prompt: u64 = rows.iter().map(|r| r["prompt_tokens"].as_u64().unwrap()).sum();
    let completion: u64 = rows.iter().map(|r| r["completion_tokens"].as_u64().unwrap()).sum();
    assert_eq!(prompt, served.prompt_tokens, "prompt tokens logged vs served");
    assert_eq!(completion, served.completion_tokens, "completion tokens logged vs served");
    let streamed: Vec<&Value> = rows.iter().filter(|r| r["stream"] == true).collect();
    assert_eq!(streamed.len(), 2);
    for row in rows {
        assert_eq!(row["status"], 200);
        assert!(row["key_id"].as_i64().is_some());
        assert!(row["latency_ms"].as_u64().is_some());
        assert!(row["ttfb_ms"].as_u64().is_some(), "{row}");
        assert_eq!(row["aborted"], false);
    }
    let chat_row = rows.iter().find(|r| r["model"] == PAID).unwrap();
    // DeepSeek-V3's default price: 2 CNY / M input, 8 CNY / M output.
    let expected = chat_row["prompt_tokens"].as_f64().unwrap() * 2.0 / 1e6
        + chat_row["completion_tokens"].as_f64().unwrap() * 8.0 / 1e6;
    assert!((chat_row["cost"].as_f64().unwrap() - expected).abs() < 1e-9, "{chat_row}");
}

#[tokio::test]
async fn errors_and_refusals_are_logged_too() {
    let t = spawn_app_with(Default::default(), |c| c.client_tokens = vec![keyflow::secret::Secret::new("tok")]).await;
    t.add_keys(0, 1, 5.0, "acct-a").await;
    let unauth = t.chat(PAID, false).await;
    assert_eq!(unauth.status(), 401);
    let bad = t
        .http
        .post(format!("{}/v1/chat/completions", t.url))
        .bearer_auth("tok")
        .json(&json!({"model": "no/such", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let page = wait_rows(&t, 2).await;
    let statuses: Vec<u64> = page["items"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert!(statuses.contains(&401) && statuses.contains(&400), "{statuses:?}");
    let errors = logs(&t, "&status=error").await;
    assert_eq!(errors["total"], 2);
    let by_token = logs(&t, "&token=env:1").await;
    assert_eq!(by_token["total"], 1);
    assert_eq!(by_token["items"][0]["model"], "no/such");
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_still_gets_its_row() {
    let mock =
        keyflow_mock::MockConfig { stream_chunks: 50, chunk_interval: Duration::from_millis(40), ..Default::default() };
    let t = spawn_app_with(mock, |_| {}).await;
    t.add_keys(0, 1, 5.0, "acct-a").await;
    let mut response = t.chat(PAID, true).await;
    // Read a few chunks, then drop the connection.
    for _ in 0..3 {
        response.chunk().await.unwrap();
    }
    drop(response);
    let page = wait_rows(&t, 1).await;
    let row = &page["items"][0];
    assert_eq!(row["aborted"], true, "{row}");
    assert!(row["completion_tokens"].as_u64().unwrap() > 0, "tokens seen so far: {row}");
    assert!(row["completion_tokens"].as_u64().unwrap() < 200, "{row}");
}

#[tokio::test]
async fn statistics_and_live_rates() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 50.0, "acct-a").await;
    for _ in 0..3 {
        t.chat(PAID, false).await.bytes().await.unwrap();
    }
    t.chat("Qwen/Qwen2.5-7B-Instruct", false).await.bytes().await.unwrap();
    wait_rows(&t, 4).await;
    let overview = t.admin_get("/api/stats/overview").await;
    assert_eq!(overview["totals"]["requests"], 4);
    assert_eq!(overview["today"]["requests"], 4);
    assert_eq!(overview["totals"]["success_rate"], 1.0);
    assert_eq!(overview["live"]["rpm"], 4);
    assert!(overview["live"]["tpm"].as_u64().unwrap() > 0);
    assert_eq!(overview["keys"]["active"], 2);
    let daily = t.admin_get("/api/stats/daily?days=7&tz=Asia/Shanghai").await;
    assert_eq!(daily["time_zone"], "Asia/Shanghai");
    assert_eq!(daily["totals"].as_array().unwrap().len(), 7);
    assert_eq!(daily["totals"][6]["requests"], 4);
    let paid = daily["by_model"].as_array().unwrap().iter().find(|r| r["model"] == PAID).unwrap().clone();
    assert_eq!(paid["requests"], 3);
    assert!(paid["cost"].as_f64().unwrap() > 0.0);
    let keys: u64 = daily["by_key"].as_array().unwrap().iter().map(|r| r["requests"].as_u64().unwrap()).sum();
    assert_eq!(keys, 4);
    let monthly = t.admin_get("/api/stats/monthly?months=3").await;
    assert_eq!(monthly["totals"].as_array().unwrap().len(), 3);
    let hourly = t.admin_get("/api/stats/hourly?hours=5").await;
    assert_eq!(hourly["totals"].as_array().unwrap().len(), 5);
    let bad = t.admin(reqwest::Method::GET, "/api/stats/daily?tz=Mars/Olympus").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    // Clearing the log.
    let cleared: Value = t.admin(reqwest::Method::DELETE, "/api/logs").send().await.unwrap().json().await.unwrap();
    assert_eq!(cleared["deleted"], 4);
    assert_eq!(logs(&t, "").await["total"], 0);
}

#[tokio::test]
async fn spend_lowers_the_balance_estimate_until_a_refresh_corrects_it() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    // A price high enough to see: 1000 CNY per million output tokens.
    let price = json!({"input_per_m": 0, "output_per_m": 1000000, "per_image": 0});
    let response =
        t.admin(reqwest::Method::PUT, &format!("/api/models/prices/{PAID}")).json(&price).send().await.unwrap();
    assert_eq!(response.status(), 200);
    t.chat(PAID, false).await.bytes().await.unwrap();
    let row = wait_rows(&t, 1).await["items"][0].clone();
    let cost = row["cost"].as_f64().unwrap();
    assert!(cost > 0.5, "{row}");
    let balance = eventually(Duration::from_secs(5), || async {
        let b = t.key_row(1).await["balance"].as_f64().unwrap();
        (b < 10.0).then_some(b)
    })
    .await;
    assert!((balance - (10.0 - cost)).abs() < 1e-3, "estimate {balance} vs 10 - {cost}");
    // Upstream reports the truth on refresh.
    t.mock.state().set_balance(&keys[0], 7.5);
    t.admin(reqwest::Method::POST, "/api/keys/refresh").send().await.unwrap();
    eventually(Duration::from_secs(5), || async { (t.key_row(1).await["balance"] == 7.5).then_some(()) }).await;
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    t.add_keys(1, 1, 5.0, "acct-b").await;
    // The richest key (picked first) is rate limited once: the request moves on.
    t.mock.state().set_fault_times(&keys[0], keyflow_mock::Fault::RateLimited(keyflow_mock::RateMetric::Tpm), 1);
    t.chat(PAID, false).await.bytes().await.unwrap();
    t.chat(PAID, true).await.bytes().await.unwrap();
    wait_rows(&t, 2).await;
    // Private mode (the default): the admin scrapes with Basic credentials.
    let text = t.admin(reqwest::Method::GET, "/metrics").send().await.unwrap().text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert!(value("keyflow_requests_total", Some(("model", PAID))) >= 1.0, "{text}");
    assert!(value("keyflow_tokens_total", Some(("kind", "completion"))) > 0.0);
    assert!(value("keyflow_upstream_errors_total", Some(("class", "rate_limited"))) >= 1.0, "{text}");
    // Each key counts once, in the state the keys list shows: the rate-limited one is cooling.
    assert_eq!(value("keyflow_keys", Some(("state", "active"))), 1.0);
    assert_eq!(value("keyflow_keys", Some(("state", "cooling"))), 1.0);
    assert_eq!(value("keyflow_keys", None), 2.0, "the states add up to the pool");
    assert!(text.contains("keyflow_gateway_overhead_seconds_bucket"), "{text}");
    assert!(text.contains("keyflow_time_to_first_byte_seconds"), "{text}");
    assert!(text.contains("keyflow_log_queue_depth"));
    assert!(!text.contains(&keys[0]), "a key leaked into metrics");
}
