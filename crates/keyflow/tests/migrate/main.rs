//! `keyflow migrate` end to end, once per tool: the old tool's files are
//! built with its exact schema, the real binary migrates them twice (the
//! second run adds nothing), then keyflow serves from that database against
//! the fake upstream: the old client token gets answers from migrated keys,
//! a disabled or dead key is never used, the old admin password logs in,
//! and the old request log shows in `/api/logs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use keyflow_mock::{MockConfig, MockServer};
use serde_json::json;
use support::{contains_all, key, python_schema, sqlite_file, unix_now, Gateway};

const PAID: &str = "deepseek-ai/DeepSeek-V3";
const FREE: &str = "Qwen/Qwen2.5-7B-Instruct";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silicon_pool_moves_in_whole() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // The disabled key has the most balance: balance_desc would pick it first.
    let keys = [key('a', 1), key('a', 2), key('a', 3), key('a', 4)];
    let balances = [10.0, 5.0, 50.0, 0.0];
    for (k, b) in keys.iter().zip(balances) {
        mock.state().add_key(k, b, "acct");
    }
    let gone = key('z', 9);
    let old = tempfile::tempdir().unwrap();
    let t = unix_now() - 3600.0;
    let db = old.path().join("pool.db");
    let mut sql = python_schema("api_endpoint TEXT,");
    sql += &format!(
        "INSERT INTO api_keys VALUES ('{}', {t}, 10, 7, 1), ('{}', {t}, 5, 0, 1), ('{}', {t}, 50, 2, 0), \
         ('{}', {t}, 0, 0, 1);
         INSERT INTO logs (used_key, model, api_endpoint, call_time, input_tokens, output_tokens, total_tokens) VALUES
           ('{}', 'old/model', 'chat_completions', {t}, 10, 20, 30),
           ('{}', 'old/model', 'embeddings', {t}, 5, 0, 5),
           ('{gone}', 'old/model', 'chat_completions', {t}, 1, 1, 2);",
        keys[0], keys[1], keys[2], keys[3], keys[0], keys[1]
    );
    sqlite_file(&db, &sql).await;
    let config = json!({
        "call_strategy": "high", "custom_api_key": "sp-client-token-0123456789",
        "free_model_api_key": "sp-free-token-0123456789", "admin_username": "root",
        "admin_password": "sp-old-admin-pass", "refresh_interval": 30, "rpm_limit": 60, "tpm_limit": 1000
    });
    std::fs::write(old.path().join("config.json"), config.to_string()).unwrap();
    let mut secrets = vec![gone.clone()];
    secrets.extend(keys.iter().cloned());
    secrets.extend(["sp-client-token-0123456789", "sp-free-token-0123456789", "sp-old-admin-pass"].map(String::from));

    let gateway = Gateway::new(&mock);
    let first = gateway.migrate("silicon-pool", old.path(), &secrets);
    contains_all(
        &first,
        &[
            "keys: 4 read: 4 added, 0 already present",
            "3 enabled, 1 disabled (kept disabled); 1 at zero balance",
            "balances 65.00 in total",
            "sk-aaaa…0003  added",
            "silicon-pool  sp-clie…6789  all models, added",
            "silicon-pool-free  sp-free…6789  free models only, added",
            "key_strategy = balance_desc  already set (from call_strategy \"high\")",
            "auto_refresh_interval_secs = 1800 s  set (from refresh_interval 30 minutes)",
            "key_rpm_limit = 60 requests per minute per key  set",
            "user name `root` stored",
            "password stored as a PBKDF2 hash",
            "3 rows added, 0 taken by an earlier run",
            "1 of them name a key keyflow does not hold",
            "tpm_limit 1000: keyflow has no per-key tokens-per-minute cap",
            "console sessions",
        ],
    );
    let second = gateway.migrate("silicon-pool", old.path(), &secrets);
    contains_all(
        &second,
        &[
            "keys: 4 read: 0 added, 4 already present",
            "silicon-pool  sp-clie…6789  already present",
            "auto_refresh_interval_secs = 1800 s  already set",
            "user name `root` unchanged",
            "password unchanged",
            "0 rows added, 3 taken by an earlier run",
        ],
    );
    // Rows the tool logged since are taken by the next run, and only they.
    let more = format!(
        "INSERT INTO logs (used_key, model, api_endpoint, call_time, input_tokens, output_tokens, total_tokens) \
         VALUES ('{}', 'old/model', NULL, {t}, 1, 1, 2), ('{}', 'old/model', 'chat_completions', {t}, 1, 1, 2);",
        keys[0], keys[3]
    );
    sqlite_file(&db, &more).await;
    // As if a run had stopped after storing rows 1..=3 but before marking them done.
    let mark = format!("migrate:silicon-pool:{}:last_log_id", db.canonicalize().unwrap().display());
    gateway.save_value(&mark, "0..3").await;
    let third = gateway.migrate("silicon-pool", old.path(), &secrets);
    contains_all(&third, &["2 rows added, 3 taken by an earlier run"]);

    let served = gateway.serve().await;
    for _ in 0..6 {
        assert_eq!(served.chat(Some("sp-client-token-0123456789"), PAID).await, 200);
    }
    let chats = |k: &str| mock.state().hits_on(k, "/v1/chat/completions");
    assert_eq!(chats(&keys[2]), 0, "the disabled key was used");
    assert_eq!(chats(&keys[0]) + chats(&keys[1]), 6, "paid requests go to the funded migrated keys");
    assert_eq!(served.chat(None, PAID).await, 401, "the old tool required its token; so does keyflow");
    assert_eq!(served.chat(Some("sp-free-token-0123456789"), FREE).await, 200);
    assert_ne!(served.chat(Some("sp-free-token-0123456789"), PAID).await, 200, "the free token stays free-only");
    assert_eq!(chats(&keys[2]), 0);

    assert_eq!(served.admin("admin", "admin", "/api/keys").await.0, 401, "the old login replaced admin/admin");
    let (status, settings) = served.admin("root", "sp-old-admin-pass", "/api/settings").await;
    assert_eq!(status, 200);
    assert_eq!(settings["key_strategy"], "balance_desc");
    assert_eq!(settings["auto_refresh_interval_secs"], 1800);
    assert_eq!(settings["key_rpm_limit"], 60);
    let first_id = served.key_id("root", "sp-old-admin-pass", &keys[0]).await;
    let (_, logs) = served.admin("root", "sp-old-admin-pass", "/api/logs?model=old/model&size=50").await;
    assert_eq!(logs["total"], 5, "{logs}");
    let rows = logs["items"].as_array().unwrap();
    let embeddings = rows.iter().find(|r| r["route"] == "/v1/embeddings").expect("the embeddings row");
    assert_eq!((embeddings["prompt_tokens"].as_u64(), embeddings["total_tokens"].as_u64()), (Some(5), Some(5)));
    let chat = rows.iter().find(|r| r["prompt_tokens"] == 10).expect("the first chat row");
    assert_eq!((chat["route"].as_str(), chat["key_id"].as_i64()), (Some("/v1/chat/completions"), Some(first_id)));
    assert_eq!(chat["ts_ms"].as_i64(), Some((t * 1000.0).round() as i64));
    assert_eq!(rows.iter().filter(|r| r["key_id"].is_null()).count(), 1, "the deleted key's row has no key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fastapi_proxy_moves_in() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let keys = [key('b', 1), key('b', 2), key('b', 3)];
    for (k, b) in keys.iter().zip([8.0, 30.0, 0.0]) {
        mock.state().add_key(k, b, "acct");
    }
    let old = tempfile::tempdir().unwrap();
    let t = unix_now() - 60.0;
    let mut sql = python_schema("");
    sql += &format!(
        "INSERT INTO api_keys VALUES ('{}', {t}, 8, 1, 1), ('{}', {t}, 30, 0, 0), ('{}', {t}, 0, 0, 1);
         INSERT INTO logs (used_key, model, call_time, input_tokens, output_tokens, total_tokens) VALUES
           ('{}', 'old/py-model', {t}, 3, 4, 7), ('{}', 'old/py-model', {t}, 1, 2, 3);",
        keys[0], keys[1], keys[2], keys[0], keys[0]
    );
    sqlite_file(&old.path().join("data").join("pool.db"), &sql).await;
    std::fs::write(
        old.path().join("config.py"),
        "API_KEY = \"py-client-token-0123456789\"  # clients send this\nADMIN_USERNAME = \"admin\"\n\
         ADMIN_PASSWORD = \"py-old-admin-pass\"\nAUTO_REFRESH_INTERVAL = 600\nDB_PATH = \"data/pool.db\"\n",
    )
    .unwrap();
    let mut secrets = keys.to_vec();
    secrets.extend(["py-client-token-0123456789", "py-old-admin-pass"].map(String::from));

    let gateway = Gateway::new(&mock);
    let first = gateway.migrate("siliconflow-python", old.path(), &secrets);
    contains_all(
        &first,
        &[
            "keys: 3 read: 3 added",
            "2 enabled, 1 disabled (kept disabled); 1 at zero balance",
            "siliconflow-python  py-clie…6789  all models, added (from API_KEY in config.py)",
            "auto_refresh_interval_secs = 600 s  set",
            "password stored",
            "2 rows added, 0 taken",
        ],
    );
    let second = gateway.migrate("siliconflow-python", old.path(), &secrets);
    contains_all(&second, &["3 read: 0 added, 3 already present", "already present", "0 rows added, 2 taken"]);

    let served = gateway.serve().await;
    for _ in 0..4 {
        assert_eq!(served.chat(Some("py-client-token-0123456789"), PAID).await, 200);
    }
    let chats = |k: &str| mock.state().hits_on(k, "/v1/chat/completions");
    assert_eq!(chats(&keys[1]), 0, "the disabled key was used");
    assert_eq!(chats(&keys[0]), 4);
    assert_eq!(served.admin("admin", "admin", "/api/keys").await.0, 401);
    let (status, logs) = served.admin("admin", "py-old-admin-pass", "/api/logs?model=old/py-model").await;
    assert_eq!(status, 200);
    assert_eq!(logs["total"], 2, "{logs}");
    let id = served.key_id("admin", "py-old-admin-pass", &keys[0]).await;
    for row in logs["items"].as_array().unwrap() {
        assert_eq!((row["route"].as_str(), row["key_id"].as_i64()), (Some("/v1/chat/completions"), Some(id)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_tool_moves_in_and_its_keys_are_validated() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let (funded, empty, dead) = (key('c', 1), key('c', 2), key('c', 3));
    mock.state().add_key(&funded, 20.0, "acct-1");
    mock.state().add_key(&empty, 0.0, "acct-2");
    // `dead` is unknown upstream: a 401 on validation.
    let old = tempfile::tempdir().unwrap();
    let sql = format!(
        "CREATE TABLE config (name TEXT PRIMARY KEY, value TEXT);
         CREATE TABLE keys (key TEXT PRIMARY KEY, balance REAL DEFAULT 0, created_at DATETIME, last_updated DATETIME);
         INSERT INTO config VALUES ('admin_username', 'admin'), ('admin_password', 'node-table-pass'),
           ('auth_api_key', 'your-api-key'), ('page_size', '12'), ('access_control', 'open'),
           ('guest_password', 'guest_password');
         INSERT INTO keys (key, created_at, last_updated) VALUES
           ('{funded}', '2024-05-01T12:00:00.000Z', '2024-05-01T12:00:00.000Z'),
           ('{empty}', '2024-05-02T12:00:00.000Z', '2024-05-02T12:00:00.000Z'),
           ('{dead}', '2024-05-03T12:00:00.000Z', NULL);"
    );
    sqlite_file(&old.path().join("database.sqlite"), &sql).await;
    // The tool rewrote its table from these at every start: they win.
    std::fs::write(
        old.path().join(".env"),
        "PORT=3000\nADMIN_PASSWORD=node-env-pass\nAUTH_API_KEY=node-client-token-0123456789\n\
         ACCESS_CONTROL=restricted\nGUEST_PASSWORD=node-guest-pass\n",
    )
    .unwrap();
    let mut secrets = vec![funded.clone(), empty.clone(), dead.clone()];
    secrets.extend(
        ["node-table-pass", "node-env-pass", "node-client-token-0123456789", "node-guest-pass"].map(String::from),
    );

    let gateway = Gateway::new(&mock);
    let first = gateway.migrate("siliconflow-api-management", old.path(), &secrets);
    contains_all(
        &first,
        &[
            "keys: 3 read: 3 added",
            "balances 0.00 in total, 3 unknown",
            "validated upstream (the tool never stored balances): 3 checked, 2 valid, 1 invalid",
            "siliconflow-api-management  node-cl…6789  all models, added (from AUTH_API_KEY / auth_api_key)",
            "page_size = 12  set",
            "guest_password = (hidden)  set",
            "access_control = restricted  set",
            "PORT 3000",
            "request logs: that tool kept none",
        ],
    );
    let second = gateway.migrate("siliconflow-api-management", old.path(), &secrets);
    contains_all(&second, &["3 read: 0 added, 3 already present", "access_control = restricted  already set"]);
    assert!(!second.contains("validated upstream"), "nothing new to validate:\n{second}");

    let served = gateway.serve().await;
    for _ in 0..4 {
        assert_eq!(served.chat(Some("node-client-token-0123456789"), PAID).await, 200);
    }
    assert_eq!(mock.state().hits_on(&funded, "/v1/chat/completions"), 4);
    assert_eq!(mock.state().hits_on(&dead, "/v1/chat/completions"), 0, "the dead key was used");
    assert_eq!(served.admin("admin", "node-table-pass", "/api/keys").await.0, 401, ".env wins over the table");
    let (status, keys) = served.admin("admin", "node-env-pass", "/api/keys?sort=id").await;
    assert_eq!(status, 200);
    let states: Vec<&str> = keys["items"].as_array().unwrap().iter().map(|k| k["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["active", "free", "invalid"]);
    assert_eq!(keys["items"][0]["created_at"].as_i64(), Some(1_714_564_800), "created_at kept");
    let (_, settings) = served.admin("admin", "node-env-pass", "/api/settings").await;
    assert_eq!((settings["access_control"].as_str(), settings["page_size"].as_u64()), (Some("restricted"), Some(12)));
}
