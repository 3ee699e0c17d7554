//! Upstream down: the mock's listener is closed, so connections are refused
//! as they are when SiliconFlow or the network is gone. Clients get a 502
//! that names upstream, keys keep their state, and the first request after
//! upstream returns on the same port succeeds without operator action.

use std::time::{Duration, Instant};

use keyflow::App;
use keyflow_mock::{MockConfig, MockServer};
use serde_json::Value;

use crate::common::{base_config, test_key};
use crate::harness::{all_key_rows, chat, import, PAID};

const N_KEYS: usize = 3;
/// Requests sent while upstream is down (plain and streamed alternate).
const N_DURING: usize = 6;

async fn key_states(http: &reqwest::Client, url: &str) -> Vec<(i64, String)> {
    let rows = all_key_rows(http, url).await;
    rows.iter()
        .map(|row| (row["id"].as_i64().expect("id"), row["state"].as_str().expect("state").to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_outage_gives_502_keeps_keys_and_recovers_by_itself() {
    let started = Instant::now();
    let mock = MockServer::start(MockConfig::default()).await.expect("mock starts");
    let upstream = mock.state();
    let addr = mock.addr();
    let dir = tempfile::tempdir().expect("tempdir");
    let app = App::start(base_config(&mock.url(), dir.path())).await.expect("keyflow starts");
    let url = app.url();
    let http = reqwest::Client::new();
    let keys: Vec<String> = (0..N_KEYS).map(|i| test_key(400_000 + i)).collect();
    for (i, key) in keys.iter().enumerate() {
        upstream.add_key(key, 20.0, &format!("acct-{i}"));
    }
    let report = import(&http, &url, &keys).await.expect("import");
    assert_eq!(report["added"], N_KEYS, "{report}");
    chat(&http, &url, 0).await.expect("a chat before the outage");
    let before = key_states(&http, &url).await;
    assert!(before.iter().all(|(_, state)| state == "active"), "{before:?}");

    // The outage: the listener closes, idle upstream connections are shut.
    mock.shutdown().await;
    let hits_before = upstream.total_hits();
    for i in 0..N_DURING {
        let body = crate::harness::chat_body(i);
        let response =
            http.post(format!("{url}/v1/chat/completions")).json(&body).send().await.expect("keyflow answers");
        let status = response.status();
        let answer: Value = response.json().await.expect("an error body in JSON");
        let message = answer["error"]["message"].as_str().unwrap_or_default().to_lowercase();
        assert_eq!(status, 502, "request {i} (stream: {}) during the outage: {answer}", body["stream"]);
        assert_ne!(answer["error"]["code"], "50301", "an outage is not a lack of keys: {answer}");
        assert!(message.contains("upstream"), "the message should name upstream: {answer}");
    }
    assert_eq!(upstream.total_hits(), hits_before, "a request reached the stopped mock");
    // Nothing about the keys was learned from refused connections.
    assert_eq!(key_states(&http, &url).await, before, "key states changed during the outage");

    // Upstream returns on the same address; no operator action in between.
    let mock = MockServer::start_with_state(addr, upstream.clone()).await.expect("mock returns on its port");
    let first = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&serde_json::json!({"model": PAID, "messages": [{"role": "user", "content": "back?"}]}))
        .send()
        .await
        .expect("keyflow answers");
    let status = first.status();
    let text = first.text().await.expect("body");
    assert_eq!(status, 200, "first request after the outage: {text}");
    for i in 1..4 {
        chat(&http, &url, i).await.expect("chats after the outage");
    }
    assert_eq!(key_states(&http, &url).await, before, "key states after the outage");

    app.shutdown().await;
    mock.shutdown().await;
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
}
