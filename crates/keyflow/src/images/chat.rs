//! The images-through-chat handler: read the ask, check it, expand the
//! prompt, generate the images in parallel (one key each), and answer as a
//! chat completion, streamed or whole.
//!
//! The generation runs on a tracked task in both modes, so images a client
//! stopped waiting for are still finished and recorded (they are paid for).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode};
use tokio::sync::mpsc;

use super::error::{ImageError, Refusal};
use super::expand::expand;
use super::family::Family;
use super::generate::{self, Generated};
use super::render::{self, Transcript};
use super::request::{moderate, ImageAsk};
use super::upstream_headers;
use crate::access::client::Client;
use crate::config::RuntimeSettings;
use crate::pool::ModelClass;
use crate::state::AppState;
use crate::upstream::failover::KeyClaims;
use crate::usage::{ErrorCounts, Outcome, Usage};

/// Frames buffered for a slow streaming client; the job waits beyond it.
const STREAM_BUFFER: usize = 32;

/// Answers a chat completion addressed to an image model. A refusal is
/// the caller's to answer and log; an answer logs itself when its images
/// are done.
pub async fn serve_chat(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    body: &Bytes,
    started: Instant,
) -> Result<Response, Refusal> {
    let ask = ImageAsk::parse_off_workers(&state.tracker, body).await?;
    let settings = state.settings();
    let image_settings = &settings.image;
    // Refused before anything is spent, expansion included.
    moderate(&image_settings.banned_keywords, &ask.prompt)?;

    let usable = usable_keys(state, &ask.model, &settings);
    if usable == 0 {
        return Err(Refusal::from(ImageError::NoKey(format!(
            "no usable key for image model `{}`: add keys or wait for cooling keys",
            ask.model
        ))));
    }
    let wanted = ask.count.unwrap_or(1);
    let n = wanted.min(image_settings.max_images_per_request.max(1)).min(usable as u32);
    let size = Family::of(&ask.model).resolve(ask.size);

    let upstream = upstream_headers(headers);
    let expansion = expand(state, image_settings, &ask.prompt, client.free_only, &upstream).await;
    let usage = expansion.usage.unwrap_or_default();
    let prompt = expansion.prompt.unwrap_or_else(|| ask.prompt.clone());
    if let Err(error) = moderate(&image_settings.banned_keywords, &prompt) {
        // The expansion was paid for: the refusal's log entry shows it.
        return Err(Refusal { error, usage: expansion.usage, upstream_errors: expansion.errors });
    }

    let job = Job {
        state: state.clone(),
        settings: Arc::clone(&settings),
        client: client.clone(),
        headers: upstream,
        prompt,
        size,
        n,
        wanted,
        usage,
        errors: expansion.errors,
        started,
        ask,
    };
    if job.ask.stream {
        let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
        state.tracker.spawn(job.run(Some(tx)));
        let frames = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|frame| (Ok::<_, Infallible>(frame), rx))
        });
        let mut response = Response::new(Body::from_stream(frames));
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
        headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        return Ok(response);
    }
    let completion = state.tracker.spawn(job.run(None)).await.map_err(|e| ImageError::Internal(e.to_string()))?;
    Ok((StatusCode::OK, axum::Json(completion)).into_response())
}

/// Keys that may serve the model: paid models need funded keys.
fn usable_keys(state: &AppState, model: &str, settings: &RuntimeSettings) -> usize {
    let snapshot = state.pool.snapshot();
    match state.catalog.class_of(model, settings) {
        ModelClass::Paid => snapshot.active.members.len(),
        ModelClass::Free | ModelClass::Unknown => snapshot.active.members.len() + snapshot.free.members.len(),
    }
}

/// Everything the generation needs, owned so it can outlive the request.
struct Job {
    state: AppState,
    settings: Arc<RuntimeSettings>,
    client: Client,
    headers: HeaderMap,
    /// What was asked; `ask.prompt` is the user's prompt as written.
    ask: ImageAsk,
    /// The prompt sent for the images (expanded, or the user's).
    prompt: String,
    size: Option<(u32, u32)>,
    n: u32,
    wanted: u32,
    usage: Usage,
    /// Upstream failures of the expansion call.
    errors: ErrorCounts,
    started: Instant,
}

impl Job {
    /// Generates, writes the answer into `sink` (streaming) or returns it.
    async fn run(self, sink: Option<mpsc::Sender<Bytes>>) -> serde_json::Value {
        let mut out = Transcript::new(&self.ask.model, sink);
        out.start().await;
        out.push(&render::prompt_lines(&self.prompt, &self.ask.prompt)).await;
        out.push(&render::generating_line(self.n, self.wanted, &self.ask.model, self.size)).await;

        let claims = KeyClaims::default();
        let request = generate::Request {
            state: &self.state,
            settings: &self.settings.image,
            headers: &self.headers,
            model: &self.ask.model,
            prompt: &self.prompt,
            size: self.size,
            input_image: self.ask.input_image.as_deref(),
            free_only: self.client.free_only,
            claims: &claims,
        };
        let mut results: Vec<Option<Generated>> = vec![None; self.n as usize];
        let mut errors = self.errors;
        let mut pending: FuturesUnordered<_> = (0..results.len())
            .map(|i| {
                let request = &request;
                async move { (i, generate::generate(request).await) }
            })
            .collect();
        // Each status line goes out the moment its image is done.
        while let Some((i, (generated, image_errors))) = pending.next().await {
            out.push(&render::status_line(i + 1, &generated)).await;
            results[i] = Some(generated);
            add_errors(&mut errors, &image_errors);
        }
        drop(pending);
        out.push(&render::images_block(&results, &self.prompt)).await;

        let mut outcome = self.outcome(&results, out.aborted());
        outcome.upstream_errors = errors;
        record(&self.state, &self.client, &self.ask, self.started, outcome);
        out.finish(self.usage).await;
        out.completion(self.usage)
    }

    fn outcome(&self, results: &[Option<Generated>], aborted: bool) -> Outcome {
        let done: Vec<&Generated> = results.iter().flatten().filter(|g| matches!(g, Generated::Done { .. })).collect();
        let first_failure = results.iter().flatten().find_map(|g| match g {
            Generated::Failed { reason, .. } => Some(reason.clone()),
            Generated::Done { .. } => None,
        });
        let upstream_time = results
            .iter()
            .flatten()
            .filter_map(|g| match g {
                Generated::Done { upstream_time, .. } => Some(*upstream_time),
                Generated::Failed { .. } => None,
            })
            .max()
            .unwrap_or_default();
        Outcome {
            key_id: done.iter().find_map(|g| match g {
                Generated::Done { key_id, .. } => Some(*key_id),
                Generated::Failed { .. } => None,
            }),
            status: 200,
            error: done.is_empty().then(|| format!("no image generated: {}", first_failure.unwrap_or_default())),
            upstream_time,
            usage: (self.usage != Usage::default()).then_some(self.usage),
            retries: results.iter().flatten().map(Generated::retries).sum(),
            images: done.len() as u32,
            aborted,
            ..Outcome::default()
        }
    }
}

/// Fills in what every outcome of this path shares, and records it.
fn record(state: &AppState, client: &Client, ask: &ImageAsk, started: Instant, mut outcome: Outcome) {
    outcome.started_at_ms = crate::clock::now_ms() - started.elapsed().as_millis() as i64;
    outcome.client = client.name.clone();
    outcome.route = "/v1/chat/completions".to_string();
    outcome.model = Some(ask.model.clone());
    outcome.latency = started.elapsed();
    outcome.stream = ask.stream;
    state.recorder.record_soon(&state.tracker, outcome);
}

/// Adds one call's upstream failures to the request's.
fn add_errors(total: &mut ErrorCounts, more: &ErrorCounts) {
    total.key_dead = total.key_dead.saturating_add(more.key_dead);
    total.no_balance = total.no_balance.saturating_add(more.no_balance);
    total.forbidden = total.forbidden.saturating_add(more.forbidden);
    total.rate_limited = total.rate_limited.saturating_add(more.rate_limited);
    total.server = total.server.saturating_add(more.server);
    total.timeout = total.timeout.saturating_add(more.timeout);
    total.connect = total.connect.saturating_add(more.connect);
}
