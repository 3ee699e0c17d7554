//! Streaming (SPEC §3): frames arrive intact, in order and as they are made;
//! a stream that breaks after its first byte ends with an error event and is
//! not retried; a refused stream keeps its status; timeouts; Anthropic
//! streams; and a client hanging up releases its key.

use std::time::{Duration, Instant};

use keyflow_mock::{Fault, MockConfig, RateMetric};
use serde_json::{json, Value};

use crate::helpers::*;

const PAID: &str = "deepseek-ai/DeepSeek-V3";

/// The JSON payloads of an OpenAI-style stream, `[DONE]` excluded.
fn data_frames(sse: &str) -> Vec<Value> {
    sse.split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap_or_else(|e| panic!("broken frame {data:?}: {e}")))
        .collect()
}

fn chat_text(frames: &[Value]) -> String {
    frames.iter().filter_map(|f| f["choices"][0]["delta"]["content"].as_str()).collect()
}

/// `(event name, data)` of an Anthropic stream.
fn anthropic_events(sse: &str) -> Vec<(String, Value)> {
    sse.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let mut lines = frame.lines();
            let event = lines.next().and_then(|l| l.strip_prefix("event: ")).expect("event line").to_string();
            let data = lines.next().and_then(|l| l.strip_prefix("data: ")).expect("data line");
            (event, serde_json::from_str(data).expect("event json"))
        })
        .collect()
}

fn messages_request(stream: bool) -> Value {
    json!({"model": PAID, "max_tokens": 200, "stream": stream,
           "messages": [{"role": "user", "content": "用一句话介绍硅基流动"}]})
}

#[tokio::test]
async fn frames_split_across_writes_arrive_intact_and_in_order() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let whole: Value = t.chat(PAID, false).await.json().await.unwrap();
    let expected = whole["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    assert!(!expected.is_ascii(), "the reply must hold multi-byte characters: {expected}");

    t.mock.state().set_split_frames(true);
    let sse = t.chat(PAID, true).await.text().await.unwrap();
    let frames = data_frames(&sse);
    assert_eq!(frames[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chat_text(&frames), expected);
    assert_eq!(frames.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert!(sse.ends_with("data: [DONE]\n\n"), "{sse}");

    let response = t.post_json("/v1/messages", messages_request(true)).await;
    let events = anthropic_events(&response.text().await.unwrap());
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert!(!text.is_empty() && !text.contains('\u{FFFD}'), "{text}");
    assert_eq!(events.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn chunks_reach_the_client_as_upstream_sends_them() {
    let mock = MockConfig { chunk_interval: Duration::from_millis(150), stream_chunks: 5, ..Default::default() };
    let t = spawn_app_with(mock, |_| {}).await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let started = Instant::now();
    let mut response = t.chat(PAID, true).await;
    let first = response.chunk().await.unwrap().expect("a first chunk");
    let first_at = started.elapsed();
    assert!(first.starts_with(b"data: "));
    while response.chunk().await.unwrap().is_some() {}
    let total = started.elapsed();
    assert!(total >= Duration::from_millis(900), "the mock paces 8 frames 150 ms apart: {total:?}");
    assert!(first_at + Duration::from_millis(600) < total, "first chunk held back until {first_at:?} of {total:?}");
}

#[tokio::test]
async fn a_stream_broken_after_the_first_byte_ends_with_an_error_event_and_is_not_retried() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    for key in &keys {
        t.mock.state().set_fault(key, Fault::DropMidStream { after_chunks: 2 });
    }
    let response = t.chat(PAID, true).await;
    assert_eq!(response.status(), 200);
    let sse = response.text().await.unwrap();
    assert!(!sse.contains("[DONE]"), "{sse}");
    let frames = data_frames(&sse);
    assert_eq!(frames.len(), 3, "two upstream frames, then the error event: {sse}");
    assert_eq!(frames[0]["choices"][0]["delta"]["role"], "assistant");
    let error = &frames[2]["error"];
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{sse}");
    let calls: u64 = keys.iter().map(|k| t.mock.state().hits_on(k, "/v1/chat/completions")).sum();
    assert_eq!(calls, 1, "a stream that already started was retried");

    // Anthropic's stream breaks with Anthropic's error event.
    let response = t.post_json("/v1/messages", messages_request(true)).await;
    let sse = response.text().await.unwrap();
    let events = anthropic_events(&sse);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{sse}");
    assert_eq!(data["type"], "error");
}

#[tokio::test]
async fn a_stream_refused_before_it_starts_keeps_its_status() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    let response = t.chat("no/such-model", true).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 20012);

    let mut bad = messages_request(true);
    bad["model"] = json!("no/such-model");
    let response = t.post_json("/v1/messages", bad).await;
    assert_eq!(response.status(), 400);

    // A 504 from upstream is returned as is: the work may have run.
    t.mock.state().set_fault(&keys[0], Fault::GatewayTimeout);
    t.mock.state().set_fault(&keys[1], Fault::GatewayTimeout);
    let response = t.chat(PAID, true).await;
    assert_eq!(response.status(), 504);
    assert_eq!(response.text().await.unwrap(), "\"Gateway Timeout\"");

    for key in &keys {
        t.mock.state().set_fault(key, Fault::RateLimited(RateMetric::Rpm));
    }
    let response = t.chat(PAID, true).await;
    assert_eq!(response.status(), 503, "all keys rate limited");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "50301");
}

#[tokio::test]
async fn a_slow_first_byte_gives_504() {
    let t = spawn_app_with(Default::default(), |c| {
        c.runtime.first_byte_timeout_secs = 1;
        c.runtime.max_retries = 0;
    })
    .await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    for key in &keys {
        t.mock.state().set_fault(key, Fault::Slow(Duration::from_secs(3)));
    }
    let started = Instant::now();
    let response = t.chat(PAID, true).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_timeout", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("FIRST_BYTE_TIMEOUT"), "{body}");
    assert!(elapsed < Duration::from_millis(2500), "waited {elapsed:?} for a 1 s timeout");
    let calls: u64 = keys.iter().map(|k| t.mock.state().hits_on(k, "/v1/chat/completions")).sum();
    assert_eq!(calls, 1, "MAX_RETRIES=0 allows one attempt");
    // A timeout never marks a key bad.
    assert_eq!(t.key_row(1).await["state"], "active");
    assert_eq!(t.key_row(2).await["state"], "active");
}

#[tokio::test]
async fn anthropic_stream_passes_through_unchanged() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    let whole: Value = t.post_json("/v1/messages", messages_request(false)).await.json().await.unwrap();
    let expected = whole["content"][0]["text"].as_str().unwrap().to_string();

    let sent = serde_json::to_vec(&messages_request(true)).unwrap();
    let response = t
        .http
        .post(format!("{}/v1/messages", t.url))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .body(sent.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let sse = response.text().await.unwrap();
    assert!(!sse.contains("[DONE]"), "OpenAI terminator added to an Anthropic stream: {sse}");
    let events = anthropic_events(&sse);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    let n = names.len();
    assert_eq!(names[..3], ["message_start", "content_block_start", "ping"], "{names:?}");
    assert!(names[3..n - 3].iter().all(|name| *name == "content_block_delta"), "{names:?}");
    assert_eq!(names[n - 3..], ["content_block_stop", "message_delta", "message_stop"], "{names:?}");
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str());
    }
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, expected);

    let upstream = t.mock.state().last_request(&keys[0]).unwrap();
    assert!(upstream.body == sent, "the Anthropic request body was changed on the way");
    assert_eq!(upstream.header("anthropic-version"), Some("2023-06-01"));

    let input = events[0].1["message"]["usage"]["input_tokens"].as_u64().unwrap();
    let output = events[n - 2].1["usage"]["output_tokens"].as_u64().unwrap();
    let rows = t.logs_of(PAID, 2).await;
    let row = rows.iter().find(|row| row["stream"] == true).expect("a log row of the stream");
    assert_eq!(
        (row["prompt_tokens"].as_u64(), row["completion_tokens"].as_u64()),
        (Some(input), Some(output)),
        "{row}"
    );
}

#[tokio::test]
async fn a_client_hanging_up_mid_stream_releases_the_key() {
    let mock = MockConfig { chunk_interval: Duration::from_millis(100), stream_chunks: 40, ..Default::default() };
    let t = spawn_app_with(mock, |_| {}).await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let mut response = t.chat(PAID, true).await;
    assert_eq!(response.status(), 200);
    response.chunk().await.unwrap().expect("a first chunk");
    assert_eq!(t.inflight_of(1).await, 1, "the key is in flight while the stream runs");
    drop(response);
    eventually(Duration::from_secs(3), || async { (t.inflight_of(1).await == 0).then_some(()) }).await;
    let rows = t.logs_of(PAID, 1).await;
    assert_eq!(rows[0]["aborted"], true, "the log row must say the client hung up: {}", rows[0]);
}

#[tokio::test]
async fn a_client_hanging_up_on_a_silent_stream_releases_the_key() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    t.mock.state().set_fault(&keys[0], Fault::StallMidStream { after_chunks: 2 });
    let mut response = t.chat(PAID, true).await;
    assert_eq!(response.status(), 200);
    response.chunk().await.unwrap().expect("a first chunk");
    assert_eq!(t.inflight_of(1).await, 1);
    drop(response);
    // Upstream stays silent: only the client's hang-up can end this request.
    eventually(Duration::from_secs(3), || async { (t.inflight_of(1).await == 0).then_some(()) }).await;
}
