//! Request bodies that must keep arriving: a pause longer than the body
//! timeout, or an average rate below the minimum once that long has passed,
//! ends the body with an error instead of holding a worker's buffer open.

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// Why a request body was cut off.
#[derive(Debug, thiserror::Error)]
pub enum SlowBody {
    #[error("the request body paused for more than {0} s; send it without long pauses")]
    Stalled(u64),
    #[error("the request body arrived slower than {0} bytes/s; send it faster or in a smaller request")]
    TooSlow(u64),
}

/// The body limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub gap: Duration,
    pub min_rate: u64,
}

pin_project_lite::pin_project! {
    /// Wraps a request body with the pause and rate limits.
    pub struct TimedBody<B> {
        #[pin]
        inner: B,
        limits: BodyLimits,
        started: Option<Instant>,
        received: u64,
        // Allocated only when the body is not already buffered: most bodies
        // arrive with their head and never wait.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<B> TimedBody<B> {
    pub fn new(inner: B, limits: BodyLimits) -> Self {
        TimedBody { inner, limits, started: None, received: 0, timer: None }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let started = *this.started.get_or_insert_with(Instant::now);
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                }
                if let Some(timer) = this.timer.as_mut() {
                    timer.as_mut().reset(tokio::time::Instant::now() + this.limits.gap);
                }
                let elapsed = started.elapsed();
                if this.limits.min_rate > 0 && elapsed > this.limits.gap {
                    let floor = this.limits.min_rate.saturating_mul(elapsed.as_secs());
                    if *this.received < floor {
                        return Poll::Ready(Some(Err(SlowBody::TooSlow(this.limits.min_rate).into())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let gap = this.limits.gap;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(gap)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(SlowBody::Stalled(gap.as_secs()).into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether an error from reading a body came from these limits.
pub fn is_slow_body(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(slow) = e.downcast_ref::<SlowBody>() {
            return Some(slow.to_string());
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    fn limits() -> BodyLimits {
        BodyLimits { gap: Duration::from_millis(50), min_rate: 0 }
    }

    #[tokio::test]
    async fn a_whole_body_passes() {
        let body = TimedBody::new(http_body_util::Full::new(Bytes::from_static(b"hello")), limits());
        let bytes = body.collect().await.expect("body").to_bytes();
        assert_eq!(&bytes[..], b"hello");
    }

    #[tokio::test]
    async fn a_stalled_body_ends_with_an_error() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
        tx.send(Ok(Frame::data(Bytes::from_static(b"part")))).await.expect("send");
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let body = TimedBody::new(StreamBody::new(stream), limits());
        let Err(error) = body.collect().await else { panic!("a stalled body must fail") };
        assert!(is_slow_body(error.as_ref()).is_some_and(|m| m.contains("paused")), "{error}");
        drop(tx);
    }
}
