//! The load generator: hyper's HTTP/1 client with a keep-alive pool, driven
//! open-loop (requests on a fixed timetable, latency counted from the
//! scheduled time so a stalled target cannot hide its queue: no coordinated
//! omission) or closed-loop (N connections sending back to back).

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Request, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The chat request every scenario sends (the mock's free model, a short prompt).
const CHAT_BODY: &str = r#"{"model":"Qwen/Qwen2.5-7B-Instruct","messages":[{"role":"user","content":"hello"}]}"#;
const STREAM_BODY: &str =
    r#"{"model":"Qwen/Qwen2.5-7B-Instruct","messages":[{"role":"user","content":"hello"}],"stream":true}"#;

/// An HTTP/1.1 client with an unbounded keep-alive pool and `TCP_NODELAY`.
pub fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(120)).build(connector)
}

/// One place the load goes: the mock directly, nginx or keyflow.
#[derive(Clone)]
pub struct Target {
    pub name: &'static str,
    uri: Uri,
    /// `http://127.0.0.1:PORT`.
    base: String,
    auth: HeaderValue,
    client: HttpClient,
}

impl Target {
    /// `base` is `http://127.0.0.1:PORT`; `bearer` the token this target wants.
    pub fn new(name: &'static str, base: &str, bearer: &str) -> anyhow::Result<Target> {
        let uri: Uri = format!("{base}/v1/chat/completions").parse().context("building the target URI")?;
        let auth = HeaderValue::from_str(&format!("Bearer {bearer}")).context("building the auth header")?;
        Ok(Target { name, uri, base: base.to_owned(), auth, client: client() })
    }

    fn request(&self, stream: bool) -> Result<Request<Full<Bytes>>, Failure> {
        let body = if stream { STREAM_BODY } else { CHAT_BODY };
        Request::post(self.uri.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(AUTHORIZATION, self.auth.clone())
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .map_err(|e| Failure::new(FailKind::Transport, e.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailKind {
    /// A non-2xx answer.
    Status,
    /// Connect, write or read failed.
    Transport,
    /// No complete answer within the request timeout.
    Timeout,
    /// Not sent: too many requests already in flight (the target fell behind).
    Shed,
    /// A stream ended without `[DONE]` or with fewer events than expected.
    Incomplete,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailKind,
    pub detail: String,
}

impl Failure {
    fn new(kind: FailKind, detail: impl Into<String>) -> Failure {
        Failure { kind, detail: detail.into() }
    }
}

/// Failures of a run, by kind, with the first one's text for diagnosis.
#[derive(Debug, Clone, Default)]
pub struct Errors {
    pub status: u64,
    pub transport: u64,
    pub timeout: u64,
    pub shed: u64,
    pub incomplete: u64,
    pub first: Option<String>,
}

impl Errors {
    pub fn add(&mut self, failure: &Failure) {
        match failure.kind {
            FailKind::Status => self.status += 1,
            FailKind::Transport => self.transport += 1,
            FailKind::Timeout => self.timeout += 1,
            FailKind::Shed => self.shed += 1,
            FailKind::Incomplete => self.incomplete += 1,
        }
        if self.first.is_none() {
            self.first = Some(format!("{:?}: {}", failure.kind, failure.detail));
        }
    }

    pub fn merge(&mut self, other: &Errors) {
        self.status += other.status;
        self.transport += other.transport;
        self.timeout += other.timeout;
        self.shed += other.shed;
        self.incomplete += other.incomplete;
        if self.first.is_none() {
            self.first.clone_from(&other.first);
        }
    }

    pub fn total(&self) -> u64 {
        self.status + self.transport + self.timeout + self.shed + self.incomplete
    }
}

/// keyflow's `log_queue_depth` from `GET /health`: outcomes and log rows
/// not yet committed to the database. `None` if it cannot be read.
pub async fn log_queue_depth(target: &Target) -> Option<u64> {
    let uri: Uri = format!("{}/health", target.base).parse().ok()?;
    let request = Request::get(uri).body(Full::new(Bytes::new())).ok()?;
    let exchange = async {
        let response = target.client.request(request).await.ok()?;
        response.into_body().collect().await.ok().map(|body| body.to_bytes())
    };
    let body = tokio::time::timeout(Duration::from_secs(3), exchange).await.ok()??;
    let text = std::str::from_utf8(&body).ok()?;
    let at = text.find("\"log_queue_depth\":")? + "\"log_queue_depth\":".len();
    let digits: String =
        text[at..].chars().skip_while(|c| c.is_whitespace()).take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Sends one non-streamed chat request and reads the whole answer; the
/// latency is counted from `from` (the scheduled send time).
pub async fn chat_once(target: &Target, from: Instant, timeout: Duration) -> Result<Duration, Failure> {
    let request = target.request(false)?;
    let exchange = async {
        let response =
            target.client.request(request).await.map_err(|e| Failure::new(FailKind::Transport, e.to_string()))?;
        let status = response.status();
        let body =
            response.into_body().collect().await.map_err(|e| Failure::new(FailKind::Transport, e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body.to_bytes()).chars().take(200).collect::<String>();
            return Err(Failure::new(FailKind::Status, format!("{status} {text}")));
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(())) => Ok(from.elapsed()),
        Ok(Err(failure)) => Err(failure),
        Err(_) => Err(Failure::new(FailKind::Timeout, format!("no answer within {timeout:?}"))),
    }
}

/// When each SSE event of one stream arrived, in µs from the scheduled start.
#[derive(Debug, Clone, Default)]
pub struct StreamTrace {
    pub ttfb_us: u64,
    /// Arrival of each event's closing blank line.
    pub events_us: Vec<u64>,
}

/// Sends one streamed chat request and timestamps every event as it arrives.
/// `expected_events` (with `[DONE]`) is checked: a short stream is a failure.
pub async fn stream_once(
    target: &Target,
    from: Instant,
    timeout: Duration,
    expected_events: usize,
) -> Result<StreamTrace, Failure> {
    let request = target.request(true)?;
    let exchange = async {
        let response =
            target.client.request(request).await.map_err(|e| Failure::new(FailKind::Transport, e.to_string()))?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>();
            return Err(Failure::new(FailKind::Status, format!("{status} {text}")));
        }
        let mut trace = StreamTrace::default();
        let mut first = true;
        let mut after_newline = false;
        let mut tail: Vec<u8> = Vec::with_capacity(32);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Failure::new(FailKind::Transport, e.to_string()))?;
            let Some(data) = frame.data_ref().filter(|d| !d.is_empty()) else { continue };
            let at = from.elapsed().as_micros() as u64;
            if first {
                trace.ttfb_us = at;
                first = false;
            }
            for &byte in data.iter() {
                match byte {
                    b'\n' if after_newline => {
                        trace.events_us.push(at);
                        after_newline = false;
                    }
                    b'\n' => after_newline = true,
                    b'\r' => {}
                    _ => after_newline = false,
                }
            }
            // The last bytes seen, to recognise the closing `[DONE]`.
            tail.extend_from_slice(&data[data.len().saturating_sub(32)..]);
            let excess = tail.len().saturating_sub(32);
            tail.drain(..excess);
        }
        let done = tail.windows(6).any(|w| w == b"[DONE]");
        if !done || trace.events_us.len() != expected_events {
            return Err(Failure::new(
                FailKind::Incomplete,
                format!(
                    "{} events of {expected_events}, [DONE] {}",
                    trace.events_us.len(),
                    if done { "seen" } else { "missing" }
                ),
            ));
        }
        Ok(trace)
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(Failure::new(FailKind::Timeout, format!("stream not finished within {timeout:?}"))),
    }
}

/// What an open-loop run produced.
pub struct Timetable<T> {
    pub results: Vec<Result<T, Failure>>,
    /// Most requests outstanding at once.
    pub peak_in_flight: usize,
    /// Sends the scheduler made more than 1 ms after their slot (the
    /// generator itself fell behind; their latency still counts from the slot).
    pub late_sends: u64,
}

/// Runs `count` requests at `rate` per second on a fixed timetable.
///
/// A dedicated blocking thread sleeps to each slot (`nanosleep` is precise to
/// tens of µs, tokio's timer only to 1 ms) and spawns the request onto the
/// runtime; `make(slot)` builds it. Past `max_in_flight` outstanding requests
/// a slot is shed and counted as a failure, which bounds memory.
pub async fn timetable<T, F, Fut>(rate: f64, count: u64, max_in_flight: usize, make: F) -> anyhow::Result<Timetable<T>>
where
    T: Send + 'static,
    F: Fn(Instant) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, Failure>> + Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let late = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(5);
    let scheduler = {
        let (in_flight, peak, late) = (Arc::clone(&in_flight), Arc::clone(&peak), Arc::clone(&late));
        tokio::task::spawn_blocking(move || {
            for i in 0..count {
                let slot = start + Duration::from_secs_f64(i as f64 / rate);
                let now = Instant::now();
                if slot > now {
                    std::thread::sleep(slot - now);
                } else if now - slot > Duration::from_millis(1) {
                    late.fetch_add(1, Ordering::Relaxed);
                }
                if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                    let _ = tx.send(Err(Failure::new(FailKind::Shed, format!("{max_in_flight} already in flight"))));
                    continue;
                }
                let now_in_flight = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                peak.fetch_max(now_in_flight, Ordering::Relaxed);
                let request = make(slot);
                let (tx, in_flight) = (tx.clone(), Arc::clone(&in_flight));
                handle.spawn(async move {
                    let result = request.await;
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                    let _ = tx.send(result);
                });
            }
        })
    };
    scheduler.await.context("the request scheduler failed")?;
    // Every request carries its own timeout, so the channel closes in bounded time.
    let mut results = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    while let Some(result) = rx.recv().await {
        results.push(result);
    }
    Ok(Timetable { results, peak_in_flight: peak.load(Ordering::Relaxed), late_sends: late.load(Ordering::Relaxed) })
}

/// What a closed-loop run produced.
pub struct ClosedRun {
    pub ok: u64,
    pub errors: Errors,
    pub elapsed: Duration,
}

impl ClosedRun {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `connections` workers each send requests back to back for `duration`.
pub async fn closed_loop(
    target: &Target,
    connections: usize,
    duration: Duration,
    timeout: Duration,
) -> anyhow::Result<ClosedRun> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = JoinSet::new();
    for _ in 0..connections {
        let target = target.clone();
        workers.spawn(async move {
            let mut ok = 0u64;
            let mut errors = Errors::default();
            while Instant::now() < deadline {
                match chat_once(&target, Instant::now(), timeout).await {
                    Ok(_) => ok += 1,
                    Err(failure) => {
                        errors.add(&failure);
                        // Do not spin on a target that refuses at once.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            (ok, errors)
        });
    }
    let mut run = ClosedRun { ok: 0, errors: Errors::default(), elapsed: Duration::ZERO };
    while let Some(joined) = workers.join_next().await {
        let (ok, errors) = joined.context("a load worker failed")?;
        run.ok += ok;
        run.errors.merge(&errors);
    }
    run.elapsed = started.elapsed();
    Ok(run)
}

/// Sends `count` requests back to back on a few connections, to open the
/// pools and warm caches before a measurement.
pub async fn warm_up(target: &Target, count: usize, connections: usize) -> anyhow::Result<u64> {
    let mut workers = JoinSet::new();
    let per_worker = count.div_ceil(connections.max(1));
    for _ in 0..connections.max(1) {
        let target = target.clone();
        workers.spawn(async move {
            let mut ok = 0u64;
            for _ in 0..per_worker {
                if chat_once(&target, Instant::now(), Duration::from_secs(10)).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        });
    }
    let mut ok = 0;
    while let Some(joined) = workers.join_next().await {
        ok += joined.context("a warm-up worker failed")?;
    }
    Ok(ok)
}
