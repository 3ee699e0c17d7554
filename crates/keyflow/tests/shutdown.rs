//! The real binary under load, stopped with SIGTERM: every request has its
//! log row, and the token sums equal what the fake upstream served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Load workers are plain tasks of the test runtime, not of the app.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use keyflow::store::LogFilter;
use keyflow_mock::{MockConfig, MockServer};

const N_REQUESTS: usize = 10_000;
const CONCURRENCY: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_every_log_row() {
    let mock = MockServer::start(MockConfig { stream_chunks: 3, ..Default::default() }).await.unwrap();
    let keys: Vec<String> =
        (0..20).map(|i| format!("sk-{}", &"abcdefghijklmnopqrstuvwxyz".repeat(3)[i..i + 40])).collect();
    for key in &keys {
        mock.state().add_key(key, 1_000.0, "acct");
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyflow.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyflow"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYFLOW_BIND", "127.0.0.1:0")
        .env("UPSTREAM_URL", mock.url())
        .env("DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("KEYS", keys.join(","))
        .env("AUTO_REFRESH_INTERVAL", "0")
        .env("KEYFLOW_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let url = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line.split_whitespace().find(|w| w.starts_with("http://")).map(str::to_string).expect("address line")
    })
    .await
    .unwrap();

    let http = reqwest::Client::new();
    // Wait until the keys are validated and usable.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut failed_warmups = 0u64;
    loop {
        let r = http
            .post(format!("{url}/v1/chat/completions"))
            .json(&serde_json::json!({"model": "deepseek-ai/DeepSeek-V3", "messages": [{"role": "user", "content": "warm"}]}))
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 200 => break,
            Ok(_) => failed_warmups += 1,
            Err(_) => {}
        }
        assert!(std::time::Instant::now() < deadline, "gateway never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, url, next) = (http.clone(), url.clone(), Arc::clone(&next));
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= N_REQUESTS {
                    return;
                }
                let body = serde_json::json!({
                    "model": "deepseek-ai/DeepSeek-V3",
                    "messages": [{"role": "user", "content": format!("request {i}")}],
                    "stream": i % 2 == 0,
                });
                let response = http.post(format!("{url}/v1/chat/completions")).json(&body).send().await.unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }

    // SIGTERM right after the last answer: rows may still be queued.
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "keyflow exited with {exit}");

    let store = keyflow::store::open(&format!("sqlite://{}", db.display())).await.unwrap();
    let totals = store.log_totals(&LogFilter::default()).await.unwrap();
    let served = mock.state().served();
    // Warm-up requests are rows too; the successful one was served upstream.
    assert_eq!(totals.success, served.requests, "successful rows vs upstream answers");
    assert_eq!(totals.success, N_REQUESTS as u64 + 1);
    assert_eq!(totals.requests, totals.success + failed_warmups);
    assert_eq!(totals.prompt_tokens, served.prompt_tokens);
    assert_eq!(totals.completion_tokens, served.completion_tokens);
}
