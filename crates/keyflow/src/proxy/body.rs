//! The response body sent to the client for a successful upstream answer:
//! bytes leave as they arrive, the SSE usage tap reads them in passing, an
//! idle upstream or a broken stream ends with an error event (never a
//! silent truncation), and the outcome is recorded exactly once, even when
//! the client hangs up mid-stream.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::Sleep;

use crate::pool::Lease;
use crate::usage::recorder::Slot;
use crate::usage::tap::SseTap;
use crate::usage::{Dialect, Outcome};

type ByteStream = crate::upstream::BodyStream;

/// What the body needs to record the request when it ends.
pub struct Recording {
    /// The request's reserved room in the log queue.
    pub slot: Option<Slot>,
    pub outcome: Outcome,
    pub started: Instant,
    /// Time the successful attempt waited for the response head.
    pub upstream_wait: Duration,
    /// Holds the key in flight until the body ends.
    pub lease: Option<Lease>,
}

pub struct TappedBody {
    upstream: ByteStream,
    tap: Option<SseTap>,
    dialect: Dialect,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    started: Instant,
    outcome: Option<Outcome>,
    slot: Option<Slot>,
    /// When the response head arrived; body time counts as upstream time.
    head_at: Instant,
    upstream_wait: Duration,
    saw_first_byte: bool,
    done: bool,
    /// Holds the key in flight until the body ends.
    _lease: Option<Lease>,
}

impl TappedBody {
    pub fn new(
        response: crate::upstream::Response,
        tap: Option<SseTap>,
        dialect: Dialect,
        idle: Duration,
        recording: Recording,
    ) -> TappedBody {
        let Recording { slot, outcome, started, upstream_wait, lease } = recording;
        TappedBody {
            upstream: response.bytes_stream(),
            tap,
            dialect,
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            started,
            outcome: Some(outcome),
            slot,
            head_at: Instant::now(),
            upstream_wait,
            saw_first_byte: false,
            done: false,
            _lease: lease,
        }
    }

    fn complete(&mut self, error: Option<String>, aborted: bool) {
        let Some(mut outcome) = self.outcome.take() else { return };
        outcome.latency = self.started.elapsed();
        outcome.upstream_time = self.upstream_wait + self.head_at.elapsed();
        if let Some(tap) = &self.tap {
            outcome.usage = tap.usage();
            if outcome.error.is_none() {
                outcome.error = tap.stream_error().map(str::to_string);
            }
        }
        if error.is_some() {
            outcome.error = error;
        }
        outcome.aborted = aborted;
        if let Some(slot) = self.slot.take() {
            slot.send(outcome);
        }
    }

    /// The event that tells a streaming client the answer broke off.
    fn error_event(&self, message: &str) -> Bytes {
        let text = match self.dialect {
            Dialect::Anthropic => format!(
                "event: error\ndata: {}\n\n",
                serde_json::json!({"type": "error", "error": {"type": "api_error", "message": message}})
            ),
            Dialect::OpenAi => format!(
                "data: {}\n\n",
                serde_json::json!({"error": {"message": message, "type": "upstream_error", "code": "stream_interrupted"}})
            ),
        };
        Bytes::from(text)
    }
}

impl Stream for TappedBody {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.upstream).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if !this.saw_first_byte {
                        this.saw_first_byte = true;
                        // For streams, the first body byte is the first token.
                        if let Some(o) = this.outcome.as_mut() {
                            o.ttfb = Some(this.started.elapsed());
                        }
                    }
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.idle_timer.as_mut().reset(deadline);
                    let out = match this.tap.as_mut() {
                        Some(tap) => tap.feed(chunk),
                        None => chunk,
                    };
                    if out.is_empty() {
                        continue;
                    }
                    return Poll::Ready(Some(Ok(out)));
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    let message = format!("upstream stream broke off: {}", e);
                    let event = this.tap.as_ref().map(|_| this.error_event(&message));
                    this.complete(Some(message.clone()), false);
                    return match event {
                        Some(event) => Poll::Ready(Some(Ok(event))),
                        None => Poll::Ready(Some(Err(std::io::Error::other(message)))),
                    };
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let rest = this.tap.as_mut().map(|t| t.finish()).unwrap_or_default();
                    this.complete(None, false);
                    return if rest.is_empty() { Poll::Ready(None) } else { Poll::Ready(Some(Ok(rest))) };
                }
                Poll::Pending => {
                    if this.idle_timer.as_mut().poll(cx).is_ready() {
                        this.done = true;
                        let message = format!("upstream sent nothing for {} s (IDLE_TIMEOUT)", this.idle.as_secs());
                        let event = this.tap.as_ref().map(|_| this.error_event(&message));
                        this.complete(Some(message.clone()), false);
                        return match event {
                            Some(event) => Poll::Ready(Some(Ok(event))),
                            None => Poll::Ready(Some(Err(std::io::Error::other(message)))),
                        };
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for TappedBody {
    fn drop(&mut self) {
        // Still unfinished: the client hung up. Dropping `upstream` cancels
        // the upstream request; the outcome keeps the tokens seen so far.
        if self.outcome.is_some() {
            self.complete(None, true);
        }
    }
}
