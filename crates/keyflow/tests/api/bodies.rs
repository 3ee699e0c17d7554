//! Bodies pass through byte for byte: multipart uploads, binary audio, FIM
//! completions, embeddings and rerank (with usage read from both shapes), and
//! the body limit.

use keyflow_mock::fnv1a;
use serde_json::{json, Value};

use crate::helpers::*;

const FIM_MODEL: &str = "deepseek-ai/DeepSeek-V3";

/// Every byte value, several times, with a CRLF and a fake boundary inside.
fn binary_audio() -> Vec<u8> {
    let mut audio: Vec<u8> = (0..=255u8).cycle().take(256 * 40).collect();
    audio.extend_from_slice(b"\r\n--not-the-boundary\r\n\x00\xff");
    audio
}

/// Summed `(prompt, completion)` tokens of log rows.
fn logged_tokens(rows: &[Value]) -> (u64, u64) {
    rows.iter().fold((0, 0), |(p, c), row| {
        (p + row["prompt_tokens"].as_u64().unwrap(), c + row["completion_tokens"].as_u64().unwrap())
    })
}

#[tokio::test]
async fn transcription_upload_arrives_upstream_byte_identical() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    let audio = binary_audio();
    let parts = [field("model", "FunAudioLLM/SenseVoiceSmall"), file_part("file", "录音.wav", &audio)];
    let (content_type, sent) = multipart(&parts);
    let response = t.post_multipart("/v1/audio/transcriptions", &parts).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(text.contains(&format!("{} 字节", audio.len())), "{text}");
    assert!(text.contains(&format!("{:016x}", fnv1a(&audio))), "file bytes changed on the way: {text}");
    let upstream = t.mock.state().last_request(&keys[0]).unwrap();
    assert_eq!(upstream.path, "/v1/audio/transcriptions");
    assert_eq!(upstream.header("content-type"), Some(content_type.as_str()));
    assert!(upstream.body == sent, "multipart body differs upstream ({} vs {} bytes)", upstream.body.len(), sent.len());
}

#[tokio::test]
async fn speech_audio_reaches_the_client_byte_identical() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    // Long enough for several 4 KiB chunks.
    let input = "今天天气很好，我们去公园散步吧。".repeat(20);
    let request = json!({"model": "FunAudioLLM/CosyVoice2-0.5B", "input": input,
                         "voice": "FunAudioLLM/CosyVoice2-0.5B:alex", "response_format": "wav"});
    let response = t.post_json("/v1/audio/speech", request.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/wav");
    let through = response.bytes().await.unwrap();
    let direct = t
        .http
        .post(format!("{}/v1/audio/speech", t.mock.url()))
        .bearer_auth(&keys[0])
        .json(&request)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(direct.len() > 3 * 4096 && direct.starts_with(b"RIFF"), "mock answer: {} bytes", direct.len());
    assert!(through == direct, "audio differs: {} bytes through keyflow, {} direct", through.len(), direct.len());
}

#[tokio::test]
async fn fim_completion_passes_through_stream_and_not() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    let prompt = "def add(a, b):\n    ";
    let suffix = "\n\nprint(add(1, 2))\n";
    let request = json!({"model": FIM_MODEL, "prompt": prompt, "suffix": suffix, "max_tokens": 64});
    let response = t.post_json("/v1/completions", request.clone()).await;
    assert_eq!(response.status(), 200);
    let whole: Value = response.json().await.unwrap();
    assert_eq!(whole["object"], "text_completion");
    let text = whole["choices"][0]["text"].as_str().unwrap().to_string();
    assert!(text.contains("fill-in-the-middle"), "suffix lost on the way: {text}");
    let sent: Value = serde_json::from_slice(&t.mock.state().last_request(&keys[0]).unwrap().body).unwrap();
    assert_eq!((sent["prompt"].as_str(), sent["suffix"].as_str()), (Some(prompt), Some(suffix)));
    let usage =
        (whole["usage"]["prompt_tokens"].as_u64().unwrap(), whole["usage"]["completion_tokens"].as_u64().unwrap());
    assert_eq!(logged_tokens(&t.logs_of(FIM_MODEL, 1).await), usage, "usage of a completion not logged");

    let mut streamed = request;
    streamed["stream"] = json!(true);
    let response = t.post_json("/v1/completions", streamed).await;
    assert_eq!(response.status(), 200);
    let sse = response.text().await.unwrap();
    assert!(sse.trim_end().ends_with("data: [DONE]"), "{sse}");
    assert!(!sse.contains("\"choices\":[]"), "usage chunk the client did not ask for leaked: {sse}");
    let joined: String = sse
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str::<Value>(data).unwrap()["choices"][0]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(joined, text, "streamed FIM text differs from the whole answer");
    let rows = t.logs_of(FIM_MODEL, 2).await;
    let streamed: Vec<Value> = rows.into_iter().filter(|row| row["stream"] == true).collect();
    assert_eq!(logged_tokens(&streamed), usage, "usage of a streamed completion not logged");
}

#[tokio::test]
async fn suffix_on_a_model_without_fim_is_upstream_answer_without_failover() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    let response = t
        .post_json("/v1/completions", json!({"model": "Qwen/Qwen2.5-7B-Instruct", "prompt": "a", "suffix": "b"}))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 20015);
    let calls: u64 = keys.iter().map(|k| t.mock.state().hits_on(k, "/v1/completions")).sum();
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn embeddings_pass_through_and_count_usage() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    let request =
        json!({"model": "BAAI/bge-m3", "input": ["硅基流动", "keyflow pools keys"], "encoding_format": "base64"});
    let response = t.post_json("/v1/embeddings", request.clone()).await;
    assert_eq!(response.status(), 200);
    let through: Value = response.json().await.unwrap();
    let direct: Value = t
        .http
        .post(format!("{}/v1/embeddings", t.mock.url()))
        .bearer_auth(&keys[0])
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(through, direct);
    assert_eq!(through["data"].as_array().unwrap().len(), 2);
    assert!(through["data"][0]["embedding"].is_string(), "base64 vectors stay strings");
    let logged = logged_tokens(&t.logs_of("BAAI/bge-m3", 1).await);
    assert_eq!(logged, (through["usage"]["prompt_tokens"].as_u64().unwrap(), 0));
}

#[tokio::test]
async fn rerank_usage_is_read_from_both_shapes() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let documents = ["apple pie recipe", "a red apple", "bananas"];
    for (model, pointer) in
        [("BAAI/bge-reranker-v2-m3", "/tokens/input_tokens"), ("Qwen/Qwen3-Reranker-8B", "/meta/tokens/input_tokens")]
    {
        let response = t
            .post_json(
                "/v1/rerank",
                json!({"model": model, "query": "apple", "documents": documents, "top_n": 2, "return_documents": true}),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert!(results[0]["document"]["text"].is_string(), "{body}");
        let tokens = body.pointer(pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("{pointer}: {body}"));
        assert!(tokens > 0);
        assert_eq!(logged_tokens(&t.logs_of(model, 1).await), (tokens, 0), "rerank usage of {model} not logged");
    }
}

#[tokio::test]
async fn body_over_the_limit_gets_413_and_no_upstream_call() {
    let t = spawn_app_with(Default::default(), |c| c.max_body_bytes = 2048).await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let before = t.mock.state().total_hits();
    let big = "字".repeat(2000);
    let response = t.chat_with_content("deepseek-ai/DeepSeek-V3", &big).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("MAX_BODY_BYTES"), "{body}");

    let audio = vec![7u8; 4096];
    let response = t
        .post_multipart(
            "/v1/audio/transcriptions",
            &[field("model", "FunAudioLLM/SenseVoiceSmall"), file_part("file", "a.wav", &audio)],
        )
        .await;
    assert_eq!(response.status(), 413);

    let response = t
        .post_json(
            "/v1/messages",
            json!({"model": "deepseek-ai/DeepSeek-V3", "max_tokens": 5, "messages": [{"role": "user", "content": big}]}),
        )
        .await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error", "Anthropic's shape on /v1/messages: {body}");
    assert_eq!(t.mock.state().total_hits(), before, "an oversized body reached upstream");

    // Just under the limit still goes through.
    let response = t.chat_with_content("deepseek-ai/DeepSeek-V3", &"字".repeat(500)).await;
    assert_eq!(response.status(), 200);
}
