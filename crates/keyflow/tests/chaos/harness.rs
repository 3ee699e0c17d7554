//! What the chaos tests share: a chat client that accepts only complete
//! answers, the real binary as a child process, and polling with a deadline.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A paid model: an empty key cannot serve it, so running dry shows.
pub const PAID: &str = "deepseek-ai/DeepSeek-V3";

/// The tokens one complete chat answer reported to the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// A chat body; every fourth request streams without asking for usage and
/// every fourth streams asking for it, the rest are plain JSON answers.
pub fn chat_body(i: usize) -> Value {
    let content = format!("chaos request {i}: say something");
    let mut body = json!({"model": PAID, "messages": [{"role": "user", "content": content}]});
    match i % 4 {
        1 => body["stream"] = json!(true),
        3 => {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        _ => {}
    }
    body
}

/// Sends chat request `i` and accepts only a 2xx with a complete body: for
/// JSON a message and usage, for a stream a finish reason, usage and
/// `[DONE]` at the end. The error describes what was wrong.
pub async fn chat(http: &reqwest::Client, url: &str, i: usize) -> Result<Delivered, String> {
    let body = chat_body(i);
    let stream = body["stream"] == true;
    let response = http
        .post(format!("{url}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("request {i}: send: {e}"))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| format!("request {i}: {status}, body cut: {e}"))?;
    if !status.is_success() {
        return Err(format!("request {i}: {status} {}", text.chars().take(300).collect::<String>()));
    }
    let delivered = if stream { read_stream(&text) } else { read_json(&text) };
    delivered.map_err(|problem| format!("request {i} (stream: {stream}): {problem}"))
}

fn usage_of(value: &Value) -> Option<Delivered> {
    let usage = value.get("usage").filter(|u| u.is_object())?;
    Some(Delivered {
        prompt_tokens: usage["prompt_tokens"].as_u64()?,
        completion_tokens: usage["completion_tokens"].as_u64()?,
    })
}

fn read_json(text: &str) -> Result<Delivered, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("answer is not JSON ({e})"))?;
    let choice = &value["choices"][0];
    if choice["message"]["content"].as_str().is_none_or(str::is_empty) || choice["finish_reason"].is_null() {
        return Err(format!("no complete message: {value}"));
    }
    usage_of(&value).filter(|u| u.completion_tokens > 0).ok_or_else(|| format!("no usage: {value}"))
}

fn read_stream(text: &str) -> Result<Delivered, String> {
    let payloads: Vec<&str> =
        text.lines().filter_map(|line| line.strip_prefix("data:")).map(str::trim).filter(|p| !p.is_empty()).collect();
    if payloads.last() != Some(&"[DONE]") {
        return Err(format!("stream does not end with [DONE]: …{}", tail(text)));
    }
    let mut last_usage = None;
    let mut finished = false;
    for payload in &payloads[..payloads.len() - 1] {
        let chunk: Value = serde_json::from_str(payload).map_err(|e| format!("bad chunk {payload}: {e}"))?;
        if chunk.get("error").is_some() {
            return Err(format!("error event: {payload}"));
        }
        finished |= !chunk["choices"][0]["finish_reason"].is_null();
        last_usage = usage_of(&chunk).or(last_usage);
    }
    if !finished {
        return Err(format!("stream has no finish reason: …{}", tail(text)));
    }
    last_usage
        .filter(|u| u.completion_tokens > 0)
        .ok_or_else(|| format!("stream shows no final usage: …{}", tail(text)))
}

fn tail(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(300)..].iter().collect()
}

/// Polls `check` until it returns `Some`, failing with `what` after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `keyflow` binary running as a child process on a free port.
pub struct Gateway {
    child: Option<Child>,
    pub url: String,
}

impl Gateway {
    /// Starts `keyflow` against `upstream` with the SQLite file `db`, seeding
    /// `keys` through `KEYS`, and reads its address from its first line.
    pub async fn start(upstream: &str, db: &Path, keys: &[String]) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyflow"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYFLOW_BIND", "127.0.0.1:0")
            .env("UPSTREAM_URL", upstream)
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("KEYS", keys.join(","))
            .env("AUTO_REFRESH_INTERVAL", "0")
            .env("KEYFLOW_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("keyflow starts");
        let stdout = child.stdout.take().expect("stdout");
        // Owned by `gateway` first, so a failure below still kills the child.
        let mut gateway = Gateway { child: Some(child), url: String::new() };
        let read = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("keyflow printed its address within 30 s")
            .expect("reader")
            .expect("read stdout");
        gateway.url = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        gateway
    }

    /// SIGKILL: no shutdown code runs, buffers and open transactions are lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn terminate(mut self) {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill -TERM");
        assert!(status.success());
        let exit = tokio::task::spawn_blocking(move || child.wait()).await.expect("waiter").expect("wait");
        assert!(exit.success(), "keyflow exited with {exit}");
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `GET /health` answers 200 with status `ok`.
pub async fn wait_healthy(http: &reqwest::Client, url: &str, deadline: Duration) -> Value {
    eventually("keyflow healthy", deadline, || async {
        let response = http.get(format!("{url}/health")).send().await.ok()?;
        if response.status() != 200 {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        (body["status"] == "ok").then_some(body)
    })
    .await
}

/// `POST /api/keys` with one key a line; the report, or why there is none.
pub async fn import(http: &reqwest::Client, url: &str, keys: &[String]) -> Result<Value, String> {
    let response = http
        .post(format!("{url}/api/keys"))
        .basic_auth("admin", Some("admin"))
        .header("content-type", "text/plain")
        .body(keys.join("\n"))
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let report: Value = response.json().await.map_err(|e| format!("{status}, no report: {e}"))?;
    if !status.is_success() {
        return Err(format!("{status}: {report}"));
    }
    Ok(report)
}

/// `GET` on the admin API as JSON.
pub async fn admin_get(http: &reqwest::Client, url: &str, path: &str) -> Value {
    let response =
        http.get(format!("{url}{path}")).basic_auth("admin", Some("admin")).send().await.expect("admin call");
    assert!(response.status().is_success(), "GET {path}: {}", response.status());
    response.json().await.expect("admin json")
}

/// Every key row of `GET /api/keys`, through all pages.
pub async fn all_key_rows(http: &reqwest::Client, url: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    for page in 1.. {
        let list = admin_get(http, url, &format!("/api/keys?size=1000&page={page}")).await;
        let items = list["items"].as_array().expect("items").clone();
        if items.is_empty() {
            break;
        }
        rows.extend(items);
    }
    rows
}
