//! Black-box smoke on PostgreSQL: keyflow started with a `postgres://`
//! database URL serves a chat through keyflow-mock, and its log row lands
//! in PostgreSQL.

use std::time::{Duration, Instant};

use keyflow::config::{Config, RuntimeSettings};
use keyflow::store::LogFilter;
use keyflow::App;
use keyflow_mock::{MockConfig, MockServer};
use serde_json::json;

use crate::db::{run, Backend, TestDb};

const MODEL: &str = "deepseek-ai/DeepSeek-V3";
const KEY: &str = "sk-postgressmokekeyabcdefghijklmnopqrstuvwxyzabcd";

#[tokio::test]
async fn postgres_app_serves_a_chat_and_logs_it() {
    run(Backend::Postgres, serves_a_chat_and_logs_it).await;
}

async fn serves_a_chat_and_logs_it(db: TestDb) {
    let mock = MockServer::start(MockConfig::default()).await.expect("mock starts");
    mock.state().add_key(KEY, 50.0, "acct-pg");
    let config = Config {
        bind: "127.0.0.1:0".parse().expect("addr"),
        upstream_url: mock.url(),
        database_url: db.url.clone(),
        database_pool_size: 4,
        runtime: RuntimeSettings { auto_refresh_interval_secs: 0, ..Default::default() },
        ..Default::default()
    };
    let app = App::start(config).await.expect("keyflow starts on PostgreSQL");
    let http = reqwest::Client::new();

    let import = http
        .post(format!("{}/api/keys", app.url()))
        .basic_auth("admin", Some("admin"))
        .header("content-type", "text/plain")
        .body(KEY)
        .send()
        .await
        .expect("import");
    assert!(import.status().is_success(), "import: {}", import.status());
    let chat = http
        .post(format!("{}/v1/chat/completions", app.url()))
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .expect("chat");
    assert_eq!(chat.status(), 200);
    chat.bytes().await.expect("chat body");

    // Read past the app: the row is in PostgreSQL itself.
    let store = db.open().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let (rows, _) = store.query_logs(&LogFilter::default(), 0, 10).await.expect("query logs");
        if let Some(row) = rows.into_iter().find(|r| r.model.as_deref() == Some(MODEL)) {
            break row;
        }
        assert!(Instant::now() < deadline, "no log row in PostgreSQL within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((row.status, row.route.as_str()), (200, "/v1/chat/completions"));
    assert!(row.key_id.is_some() && row.prompt_tokens > 0 && row.completion_tokens > 0, "{row:?}");
    let keys = store.load_keys().await.expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].secret, KEY);
    let counted = db.raw_texts("SELECT route FROM request_logs").await;
    assert!(counted.iter().any(|route| route == "/v1/chat/completions"), "{counted:?}");
    app.shutdown().await;
}
