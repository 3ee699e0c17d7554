//! `spawn_app()` and typed helpers for the black-box tests.

use std::future::Future;
use std::time::Duration;

use keyflow::config::Config;
use keyflow::App;
use serde_json::{json, Value};

pub use crate::common::{base_config, spawn_app, spawn_app_with, test_key, TestApp};

impl TestApp {
    pub fn app(&self) -> &App {
        self.app.as_ref().expect("app running")
    }

    /// Creates `n` keys upstream (numbered from `first`) and imports them.
    pub async fn add_keys(&self, first: usize, n: usize, balance: f64, account: &str) -> Vec<String> {
        let keys: Vec<String> = (first..first + n).map(test_key).collect();
        for key in &keys {
            self.mock.state().add_key(key, balance, account);
        }
        let report = self.import(&keys.join("\n")).await;
        assert_eq!(report["added"].as_u64(), Some(n as u64), "import report: {report}");
        keys
    }

    pub async fn import(&self, text: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/api/keys", self.url))
            .basic_auth("admin", Some("admin"))
            .header("content-type", "text/plain")
            .body(text.to_string())
            .send()
            .await
            .expect("import call");
        assert!(response.status().is_success(), "import status {}", response.status());
        response.json().await.expect("import json")
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .expect("admin call");
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().await.expect("admin json")
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url)).basic_auth("admin", Some("admin"))
    }

    pub async fn chat(&self, model: &str, stream: bool) -> reqwest::Response {
        self.post_json(
            "/v1/chat/completions",
            json!({"model": model, "messages": [{"role": "user", "content": "你好, keyflow"}], "stream": stream}),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.http.post(format!("{}{path}", self.url)).json(&body).send().await.expect("request")
    }

    /// The key id keyflow used, from its response header.
    pub fn key_id_of(response: &reqwest::Response) -> i64 {
        response
            .headers()
            .get("x-keyflow-key-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("x-keyflow-key-id header")
    }

    pub async fn key_row(&self, id: i64) -> Value {
        let list = self.admin_get("/api/keys?size=1000").await;
        list["items"].as_array().expect("items").iter().find(|k| k["id"] == id).cloned().expect("key row")
    }

    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }
}

/// Polls `check` until it returns `Some`, or fails after `deadline`.
pub async fn eventually<T, F, Fut>(deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "condition not met within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The boundary of every hand-built multipart body (reqwest is built without
/// its `multipart` feature, and building by hand lets tests know each byte).
pub const BOUNDARY: &str = "keyflow-test-boundary-7d93a1c4";

/// One part of a multipart form: a text field, or a file when `filename` is set.
pub struct Part<'a> {
    pub name: &'a str,
    pub filename: Option<&'a str>,
    pub content: &'a [u8],
}

/// A text field part.
pub fn field<'a>(name: &'a str, value: &'a str) -> Part<'a> {
    Part { name, filename: None, content: value.as_bytes() }
}

/// A file part.
pub fn file_part<'a>(name: &'a str, filename: &'a str, content: &'a [u8]) -> Part<'a> {
    Part { name, filename: Some(filename), content }
}

/// The content type and the exact bytes of a `multipart/form-data` body.
pub fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let disposition = match part.filename {
            Some(filename) => format!(
                "Content-Disposition: form-data; name=\"{}\"; filename=\"{filename}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n",
                part.name
            ),
            None => format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", part.name),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(part.content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

impl TestApp {
    /// Posts a hand-built multipart form to keyflow.
    pub async fn post_multipart(&self, path: &str, parts: &[Part<'_>]) -> reqwest::Response {
        let (content_type, body) = multipart(parts);
        self.http
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("multipart request")
    }

    /// Enables or disables key `id` through `PATCH /api/keys/{id}`.
    pub async fn set_enabled(&self, id: i64, enabled: bool) {
        let response = self
            .admin(reqwest::Method::PATCH, &format!("/api/keys/{id}"))
            .json(&json!({"enabled": enabled}))
            .send()
            .await
            .expect("patch call");
        assert_eq!(response.status(), 200, "PATCH /api/keys/{id}");
    }

    /// Leaves only the keys in `ids` enabled (by id, among `1..=n_keys`).
    pub async fn enable_only(&self, n_keys: i64, ids: &[i64]) {
        for id in 1..=n_keys {
            self.set_enabled(id, ids.contains(&id)).await;
        }
    }

    /// Saves live settings through `PUT /api/settings`.
    pub async fn put_settings(&self, patch: Value) -> Value {
        let response = self.admin(reqwest::Method::PUT, "/api/settings").json(&patch).send().await.expect("put");
        assert_eq!(response.status(), 200, "PUT /api/settings {patch}");
        response.json().await.expect("settings json")
    }

    /// Waits until no key refresh runs; returns the last progress.
    pub async fn wait_refresh(&self, deadline: Duration) -> Value {
        eventually(deadline, || async {
            let progress = self.admin_get("/api/keys/refresh").await["progress"].clone();
            (progress["running"] == false).then_some(progress)
        })
        .await
    }

    /// Every key row, through all pages of `GET /api/keys?size=1000`.
    pub async fn all_key_rows(&self) -> Vec<Value> {
        let mut rows = Vec::new();
        for page in 1.. {
            let list = self.admin_get(&format!("/api/keys?size=1000&page={page}")).await;
            let items = list["items"].as_array().expect("items").clone();
            if items.is_empty() {
                break;
            }
            rows.extend(items);
        }
        rows
    }

    /// Stops keyflow and starts a new instance on the same database file.
    pub async fn restart(&mut self) {
        self.restart_with(|_| {}).await;
    }

    pub async fn restart_with(&mut self, configure: impl FnOnce(&mut Config)) {
        self.stop().await;
        let mut config = base_config(&self.mock.url(), self.dir.path());
        configure(&mut config);
        let app = App::start(config).await.expect("keyflow restarts");
        self.url = app.url();
        self.app = Some(app);
    }
}

impl TestApp {
    /// A non-stream chat with one user message of `content`.
    pub async fn chat_with_content(&self, model: &str, content: &str) -> reqwest::Response {
        self.post_json(
            "/v1/chat/completions",
            json!({"model": model, "messages": [{"role": "user", "content": content}]}),
        )
        .await
    }

    /// The `inflight` count `GET /api/keys` shows for key `id`.
    pub async fn inflight_of(&self, id: i64) -> u64 {
        self.key_row(id).await["inflight"].as_u64().expect("inflight")
    }
}

impl TestApp {
    /// The request-log rows of `model`, once at least `n` are written (rows
    /// are written behind the request, so this polls).
    pub async fn logs_of(&self, model: &str, n: usize) -> Vec<Value> {
        eventually(Duration::from_secs(5), || async {
            let response =
                self.admin(reqwest::Method::GET, "/api/logs").query(&[("model", model), ("size", "100")]).send().await;
            let body: Value = response.ok()?.json().await.ok()?;
            let items = body["items"].as_array()?.clone();
            (items.len() >= n).then_some(items)
        })
        .await
    }
}
