//! Switching from the seed tools (SPEC §11): their env names and value
//! forms, `.env`, explicit configuration winning at every start, CORS for
//! browser front-ends, case-insensitive `Bearer`, a Sink short-link server,
//! and a refresh that joins a running one.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use keyflow::App;
use keyflow_mock::{MockConfig, SINK_KEY};
use serde_json::{json, Value};

use crate::helpers::*;

const MODEL: &str = "deepseek-ai/DeepSeek-V3";

fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn browser_front_ends_get_cors_on_v1_only() {
    let t =
        spawn_app_with(MockConfig::default(), |c| c.client_tokens = vec![keyflow::secret::Secret::new("tok")]).await;
    t.add_keys(0, 1, 10.0, "acct").await;
    let preflight = t
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/chat/completions", t.url))
        .header("origin", "https://chat.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "a preflight needs no token: {}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let answer = t
        .http
        .post(format!("{}/v1/chat/completions", t.url))
        .header("origin", "https://chat.example.com")
        .bearer_auth("tok")
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    let api = t
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/api/keys", t.url))
        .header("origin", "https://chat.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(api.headers().get("access-control-allow-origin").is_none(), "never CORS on /api");
}

#[tokio::test]
async fn cors_origins_can_be_listed() {
    let t = spawn_app_with(MockConfig::default(), |c| c.edge.cors_origins = vec!["https://ok.example".into()]).await;
    let ask = |origin: &'static str| {
        t.http
            .request(reqwest::Method::OPTIONS, format!("{}/v1/models", t.url))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    assert_eq!(ask("https://ok.example").await.unwrap().headers()["access-control-allow-origin"], "https://ok.example");
    assert!(ask("https://other.example").await.unwrap().headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn bearer_is_read_in_any_case() {
    let t =
        spawn_app_with(MockConfig::default(), |c| c.client_tokens = vec![keyflow::secret::Secret::new("tok")]).await;
    t.add_keys(0, 1, 10.0, "acct").await;
    for scheme in ["Bearer", "BEARER", "bearer"] {
        let response = t
            .http
            .get(format!("{}/v1/models", t.url))
            .header("authorization", format!("{scheme} tok"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn explicit_configuration_wins_at_every_start() {
    let mut t = spawn_app().await;
    t.put_settings(json!({"key_strategy": "oldest", "page_size": 77})).await;
    // Restart with KEY_STRATEGY in the environment (silicon-pool's `high`).
    t.stop().await;
    let env = env_of(&[("KEY_STRATEGY", "high")]);
    let mut config = keyflow::config::resolve(&Default::default(), &env, None).unwrap();
    let base = base_config(&t.mock.url(), t.dir.path());
    config.bind = base.bind;
    config.upstream_url = base.upstream_url;
    config.database_url = base.database_url;
    let app = App::start(config).await.unwrap();
    t.url = app.url();
    t.app = Some(app);
    let settings = t.admin_get("/api/settings").await;
    assert_eq!(settings["key_strategy"], "balance_desc", "the environment wins over the stored value");
    assert_eq!(settings["page_size"], 77, "a setting not given keeps the console's value");
    let origins = t.admin_get("/api/settings/origins").await;
    assert_eq!(origins["key_strategy"], "environment variable KEY_STRATEGY", "{origins}");
    assert!(origins.get("page_size").is_none());
    // A console change applies at once (until the next restart).
    let saved = t.put_settings(json!({"key_strategy": "random"})).await;
    assert_eq!(saved["key_strategy"], "random");
}

#[tokio::test]
async fn a_sink_short_link_server_shortens_image_links() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct").await;
    let mock_url = t.mock.url();
    t.put_settings(json!({"image": {
        "prompt_expansion": false,
        "use_shortlink": true, "shortlink_url": mock_url, "shortlink_api_key": SINK_KEY,
    }}))
    .await;
    let response = t
        .post_json(
            "/v1/chat/completions",
            json!({"model": "Tongyi-MAI/Z-Image-Turbo", "messages": [{"role": "user", "content": "a cat"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains(&format!("]({mock_url}/k/")), "{content}");
    let settings = t.admin_get("/api/settings").await;
    assert_eq!(settings["image"]["shortlink_api_key"], "********", "the key is never shown");
}

/// Runs the real binary in `dir` (where a `.env` may sit) with `env`; returns
/// the child and its stderr file.
fn start_binary(dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Child {
    let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_keyflow"));
    command.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        command.env(k, v);
    }
    command.stdout(Stdio::null()).stderr(stderr).spawn().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn the_seed_tools_env_files_start_keyflow() {
    let mock = keyflow_mock::MockServer::start(MockConfig::default()).await.unwrap();
    let key = test_key(1);
    mock.state().add_key(&key, 10.0, "acct");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The image-chat tool's env file: y/t booleans, comments after values,
    // its Lsky and Sink names, a refresh interval below keyflow's minimum.
    let dotenv = format!(
        "# image chat\n\
         PORT={port} # where it listens\n\
         API_KEY=\"dot-token\"\n\
         API_KEYS={key}\n\
         API_BASE_URL={upstream}\n\
         USE_LSKY_PRO=y   # re-host\n\
         LSKY_PRO_URL={upstream}\n\
         LSKY_PRO_TOKEN={lsky}\n\
         USE_SHORTLINK=t\n\
         SHORTLINK_BASE_URL={upstream}\n\
         SHORTLINK_API_KEY={sink}\n\
         AUTO_REFRESH_INTERVAL=30\n\
         LLM_API_URL=https://old.example/v1/chat/completions\n\
         KEY_STRATEGY=low\n",
        upstream = mock.url(),
        lsky = keyflow_mock::LSKY_TOKEN,
        sink = SINK_KEY,
    );
    std::fs::write(dir.path().join(".env"), dotenv).unwrap();
    // The real environment wins over .env.
    let mut child = start_binary(dir.path(), &[("KEY_STRATEGY", "random"), ("RUST_LOG", "info")]);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let settings: Value = loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "keyflow exited: {}",
            std::fs::read_to_string(dir.path().join("stderr.log")).unwrap()
        );
        if let Ok(response) = http.get(format!("{url}/api/settings")).basic_auth("admin", Some("admin")).send().await {
            break response.json().await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "keyflow did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(settings["key_strategy"], "random", "the process environment wins over .env");
    assert_eq!(settings["auto_refresh_interval_secs"], 60, "clamped, not refused");
    assert_eq!(settings["image"]["use_lsky_pro"], true);
    assert_eq!(settings["image"]["lsky_url"], mock.url());
    assert_eq!(settings["image"]["use_shortlink"], true);
    let models = http.get(format!("{url}/v1/models")).bearer_auth("dot-token").send().await.unwrap();
    assert_eq!(models.status(), 200, "the client token from .env, quotes removed");
    let chat = http
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth("dot-token")
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200, "the pool key from API_KEYS serves");
    assert!(mock.state().hits_on(&key, "/v1/chat/completions") >= 1);
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(log.contains("using 60") && log.contains("LLM_API_URL"), "notices name what to change: {log}");
    assert!(!log.contains(&key) && !log.contains("dot-token"), "no secret in the log");
    mock.shutdown().await;
}

#[tokio::test]
async fn a_password_changed_in_the_console_allows_a_public_bind() {
    let mut t = spawn_app().await;
    t.stop().await;
    let (upstream, dir) = (t.mock.url(), t.dir.path().to_path_buf());
    let public = || {
        let mut config = base_config(&upstream, &dir);
        config.bind = "0.0.0.0:0".parse().unwrap();
        config
    };
    let refused = App::start(public()).await.err().expect("admin/admin on 0.0.0.0 is refused");
    assert!(refused.to_string().contains("ADMIN_PASSWORD"), "{refused}");
    t.restart().await;
    let response = t
        .admin(reqwest::Method::POST, "/api/password")
        .json(&json!({"current": "admin", "new": "a-long-new-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    t.stop().await;
    let app = App::start(public()).await.expect("a stored password lifts the refusal");
    assert!(app.addr().ip().is_unspecified());
    app.shutdown().await;
}

#[tokio::test]
async fn the_flask_tools_environment_serves_the_same_clients() {
    // siliconflow-api (Flask/Vercel): everything is environment.
    let mock = keyflow_mock::MockServer::start(MockConfig::default()).await.unwrap();
    let keys = [test_key(1), test_key(2)];
    for key in &keys {
        mock.state().add_key(key, 10.0, "acct");
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let joined = keys.join(",");
    let mut child = start_binary(
        dir.path(),
        &[
            ("PORT", &port),
            ("KEYS", &joined),
            ("AUTHORIZATION_KEY", "flask-token"),
            ("BAN_MODELS", r#"["deepseek-ai/DeepSeek-R1"]"#),
            ("TEST_MODEL", "Qwen/Qwen2.5-7B-Instruct"),
            ("API_BASE_URL", &mock.url()),
        ],
    );
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let chat = |model: &'static str, token: &'static str| {
        http.post(format!("{url}/v1/chat/completions"))
            .bearer_auth(token)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let started = std::time::Instant::now();
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "keyflow exited: {}",
            std::fs::read_to_string(dir.path().join("stderr.log")).unwrap()
        );
        if let Ok(response) = chat(MODEL, "flask-token").await {
            if response.status() == 200 {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20), "keyflow did not serve");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(chat(MODEL, "wrong-token").await.unwrap().status(), 401);
    assert_eq!(
        chat("deepseek-ai/DeepSeek-R1", "flask-token").await.unwrap().status(),
        403,
        "BAN_MODELS as a JSON array"
    );
    for path in ["/v1/dashboard/billing/usage", "/v1/dashboard/billing/subscription", "/v1/models"] {
        let response = http.get(format!("{url}{path}")).bearer_auth("flask-token").send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let _ = child.kill();
    let _ = child.wait();
    mock.shutdown().await;
}
