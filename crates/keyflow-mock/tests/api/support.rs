//! Shared test helpers: a mock on port 0 with a few keys and a plain HTTP client.

use keyflow_mock::{MockConfig, MockServer, MockState};
use serde_json::Value;

pub const KEY_A: &str = "sk-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
pub const KEY_B: &str = "sk-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
pub const KEY_EMPTY: &str = "sk-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

/// A running mock plus a client pointed at it.
pub struct TestMock {
    pub server: MockServer,
    pub state: MockState,
    pub client: reqwest::Client,
}

impl TestMock {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub async fn post_json(&self, key: &str, path: &str, body: &Value) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(key).json(body).send().await.expect("request")
    }

    pub async fn get(&self, key: &str, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(key).send().await.expect("request")
    }
}

/// A mock with `KEY_A` (14 CNY, account `acct-1`), `KEY_B` (14 CNY, `acct-2`)
/// and `KEY_EMPTY` (0 CNY, `acct-3`).
pub async fn spawn_with(config: MockConfig) -> TestMock {
    let server = MockServer::start(config).await.expect("mock starts");
    let state = server.state();
    state.add_key(KEY_A, 14.0, "acct-1");
    state.add_key(KEY_B, 14.0, "acct-2");
    state.add_key(KEY_EMPTY, 0.0, "acct-3");
    TestMock { server, state, client: reqwest::Client::new() }
}

pub async fn spawn() -> TestMock {
    spawn_with(MockConfig::default()).await
}

/// A chat request body.
pub fn chat_body(model: &str, text: &str, stream: bool) -> Value {
    serde_json::json!({
        "model": model,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
        "stream": stream,
    })
}

/// The `data:` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|frame| frame.lines().find_map(|line| line.strip_prefix("data: ")).map(str::to_owned))
        .collect()
}

/// Parses a JSON body, panicking with the text on failure.
pub async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// A hand-built `multipart/form-data` body (the workspace's reqwest has no
/// multipart feature, and building it by hand also pins the exact bytes).
#[derive(Default)]
pub struct Multipart {
    body: Vec<u8>,
}

const BOUNDARY: &str = "keyflowmockboundary7MA4YWxkTrZu0gW";

impl Multipart {
    pub fn text(mut self, name: &str, value: &str) -> Self {
        let head = format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n");
        self.body.extend_from_slice(head.as_bytes());
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
        self
    }

    pub fn file(mut self, name: &str, filename: &str, bytes: &[u8]) -> Self {
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        self.body.extend_from_slice(head.as_bytes());
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    fn finish(mut self) -> Vec<u8> {
        self.body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.body
    }
}

impl TestMock {
    pub async fn post_form(&self, key: &str, path: &str, form: Multipart) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(form.finish())
            .send()
            .await
            .expect("request")
    }
}
