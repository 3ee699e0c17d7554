//! `spawn_app()`: keyflow on port 0 against keyflow-mock on port 0 with a
//! temporary SQLite file (the pattern of `tests/api/helpers.rs`), and the
//! API calls the browser tests check the console's effects with.

use keyflow::config::Config;
use keyflow_mock::MockConfig;
use serde_json::{json, Value};

pub use crate::common::{test_key, TestApp};

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    crate::common::spawn_app_with(MockConfig::default(), configure).await
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
