//! `POST /v1/chat/completions`, non-stream and SSE with SiliconFlow's running usage.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::{bill, ensure_funds, fast, flag, model_of, optional_u64, parse_object, sse};
use crate::catalogue::{Kind, ModelSpec};
use crate::error::ApiError;
use crate::fault::StreamUsage;
use crate::gate::Caller;
use crate::state::MockState;
use crate::text::{hex_id, limit_tokens, now_secs, piece_tokens, reply_to, split_pieces, tokens_of_chars};

/// What reasoning models think out loud before answering.
const REASONING: &str = "嗯，让我想一想这个问题。Let me think.";

/// The text of one message's `content`: a string, or the text parts of an array.
pub(super) fn content_text(content: Option<&Value>) -> Result<String, ApiError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            Ok(parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n"))
        }
        Some(_) => Err(ApiError::InvalidParameter),
    }
}

/// All prompt characters and the last user message of `messages`.
pub(super) fn read_messages(object: &Map<String, Value>) -> Result<(u64, String), ApiError> {
    let messages = match object.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        _ => return Err(ApiError::InvalidParameter),
    };
    let mut chars = 0u64;
    let mut last_user = String::new();
    for message in messages {
        let role = message.get("role").and_then(Value::as_str).ok_or(ApiError::InvalidParameter)?;
        let text = content_text(message.get("content"))?;
        chars += text.chars().count() as u64;
        if role == "user" {
            last_user = text;
        }
    }
    Ok((chars, last_user))
}

/// Upstream's context-window errors, with its exact wording.
pub(super) fn check_context(spec: &ModelSpec, prompt: u64, max_tokens: Option<u64>) -> Result<(), ApiError> {
    if spec.context == 0 {
        return Ok(());
    }
    if prompt >= spec.context {
        return Err(ApiError::Invalid(format!(
            "length of prompt_tokens ({prompt}) must be less than max_seq_len ({}).",
            spec.context
        )));
    }
    let total = prompt + max_tokens.unwrap_or(0);
    if total > spec.context {
        return Err(ApiError::Invalid(format!(
            "max_total_tokens ({total}) must be less than or equal to max_seq_len ({}).",
            spec.context
        )));
    }
    Ok(())
}

/// A usage object with the three totals.
pub(super) fn usage(prompt: u64, completion: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

/// The planned answer: identical whether streamed or not.
struct Answer {
    spec: &'static ModelSpec,
    id: String,
    created: u64,
    prompt: u64,
    reasoning: Vec<String>,
    pieces: Vec<String>,
    finish: &'static str,
}

impl Answer {
    fn completion(&self) -> u64 {
        piece_tokens(&self.reasoning) + piece_tokens(&self.pieces)
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<Value>) -> String {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.spec.id,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            "system_fingerprint": "",
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        sse::data(&chunk)
    }
}

pub(super) async fn chat(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if state.config().fast {
        return Ok(fast::chat(&state, &body));
    }
    let object = parse_object(&body)?;
    let spec = model_of(&object, &[Kind::Chat])?;
    let (chars, last_user) = read_messages(&object)?;
    let max_tokens = optional_u64(&object, "max_tokens")?;
    let prompt = tokens_of_chars(chars);
    check_context(spec, prompt, max_tokens)?;
    ensure_funds(&state, &caller, spec, StatusCode::PAYMENT_REQUIRED)?;

    let (text, cut) = limit_tokens(&reply_to(&last_user), max_tokens);
    let answer = Answer {
        spec,
        id: hex_id(),
        created: now_secs(),
        prompt,
        reasoning: if spec.reasoning { split_pieces(REASONING, 2) } else { Vec::new() },
        pieces: split_pieces(&text, state.config().stream_chunks),
        finish: if cut { "length" } else { "stop" },
    };
    let completion = answer.completion();
    bill(&state, &caller, spec, prompt + completion, (prompt, completion, 0));

    if flag(&object, "stream") {
        let include_usage = object
            .get("stream_options")
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(stream(&state, &answer, include_usage))
    } else {
        Ok(Json(whole(&answer)).into_response())
    }
}

fn whole(answer: &Answer) -> Value {
    let completion = answer.completion();
    let mut message = json!({"role": "assistant", "content": answer.pieces.concat()});
    if !answer.reasoning.is_empty() {
        message["reasoning_content"] = Value::String(answer.reasoning.concat());
    }
    let reasoning_tokens = piece_tokens(&answer.reasoning);
    let mut usage = usage(answer.prompt, completion);
    usage["completion_tokens_details"] = json!({"reasoning_tokens": reasoning_tokens});
    usage["prompt_tokens_details"] = json!({"cached_tokens": 0});
    usage["prompt_cache_hit_tokens"] = json!(0);
    usage["prompt_cache_miss_tokens"] = json!(answer.prompt);
    json!({
        "id": answer.id, "object": "chat.completion", "created": answer.created,
        "model": answer.spec.id,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish}],
        "usage": usage, "system_fingerprint": "",
    })
}

fn stream(state: &MockState, answer: &Answer, include_usage: bool) -> Response {
    let settings = state.settings();
    let style = settings.stream_usage;
    let running = |completion: u64| (style == StreamUsage::Running).then(|| usage(answer.prompt, completion));
    let mut frames = Vec::with_capacity(answer.pieces.len() + answer.reasoning.len() + 4);
    frames.push(answer.chunk(json!({"role": "assistant", "content": "", "reasoning_content": null}), None, running(0)));
    let mut completion = 0;
    for piece in &answer.reasoning {
        completion += crate::text::tokens(piece);
        frames.push(answer.chunk(json!({"content": null, "reasoning_content": piece}), None, running(completion)));
    }
    for piece in &answer.pieces {
        completion += crate::text::tokens(piece);
        frames.push(answer.chunk(json!({"content": piece, "reasoning_content": null}), None, running(completion)));
    }
    let last_usage = (style != StreamUsage::Omitted).then(|| usage(answer.prompt, completion));
    frames.push(answer.chunk(json!({"content": "", "reasoning_content": null}), Some(answer.finish), last_usage));
    if include_usage {
        let trailer = json!({
            "id": answer.id, "object": "chat.completion.chunk", "created": answer.created,
            "model": answer.spec.id, "choices": [], "system_fingerprint": "",
            "usage": usage(answer.prompt, completion),
        });
        frames.push(sse::data(&trailer));
    }
    frames.push(sse::DONE.to_owned());
    sse::response(frames, state.config().chunk_interval, settings.split_frames)
}
