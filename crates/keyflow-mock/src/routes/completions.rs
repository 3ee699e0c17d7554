//! `POST /v1/completions`: raw and fill-in-the-middle completion, stream and not.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Value};

use super::chat::{check_context, usage};
use super::{bill, ensure_funds, flag, model_of, optional_u64, parse_object, sse};
use crate::catalogue::Kind;
use crate::error::ApiError;
use crate::fault::StreamUsage;
use crate::gate::Caller;
use crate::state::MockState;
use crate::text::{hex_id, limit_tokens, now_secs, piece_tokens, split_pieces, tokens, tokens_of_chars};

/// The completion: a code-like line that names the prompt's end.
fn complete(prompt: &str, suffix: Option<&str>) -> String {
    let tail: String = prompt.trim_end().chars().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
    match suffix {
        Some(_) => format!("    # 模拟补全 (fill-in-the-middle after `{tail}`)\n    result = 42\n"),
        None => format!(" 模拟续写：continuing `{tail}`."),
    }
}

pub(super) async fn completions(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let object = parse_object(&body)?;
    let spec = model_of(&object, &[Kind::Chat])?;
    let prompt_text = match object.get("prompt") {
        Some(Value::String(text)) if !text.is_empty() => text.clone(),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().ok_or(ApiError::InvalidParameter))
            .collect::<Result<Vec<_>, _>>()?
            .concat(),
        _ => return Err(ApiError::InvalidParameter),
    };
    let suffix = match object.get("suffix") {
        None | Some(Value::Null) => None,
        Some(Value::String(suffix)) if spec.fim => Some(suffix.as_str()),
        Some(_) => return Err(ApiError::InvalidParameter),
    };
    let max_tokens = optional_u64(&object, "max_tokens")?;
    let chars = prompt_text.chars().count() + suffix.map_or(0, |s| s.chars().count());
    let prompt = tokens_of_chars(chars as u64);
    check_context(spec, prompt, max_tokens)?;
    ensure_funds(&state, &caller, spec, StatusCode::PAYMENT_REQUIRED)?;

    let (text, cut) = limit_tokens(&complete(&prompt_text, suffix), max_tokens);
    let finish = if cut { "length" } else { "stop" };
    let pieces = split_pieces(&text, state.config().stream_chunks);
    let completion = piece_tokens(&pieces);
    bill(&state, &caller, spec, prompt + completion, (prompt, completion, 0));
    let id = hex_id();
    let created = now_secs();

    if !flag(&object, "stream") {
        return Ok(Json(json!({
            "id": id, "object": "text_completion", "created": created, "model": spec.id,
            "choices": [{"index": 0, "text": pieces.concat(), "finish_reason": finish, "logprobs": null}],
            "usage": usage(prompt, completion),
        }))
        .into_response());
    }

    let settings = state.settings();
    let chunk = |text: &str, finish: Option<&str>, usage: Option<Value>| {
        let mut chunk = json!({
            "id": id, "object": "text_completion", "created": created, "model": spec.id,
            "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": null}],
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        sse::data(&chunk)
    };
    let mut frames = Vec::with_capacity(pieces.len() + 3);
    let mut running = 0;
    for piece in &pieces {
        running += tokens(piece);
        let usage = (settings.stream_usage == StreamUsage::Running).then(|| usage(prompt, running));
        frames.push(chunk(piece, None, usage));
    }
    let last_usage = (settings.stream_usage != StreamUsage::Omitted).then(|| usage(prompt, completion));
    frames.push(chunk("", Some(finish), last_usage));
    let include_usage = object
        .get("stream_options")
        .and_then(|options| options.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if include_usage {
        frames.push(sse::data(&json!({
            "id": id, "object": "text_completion", "created": created, "model": spec.id,
            "choices": [], "usage": usage(prompt, completion),
        })));
    }
    frames.push(sse::DONE.to_owned());
    Ok(sse::response(frames, state.config().chunk_interval, settings.split_frames))
}
