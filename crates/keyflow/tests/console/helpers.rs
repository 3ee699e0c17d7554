//! `spawn_app()`: keyflow on port 0 against keyflow-mock on port 0 with a
//! temporary SQLite file (the pattern of `tests/api/helpers.rs`), and the
//! API calls the browser tests check the console's effects with.

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

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let mock = MockServer::start(MockConfig::default()).await.expect("mock starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::default();
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.upstream_url = mock.url();
    config.database_url = format!("sqlite://{}", dir.path().join("keyflow.db").display());
    config.runtime.auto_refresh_interval_secs = 0;
    configure(&mut config);
    let app = App::start(config).await.expect("keyflow starts");
    let url = app.url();
    TestApp { app: Some(app), mock, url, http: reqwest::Client::new(), dir }
}

impl TestApp {
    /// Creates keys upstream only (the console imports them); answers them.
    pub fn upstream_keys(&self, first: usize, balances: &[f64]) -> Vec<String> {
        balances
            .iter()
            .enumerate()
            .map(|(i, balance)| {
                let key = test_key(first + i);
                self.mock.state().add_key(&key, *balance, &format!("acct-{}", first + i));
                key
            })
            .collect()
    }

    /// Imports keys through the API (for tests about other pages).
    pub async fn import(&self, keys: &[String]) -> Value {
        let response = self
            .admin(reqwest::Method::POST, "/api/keys")
            .header("content-type", "text/plain")
            .body(keys.join("\n"))
            .send()
            .await
            .expect("import call");
        assert!(response.status().is_success(), "import status {}", response.status());
        response.json().await.expect("import json")
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url)).basic_auth("admin", Some("admin"))
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        let response = self.admin(reqwest::Method::GET, path).send().await.expect("admin call");
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().await.expect("admin json")
    }

    pub async fn put_settings(&self, patch: Value) -> Value {
        let response = self.admin(reqwest::Method::PUT, "/api/settings").json(&patch).send().await.expect("put");
        assert_eq!(response.status(), 200, "PUT /api/settings {patch}");
        response.json().await.expect("settings json")
    }

    /// A non-stream chat completion, with a client token when given.
    pub async fn chat(&self, model: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/v1/chat/completions", self.url)).json(&json!({
            "model": model,
            "messages": [{"role": "user", "content": "Hello from the console tests"}],
        }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("chat request")
    }

    pub async fn stop(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }
}
