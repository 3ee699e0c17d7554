//! One allocation budget per request: a plain proxied chat call, and a
//! streamed one, each allocate at most a fixed number of times on average.
//!
//! A counting global allocator (over `System`) counts allocations —
//! `alloc`, `alloc_zeroed` and `realloc` one each — and the bytes asked for,
//! on the threads that opted in only. keyflow's `App`, with its background
//! tasks, runs on a runtime of its own (two workers) whose threads all opt
//! in; keyflow-mock and the HTTP client run on another runtime, which does
//! not count. What is counted is what keyflow's tasks do per request: the
//! edge, routing, the proxy, the upstream client, the usage tap, and the
//! ingest and log-writing tasks behind the request (their work is per
//! request too, so the phase ends once every row is written). Not counted:
//! the SQLite connection's own thread (sqlx runs each SQLite connection on
//! a thread it spawns), so the budget is for the request path, not the
//! database driver. The periodic jobs (pool upkeep every 250 ms, the lead
//! check every 2 s, the usage flush every 5 s) tick meanwhile and count;
//! the idle rate printed at the end shows what they add (a dozen
//! allocations a second, some 200 more in a second when the usage flush
//! writes): under one per request at the usual pace.
//!
//! Figures are averages over `N` sequential requests on one keep-alive
//! connection, after a warm-up that builds pools, caches and the key
//! snapshot; they vary by a few tenths between runs, and by two or three
//! when every request is several times slower (fewer rows per log batch,
//! more background ticks per request). They are taken in the test profile
//! with `System` instead of the binary's mimalloc: the number of allocations
//! does not depend on the allocator; an optimized build may differ slightly.
//! A budget failing means a change added allocations to every request:
//! find them (the measured figures are printed) or, if they are worth it,
//! raise the budget in the same change and say why.
//!
//! The allocator is the crate's one `unsafe` code: keyflow's Cargo.toml
//! denies `unsafe_code` (the workspace forbids it) so that this file alone
//! can allow it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Only `base_config` and `test_key` are used; the module's own style is its own.
#[allow(dead_code, clippy::field_reassign_with_default)]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use keyflow::App;
use keyflow_mock::{MockConfig, MockServer};

/// Requests measured per kind.
const N: u64 = 1_000;
/// Requests of each kind sent before measuring.
const WARM_UP: u64 = 200;
/// Allocations per plain (non-streamed) chat request, at most: 97.6
/// measured when set, plus 10%.
const PLAIN_BUDGET: u64 = 108;
/// Allocations per streamed chat request (read to the end), at most:
/// 103.8 measured when set, plus 10%.
const STREAM_BUDGET: u64 = 114;
/// Fewer than this per request means the counting is broken, not that
/// keyflow got that lean: axum's routing alone allocates some 30 times.
const FLOOR: f64 = 10.0;

const PLAIN_BODY: &str =
    r#"{"model":"deepseek-ai/DeepSeek-V3","messages":[{"role":"user","content":"hello, keyflow"}]}"#;
const STREAM_BODY: &str =
    r#"{"model":"deepseek-ai/DeepSeek-V3","messages":[{"role":"user","content":"hello, keyflow"}],"stream":true}"#;

thread_local! {
    /// Whether this thread's allocations count. Const-initialized without a
    /// destructor: reading it never allocates, even during thread teardown.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// `System`, counting on the threads that opted in.
struct Counting;

impl Counting {
    fn note(size: usize) {
        if COUNTED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Relaxed);
            BYTES.fetch_add(size as u64, Relaxed);
        }
    }
}

// The one unsafe code of the crate: the allocator's contract is `System`'s,
// passed through unchanged.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations and bytes counted since the last call (which resets them).
fn take_counts() -> (u64, u64) {
    (ALLOCATIONS.swap(0, Relaxed), BYTES.swap(0, Relaxed))
}

struct Gateway {
    http: reqwest::Client,
    chat_url: String,
    /// Rows written before the first request, and requests sent since.
    rows_before: u64,
    sent: u64,
}

impl Gateway {
    async fn send(&mut self, stream: bool) {
        let body = if stream { STREAM_BODY } else { PLAIN_BODY };
        let response = self
            .http
            .post(&self.chat_url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("chat call");
        assert_eq!(response.status(), 200, "chat status");
        let text = response.text().await.expect("chat body");
        if stream {
            assert!(text.trim_end().ends_with("data: [DONE]"), "stream not read to its end: {text}");
        } else {
            assert!(text.contains("\"usage\""), "plain answer without usage: {text}");
        }
        self.sent += 1;
    }

    /// Waits until the row of every request sent is written.
    async fn rows_written(&self, app: &App) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let want = self.rows_before + self.sent;
        while app.state().meters.rows_written.load(Relaxed) < want {
            assert!(Instant::now() < deadline, "log rows not written within 30 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends `N` requests of one kind; returns allocations and bytes per request.
    async fn measure(&mut self, app: &App, stream: bool) -> (f64, f64) {
        take_counts();
        for _ in 0..N {
            self.send(stream).await;
        }
        self.rows_written(app).await;
        let (allocations, bytes) = take_counts();
        (allocations as f64 / N as f64, bytes as f64 / N as f64)
    }
}

#[test]
fn a_proxied_request_stays_within_its_allocation_budget() {
    let app_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("keyflow-counted")
        .on_thread_start(|| COUNTED.with(|counted| counted.set(true)))
        .enable_all()
        .build()
        .expect("app runtime");
    let client_runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("client runtime");

    let mock = client_runtime.block_on(MockServer::start(MockConfig::default())).expect("mock starts");
    let keys: Vec<String> = (0..2).map(common::test_key).collect();
    for key in &keys {
        mock.state().add_key(key, 1_000_000.0, "acct-a");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // `App::start` itself runs on this (uncounted) thread; what it spawns
    // (server, connections, jobs, ingest, writers) lands on the counted runtime.
    let app = app_runtime.block_on(App::start(common::base_config(&mock.url(), dir.path()))).expect("keyflow starts");

    let figures = client_runtime.block_on(async {
        let http = reqwest::Client::new();
        let import = http
            .post(format!("{}/api/keys", app.url()))
            .basic_auth("admin", Some("admin"))
            .header("content-type", "text/plain")
            .body(keys.join("\n"))
            .send()
            .await
            .expect("import call");
        assert!(import.status().is_success(), "import status {}", import.status());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let progress: serde_json::Value = http
                .get(format!("{}/api/keys/refresh", app.url()))
                .basic_auth("admin", Some("admin"))
                .send()
                .await
                .expect("refresh progress")
                .json()
                .await
                .expect("progress json");
            if progress["progress"]["running"] == false {
                break;
            }
            assert!(Instant::now() < deadline, "key validation did not end");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let rows_before = app.state().meters.rows_written.load(Relaxed);
        let chat_url = format!("{}/v1/chat/completions", app.url());
        let mut gateway = Gateway { http, chat_url, rows_before, sent: 0 };
        for _ in 0..WARM_UP {
            gateway.send(false).await;
            gateway.send(true).await;
        }
        gateway.rows_written(&app).await;

        let started = Instant::now();
        let plain = gateway.measure(&app, false).await;
        let streamed = gateway.measure(&app, true).await;
        let elapsed = started.elapsed();
        take_counts();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (idle, _) = take_counts();
        eprintln!("idle background: {idle} allocations in 1 s; the measured phases took {elapsed:.2?}");
        (plain, streamed)
    });
    app_runtime.block_on(app.shutdown());
    client_runtime.block_on(mock.shutdown());

    let ((plain, plain_bytes), (streamed, streamed_bytes)) = figures;
    eprintln!("allocations per plain request:    {plain:.1} ({plain_bytes:.0} bytes; budget {PLAIN_BUDGET})");
    eprintln!("allocations per streamed request: {streamed:.1} ({streamed_bytes:.0} bytes; budget {STREAM_BUDGET})");
    assert!(plain >= FLOOR && streamed >= FLOOR, "nothing counted: is the app runtime's flag set?");
    assert!(plain <= PLAIN_BUDGET as f64, "a plain request allocates {plain:.1} times, budget {PLAIN_BUDGET}");
    assert!(
        streamed <= STREAM_BUDGET as f64,
        "a streamed request allocates {streamed:.1} times, budget {STREAM_BUDGET}"
    );
}
