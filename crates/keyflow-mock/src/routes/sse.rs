//! Server-sent-event bodies: one body chunk per frame, paced by `chunk_interval`.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;

/// A `data: {json}\n\n` frame.
pub fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

/// An `event: name\ndata: {json}\n\n` frame (Anthropic style).
pub fn event(name: &str, value: &Value) -> String {
    format!("event: {name}\ndata: {value}\n\n")
}

/// The OpenAI-style terminator.
pub const DONE: &str = "data: [DONE]\n\n";

/// Where to split a frame so the cut falls inside a multi-byte character
/// (after its first byte); the middle of the frame if it is all ASCII.
fn split_point(frame: &str) -> usize {
    frame.char_indices().find(|(_, c)| c.len_utf8() > 1).map_or(frame.len() / 2, |(at, _)| at + 1)
}

/// A 200 `text/event-stream` answer sending `frames` in order.
///
/// Frames after the first wait `interval`. With `split`, every frame goes out
/// as two body chunks cut inside a character, a millisecond apart, so the
/// client really reads a partial UTF-8 sequence.
pub fn response<F: Into<Bytes>>(frames: Vec<F>, interval: Duration, split: bool) -> Response {
    let mut pieces: Vec<(Duration, Bytes)> = Vec::with_capacity(frames.len() * 2);
    for (i, frame) in frames.into_iter().enumerate() {
        let delay = if i == 0 { Duration::ZERO } else { interval };
        let bytes: Bytes = frame.into();
        if split && bytes.len() > 1 {
            let at = std::str::from_utf8(&bytes).map_or(bytes.len() / 2, split_point);
            pieces.push((delay, bytes.slice(..at)));
            pieces.push((Duration::from_millis(1), bytes.slice(at..)));
        } else {
            pieces.push((delay, bytes));
        }
    }
    let paced = pieces.iter().any(|(delay, _)| !delay.is_zero());
    let body = if paced {
        let stream = futures_util::stream::unfold(pieces.into_iter(), |mut rest| async move {
            let (delay, bytes) = rest.next()?;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok::<Bytes, Infallible>(bytes), rest))
        });
        Body::from_stream(stream)
    } else {
        let stream = futures_util::stream::iter(pieces.into_iter().map(|(_, bytes)| Ok::<_, Infallible>(bytes)));
        Body::from_stream(stream)
    };
    stream_response(body)
}

/// Wraps a streamed body with the SSE headers.
pub fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_lands_inside_a_character() {
        let frame = "data: 你好\n\n";
        let at = split_point(frame);
        assert!(!frame.is_char_boundary(at));
        assert_eq!(split_point("abcd"), 2);
    }
}
