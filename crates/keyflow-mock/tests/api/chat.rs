//! Chat, completions and messages: shapes and SSE framing with running usage.

use std::time::{Duration, Instant};

use keyflow_mock::{MockConfig, StreamUsage};
use serde_json::{json, Value};

use crate::support::{chat_body, json_of, spawn, spawn_with, sse_data, KEY_A};

const MODEL: &str = "Pro/Qwen/Qwen2.5-7B-Instruct";

async fn stream_chunks(mock: &crate::support::TestMock, body: &Value) -> (Vec<Value>, String) {
    let response = mock.post_json(KEY_A, "/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    assert!(text.ends_with("data: [DONE]\n\n"));
    let chunks = data[..data.len() - 1].iter().map(|frame| serde_json::from_str(frame).unwrap()).collect();
    (chunks, text)
}

#[tokio::test]
async fn non_stream_shape() {
    let mock = spawn().await;
    let answer =
        json_of(mock.post_json(KEY_A, "/v1/chat/completions", &chat_body(MODEL, "你好 world", false)).await).await;
    assert_eq!(answer["id"].as_str().unwrap().len(), 32);
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["model"], MODEL);
    assert_eq!(answer["system_fingerprint"], "");
    assert_eq!(answer["choices"][0]["message"]["role"], "assistant");
    assert_eq!(answer["choices"][0]["finish_reason"], "stop");
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("你好 world"));
    let usage = &answer["usage"];
    // "be brief" + "你好 world" = 8 + 8 characters = 4 tokens.
    assert_eq!(usage["prompt_tokens"], 4);
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    let served = mock.state.served();
    assert_eq!(served.requests, 1);
    assert_eq!(served.prompt_tokens, 4);
}

#[tokio::test]
async fn stream_carries_running_usage_and_matches_non_stream() {
    let mock = spawn().await;
    let (chunks, _) = stream_chunks(&mock, &chat_body(MODEL, "hello there", true)).await;
    // role chunk + 5 content chunks + finish chunk; no trailer without include_usage.
    assert_eq!(chunks.len(), 7);
    let first = &chunks[0];
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"], json!({"role": "assistant", "content": "", "reasoning_content": null}));
    let mut last_completion = 0;
    let mut content = String::new();
    for chunk in &chunks[1..6] {
        let usage = &chunk["usage"];
        let completion = usage["completion_tokens"].as_u64().unwrap();
        assert!(completion > last_completion);
        assert_eq!(usage["total_tokens"].as_u64().unwrap(), usage["prompt_tokens"].as_u64().unwrap() + completion);
        assert!(chunk["choices"][0]["finish_reason"].is_null());
        last_completion = completion;
        content.push_str(chunk["choices"][0]["delta"]["content"].as_str().unwrap());
    }
    let last = &chunks[6];
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["choices"][0]["delta"]["content"], "");
    assert_eq!(last["usage"]["completion_tokens"], last_completion);

    let whole =
        json_of(mock.post_json(KEY_A, "/v1/chat/completions", &chat_body(MODEL, "hello there", false)).await).await;
    assert_eq!(whole["choices"][0]["message"]["content"], content.as_str());
    assert_eq!(whole["usage"]["completion_tokens"], last_completion);
}

#[tokio::test]
async fn include_usage_adds_a_trailing_chunk() {
    let mock = spawn().await;
    let mut body = chat_body(MODEL, "hi", true);
    body["stream_options"] = json!({"include_usage": true});
    let (chunks, _) = stream_chunks(&mock, &body).await;
    let trailer = chunks.last().unwrap();
    assert_eq!(trailer["choices"], json!([]));
    assert_eq!(trailer["usage"], chunks[chunks.len() - 2]["usage"]);

    mock.state.set_stream_usage(StreamUsage::Omitted);
    let (chunks, _) = stream_chunks(&mock, &body).await;
    assert!(chunks[..chunks.len() - 1].iter().all(|chunk| chunk.get("usage").is_none()));
    assert!(chunks.last().unwrap()["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn split_frames_and_pacing_keep_the_bytes() {
    let config = MockConfig { stream_chunks: 3, chunk_interval: Duration::from_millis(20), ..MockConfig::default() };
    let mock = spawn_with(config).await;
    mock.state.set_split_frames(true);
    let started = Instant::now();
    let (chunks, _) = stream_chunks(&mock, &chat_body(MODEL, "中文测试", true)).await;
    assert!(started.elapsed() >= Duration::from_millis(80));
    assert_eq!(chunks.len(), 5);
    let content: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert!(content.contains("中文测试"));
}

#[tokio::test]
async fn max_tokens_cuts_with_length() {
    let mock = spawn().await;
    let mut body = chat_body(MODEL, "hi", false);
    body["max_tokens"] = json!(3);
    let answer = json_of(mock.post_json(KEY_A, "/v1/chat/completions", &body).await).await;
    assert_eq!(answer["choices"][0]["finish_reason"], "length");
    assert_eq!(answer["choices"][0]["message"]["content"].as_str().unwrap().chars().count(), 12);
}

#[tokio::test]
async fn reasoning_model_streams_reasoning_first() {
    let mock = spawn().await;
    let (chunks, _) = stream_chunks(&mock, &chat_body("Pro/deepseek-ai/DeepSeek-R1", "hi", true)).await;
    assert!(chunks[1]["choices"][0]["delta"]["reasoning_content"].is_string());
    assert!(chunks[1]["choices"][0]["delta"]["content"].is_null());
}

#[tokio::test]
async fn completions_fim_stream_and_not() {
    let mock = spawn().await;
    let body = json!({"model": "Qwen/Qwen2.5-Coder-7B-Instruct", "prompt": "def add(a, b):", "suffix": "\n"});
    let answer = json_of(mock.post_json(KEY_A, "/v1/completions", &body).await).await;
    assert_eq!(answer["object"], "text_completion");
    assert!(answer["choices"][0]["text"].as_str().unwrap().contains("模拟补全"));
    assert!(answer["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = mock.post_json(KEY_A, "/v1/completions", &streamed).await.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let joined: String = data[..data.len() - 1]
        .iter()
        .map(|frame| serde_json::from_str::<Value>(frame).unwrap())
        .map(|chunk| chunk["choices"][0]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(joined, answer["choices"][0]["text"].as_str().unwrap());

    // Only FIM models take a suffix.
    let not_fim = json!({"model": "Qwen/Qwen3-8B", "prompt": "x", "suffix": "y"});
    assert_eq!(mock.post_json(KEY_A, "/v1/completions", &not_fim).await.status(), 400);
}

#[tokio::test]
async fn messages_stream_is_anthropic_sse() {
    let mock = spawn().await;
    let body = json!({"model": "deepseek-ai/DeepSeek-V3", "max_tokens": 100, "stream": true,
        "system": [{"type": "text", "text": "be nice"}],
        "messages": [{"role": "user", "content": "hi"}]});
    let text = mock.post_json(KEY_A, "/v1/messages", &body).await.text().await.unwrap();
    let events: Vec<&str> =
        text.split("\n\n").filter_map(|frame| frame.lines().next()?.strip_prefix("event: ")).collect();
    assert_eq!(events.first(), Some(&"message_start"));
    assert_eq!(events.last(), Some(&"message_stop"));
    assert_eq!(events.iter().filter(|e| **e == "content_block_delta").count(), 5);
    let data = sse_data(&text);
    let start: Value = serde_json::from_str(&data[0]).unwrap();
    assert_eq!(start["message"]["usage"]["input_tokens"], 3);
    let delta: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);
}
