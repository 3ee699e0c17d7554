//! `POST /v1/messages`: the Anthropic-compatible route, errors in SiliconFlow's shapes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::json;

use super::chat::{check_context, content_text, read_messages};
use super::{bill, ensure_funds, flag, model_of, optional_u64, parse_object, sse};
use crate::catalogue::Kind;
use crate::error::ApiError;
use crate::gate::Caller;
use crate::state::MockState;
use crate::text::{alphanumeric, limit_tokens, piece_tokens, reply_to, split_pieces, tokens_of_chars};

pub(super) async fn messages(
    State(state): State<MockState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let object = parse_object(&body)?;
    let spec = model_of(&object, &[Kind::Chat])?;
    let (mut chars, last_user) = read_messages(&object)?;
    let Some(max_tokens) = optional_u64(&object, "max_tokens")? else {
        return Err(ApiError::InvalidParameter);
    };
    // `system` is a string or an array of text blocks, like message content.
    chars += content_text(object.get("system"))?.chars().count() as u64;
    let input = tokens_of_chars(chars);
    check_context(spec, input, Some(max_tokens))?;
    ensure_funds(&state, &caller, spec, StatusCode::PAYMENT_REQUIRED)?;

    let (text, cut) = limit_tokens(&reply_to(&last_user), Some(max_tokens));
    let stop_reason = if cut { "max_tokens" } else { "end_turn" };
    let pieces = split_pieces(&text, state.config().stream_chunks);
    let output = piece_tokens(&pieces);
    bill(&state, &caller, spec, input + output, (input, output, 0));
    let id = format!("msg_{}", alphanumeric(24));

    if !flag(&object, "stream") {
        return Ok(Json(json!({
            "id": id, "type": "message", "role": "assistant",
            "content": [{"type": "text", "text": pieces.concat()}],
            "model": spec.id, "stop_reason": stop_reason, "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": output},
        }))
        .into_response());
    }

    let mut frames = Vec::with_capacity(pieces.len() + 6);
    frames.push(sse::event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "content": [], "model": spec.id,
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": 0},
        }}),
    ));
    frames.push(sse::event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ));
    frames.push(sse::event("ping", &json!({"type": "ping"})));
    for piece in &pieces {
        frames.push(sse::event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    frames.push(sse::event("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    frames.push(sse::event(
        "message_delta",
        &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output}}),
    ));
    frames.push(sse::event("message_stop", &json!({"type": "message_stop"})));
    let split = state.settings().split_frames;
    Ok(sse::response(frames, state.config().chunk_interval, split))
}
