//! `spawn_app()` and typed helpers for the black-box tests.

use std::future::Future;
use std::time::Duration;

use keyflow::config::Config;
use keyflow::App;
use keyflow_mock::{MockConfig, MockServer};
use serde_json::{json, Value};

pub struct TestApp {
    pub app: Option<App>,
    pub mock: MockServer,
    pub url: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// A deterministic well-formed key for test number `i`.
pub fn test_key(i: usize) -> String {
    let mut n = i as u64 + 1;
    let letters: String = (0..48)
        .map(|_| {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (b'a' + ((n >> 33) % 26) as u8) as char
        })
        .collect();
    format!("sk-{letters}")
}

pub fn base_config(upstream: &str, dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.upstream_url = upstream.to_string();
    config.database_url = format!("sqlite://{}", dir.join("keyflow.db").display());
    config.runtime.auto_refresh_interval_secs = 0;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(MockConfig::default(), |_| {}).await
}

pub async fn spawn_app_with(mock_config: MockConfig, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mock = MockServer::start(mock_config).await.expect("mock starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = base_config(&mock.url(), dir.path());
    configure(&mut config);
    let app = App::start(config).await.expect("keyflow starts");
    let url = app.url();
    TestApp { app: Some(app), mock, url, http: reqwest::Client::new(), dir }
}

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
