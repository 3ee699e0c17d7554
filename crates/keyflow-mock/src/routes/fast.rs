//! Benchmark mode (`MockConfig::fast`): canned chat answers built once.
//!
//! The load benchmark measures the gateway, so the mock must cost as little
//! as possible: no JSON parsing, no allocation beyond cloning `Bytes`. The
//! request is only scanned for `"stream": true` and `"include_usage": true`.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::chat::usage;
use super::sse;
use crate::state::MockState;
use crate::text::{piece_tokens, reply_to, split_pieces};

const MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";
const ID: &str = "0190000000000000000000000000fa57";
const PROMPT_TOKENS: u64 = 10;

/// The pre-rendered answers.
pub(crate) struct Canned {
    json: Bytes,
    frames: Vec<Bytes>,
    trailer: Bytes,
}

/// Holds the canned answers of one mock, built on first use.
#[derive(Default)]
pub(crate) struct CannedCell(OnceLock<Canned>);

fn build(stream_chunks: usize) -> Canned {
    let pieces = split_pieces(&reply_to("hello"), stream_chunks);
    let completion = piece_tokens(&pieces);
    let chunk = |delta: serde_json::Value, finish: Option<&str>, completion: u64| {
        Bytes::from(sse::data(&json!({
            "id": ID, "object": "chat.completion.chunk", "created": 1_750_000_000u64, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            "system_fingerprint": "", "usage": usage(PROMPT_TOKENS, completion),
        })))
    };
    let mut frames = vec![chunk(json!({"role": "assistant", "content": "", "reasoning_content": null}), None, 0)];
    let mut running = 0;
    for piece in &pieces {
        running += crate::text::tokens(piece);
        frames.push(chunk(json!({"content": piece, "reasoning_content": null}), None, running));
    }
    frames.push(chunk(json!({"content": "", "reasoning_content": null}), Some("stop"), completion));
    let trailer = Bytes::from(sse::data(&json!({
        "id": ID, "object": "chat.completion.chunk", "created": 1_750_000_000u64, "model": MODEL,
        "choices": [], "system_fingerprint": "", "usage": usage(PROMPT_TOKENS, completion),
    })));
    let json = json!({
        "id": ID, "object": "chat.completion", "created": 1_750_000_000u64, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": pieces.concat()}, "finish_reason": "stop"}],
        "usage": usage(PROMPT_TOKENS, completion), "system_fingerprint": "",
    });
    Canned { json: Bytes::from(json.to_string()), frames, trailer }
}

/// Whether the raw JSON sets `"name": true` (whitespace around `:` allowed).
fn json_flag(body: &[u8], name: &[u8]) -> bool {
    let mut rest = body;
    while let Some(at) = find(rest, name) {
        let after = rest[at + name.len()..]
            .iter()
            .skip_while(|b| b.is_ascii_whitespace() || **b == b':')
            .take(4)
            .copied()
            .collect::<Vec<u8>>();
        if after == b"true" {
            return true;
        }
        rest = &rest[at + name.len()..];
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

/// The canned chat answer, streamed if the request asks for it.
pub(super) fn chat(state: &MockState, body: &[u8]) -> Response {
    let config = state.config();
    let canned = state.inner.canned.0.get_or_init(|| build(config.stream_chunks));
    if !json_flag(body, b"\"stream\"") {
        let mut response = canned.json.clone().into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return response;
    }
    let mut frames = canned.frames.clone();
    if json_flag(body, b"\"include_usage\"") {
        frames.push(canned.trailer.clone());
    }
    frames.push(Bytes::from_static(sse::DONE.as_bytes()));
    sse::response(frames, config.chunk_interval, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_scan() {
        assert!(json_flag(br#"{"stream": true}"#, b"\"stream\""));
        assert!(json_flag(br#"{"a":"stream","stream" :true}"#, b"\"stream\""));
        assert!(!json_flag(br#"{"stream":false}"#, b"\"stream\""));
        assert!(!json_flag(br#"{"model":"x"}"#, b"\"stream\""));
    }
}
