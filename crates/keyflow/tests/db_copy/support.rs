//! What the `db copy` cases share: a deployment built through a real
//! keyflow `App` against keyflow-mock, the real binary, and a comparison of
//! everything two stores hold.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use keyflow::config::Config;
use keyflow::secret::Secret;
use keyflow::store::{KeyRecord, LogRow, ModelFact, Store};
use keyflow::App;
use keyflow_mock::{MockConfig, MockServer};
use serde_json::{json, Value};

use crate::common::{base_config, test_key};

pub const PAID: &str = "deepseek-ai/DeepSeek-V3";
pub const NEW_PASSWORD: &str = "moved-admin-password";
pub const GUEST_PASSWORD: &str = "guest-pass-4711";

/// A stopped deployment on SQLite and the upstream it used.
pub struct Deployment {
    pub mock: MockServer,
    pub dir: tempfile::TempDir,
    /// `sqlite://…/keyflow.db`.
    pub url: String,
    pub secret: Option<&'static str>,
    pub keys: Vec<String>,
    /// A console client token (`kf-…`).
    pub token: String,
    /// A file uploaded with `token`: its pin names the key and the token.
    pub file_id: String,
}

/// The config of a gateway on `database_url` against the deployment's upstream.
pub fn config_for(d: &Deployment, database_url: &str) -> Config {
    let mut config = base_config(&d.mock.url(), d.dir.path());
    config.database_url = database_url.to_string();
    config.secret = d.secret.map(Secret::new);
    config
}

async fn admin(http: &reqwest::Client, method: reqwest::Method, url: String, body: Value) -> Value {
    let response = http.request(method, &url).basic_auth("admin", Some("admin")).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response.json().await.unwrap_or(Value::Null)
}

/// Builds a deployment the way an operator would: keys imported (one then
/// disabled), settings with a guest password, a price, a console token,
/// chats and an upload with it, the admin password changed; then stops it
/// and adds a model fact, which only probing writes.
pub async fn build_deployment(secret: Option<&'static str>) -> Deployment {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let keys: Vec<String> = (0..3).map(test_key).collect();
    for (i, key) in keys.iter().enumerate() {
        mock.state().add_key(key, 10.0 + i as f64, &format!("acct-{i}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keyflow.db").display());
    let mut config = base_config(&mock.url(), dir.path());
    config.secret = secret.map(Secret::new);
    let app = App::start(config).await.unwrap();
    let (base, http) = (app.url(), reqwest::Client::new());
    let import = http
        .post(format!("{base}/api/keys"))
        .basic_auth("admin", Some("admin"))
        .header("content-type", "text/plain")
        .body(keys.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(import.json::<Value>().await.unwrap()["added"], 3);
    admin(&http, reqwest::Method::PATCH, format!("{base}/api/keys/2"), json!({"enabled": false})).await;
    let settings = json!({"access_control": "restricted", "guest_password": GUEST_PASSWORD, "max_retries": 2});
    admin(&http, reqwest::Method::PUT, format!("{base}/api/settings"), settings).await;
    let price = json!({"input_per_m": 2.0, "output_per_m": 8.0});
    admin(&http, reqwest::Method::PUT, format!("{base}/api/models/prices/{PAID}"), price).await;
    let created = admin(&http, reqwest::Method::POST, format!("{base}/api/tokens"), json!({"name": "team-a"})).await;
    let token = created["token"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(chat(&http, &base, &token).await, 200);
    }
    let file_id = upload(&http, &base, &token).await;
    let password = json!({"current": "admin", "new": NEW_PASSWORD});
    admin(&http, reqwest::Method::POST, format!("{base}/api/password"), password).await;
    app.shutdown().await;
    let store = keyflow::store::open_with(&url, secret.map(Secret::new).as_ref()).await.unwrap();
    let fact = ModelFact { model: "Qwen/Qwen2.5-7B-Instruct".into(), free: Some(true), updated_at: 1_700_000_000 };
    store.save_model_facts(&[fact]).await.unwrap();
    Deployment { mock, dir, url, secret, keys, token, file_id }
}

pub async fn chat(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    let body = json!({"model": PAID, "messages": [{"role": "user", "content": "hello"}]});
    let response =
        http.post(format!("{base}/v1/chat/completions")).bearer_auth(token).json(&body).send().await.unwrap();
    response.status().as_u16()
}

/// Uploads a small batch input file and returns its id.
async fn upload(http: &reqwest::Client, base: &str, token: &str) -> String {
    let boundary = "keyflow-db-copy-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{{}}\n\r\n--{boundary}--\r\n"
    );
    let response = http
        .post(format!("{base}/v1/files"))
        .bearer_auth(token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let file: Value = response.json().await.unwrap();
    file["data"]["id"].as_str().unwrap().to_string()
}

/// What one run of the real binary said.
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `keyflow db copy --from FROM --to TO` in `dir` (no `.env` or
/// `keyflow.toml` of the caller's), with `KEYFLOW_SECRET` only when given.
pub async fn run_copy(dir: &Path, from: &str, to: &str, secret: Option<&str>) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyflow"));
    command.args(["db", "copy", "--from", from, "--to", to]).current_dir(dir);
    command.env_remove("KEYFLOW_SECRET").env_remove("DATABASE_URL").env("KEYFLOW_LOG", "warn");
    if let Some(secret) = secret {
        command.env("KEYFLOW_SECRET", secret);
    }
    let output = command.output().await.unwrap();
    let run = Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    eprintln!("keyflow db copy: {}\n{}{}", if run.ok { "ok" } else { "failed" }, run.stdout, run.stderr);
    run
}

pub async fn open(url: &str, secret: Option<&str>) -> Arc<dyn Store> {
    keyflow::store::open_with(url, secret.map(Secret::new).as_ref()).await.unwrap()
}

/// Every log row, oldest first.
async fn all_logs(store: &dyn Store) -> Vec<LogRow> {
    let mut rows = Vec::new();
    loop {
        let batch = store.logs_after(rows.last().map_or(0, |r: &LogRow| r.id), 1000).await.unwrap();
        if batch.is_empty() {
            return rows;
        }
        rows.extend(batch);
    }
}

/// Asserts that `target` holds what `source` holds, key ids aside (pins
/// and log rows are compared through the keys they name). Returns the
/// number of log rows.
pub async fn assert_same_content(source: &dyn Store, target: &dyn Store) -> usize {
    let (from, to) = (source.load_keys().await.unwrap(), target.load_keys().await.unwrap());
    assert_eq!(from.len(), to.len(), "key count");
    let to_by_secret: HashMap<&str, &KeyRecord> = to.iter().map(|k| (k.secret.as_str(), k)).collect();
    let mut key_ids = HashMap::new();
    for key in &from {
        let copy = to_by_secret.get(key.secret.as_str()).expect("every key is copied");
        key_ids.insert(key.id, copy.id);
        let (a, b) = (KeyRecord { id: 0, ..key.clone() }, KeyRecord { id: 0, ..(*copy).clone() });
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "every field of a key");
    }
    let settings = |json: Option<String>| json.map(|j| serde_json::from_str::<Value>(&j).unwrap());
    assert_eq!(settings(source.load_settings().await.unwrap()), settings(target.load_settings().await.unwrap()));
    let password = source.load_value("admin_password").await.unwrap();
    assert!(password.is_some());
    assert_eq!(password, target.load_value("admin_password").await.unwrap());
    let tokens = |list: Vec<keyflow::store::ClientTokenRecord>| {
        list.into_iter().map(|t| keyflow::store::ClientTokenRecord { id: 0, ..t }).collect::<Vec<_>>()
    };
    assert_eq!(tokens(source.load_client_tokens().await.unwrap()), tokens(target.load_client_tokens().await.unwrap()));
    let sorted_pins = |mut v: Vec<keyflow::store::Pin>| {
        v.sort_by(|a, b| (&a.kind, &a.resource_id).cmp(&(&b.kind, &b.resource_id)));
        v
    };
    let mut pins = sorted_pins(source.load_pins().await.unwrap());
    assert!(!pins.is_empty());
    pins.iter_mut().for_each(|p| p.key_id = key_ids[&p.key_id]);
    assert_eq!(pins, sorted_pins(target.load_pins().await.unwrap()));
    let sorted_facts = |mut v: Vec<ModelFact>| {
        v.sort_by(|a, b| a.model.cmp(&b.model));
        v
    };
    let facts = sorted_facts(source.load_model_facts().await.unwrap());
    assert!(!facts.is_empty());
    assert_eq!(facts, sorted_facts(target.load_model_facts().await.unwrap()));
    let mut prices = (source.load_prices().await.unwrap(), target.load_prices().await.unwrap());
    prices.0.sort_by(|a, b| a.model.cmp(&b.model));
    prices.1.sort_by(|a, b| a.model.cmp(&b.model));
    assert!(!prices.0.is_empty());
    assert_eq!(prices.0, prices.1);
    let logs = all_logs(source).await;
    let copied = all_logs(target).await;
    assert_eq!(logs.len(), copied.len(), "log rows");
    for (row, copy) in logs.iter().zip(&copied) {
        let want = LogRow { id: 0, key_id: row.key_id.map(|id| key_ids[&id]), ..row.clone() };
        assert_eq!(want, LogRow { id: 0, ..copy.clone() });
    }
    logs.len()
}
