//! `keyflow db copy` end to end, with the real binary: a deployment built
//! through a real gateway on SQLite moves to PostgreSQL (a fresh database
//! on `KEYFLOW_TEST_POSTGRES_URL`, or on a throwaway cluster this binary
//! starts, as the store contract does), a second run adds nothing, and a
//! gateway on the new database serves the same keys, token, login, pins,
//! logs and settings. Sealed deployments cross over under the target's own
//! salt and come back to SQLite the same way.

// Test code states its expectations with unwrap/expect/panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::field_reassign_with_default)]

#[allow(dead_code)]
mod common;
// The store contract's fresh-database helper (PostgreSQL found or started).
#[allow(dead_code)]
#[path = "store_contract/db.rs"]
mod db;
#[path = "db_copy/support.rs"]
mod support;

use std::time::Instant;

use keyflow::store::{LogFilter, LogRow, Store};
use keyflow::App;
use serde_json::{json, Value};

use db::Backend;
use support::*;

const SECRET: &str = "db-copy-secret-0123456789";

/// The copy's output names no key, token or password, and no database password.
fn assert_nothing_secret(d: &Deployment, run: &Run) {
    let text = format!("{}{}", run.stdout, run.stderr);
    for secret in d.keys.iter().map(String::as_str).chain([d.token.as_str(), NEW_PASSWORD, GUEST_PASSWORD]) {
        assert!(!text.contains(secret), "the output shows a secret");
    }
    assert!(!text.contains("keyflow:keyflow@"), "the output shows the database password: {text}");
}

/// The store's key derivation record (its salt).
async fn salt(store: &dyn Store) -> String {
    store.load_value("cipher_kdf").await.unwrap().expect("a sealed store has a salt record")
}

async fn n_logs(store: &dyn Store) -> u64 {
    store.query_logs(&LogFilter::default(), 0, 1).await.unwrap().1
}

#[tokio::test]
async fn a_sqlite_deployment_moves_to_postgres_and_keeps_serving() {
    let started = Instant::now();
    let d = build_deployment(None).await;
    db::run(Backend::Postgres, |pg| async move {
        let first = run_copy(d.dir.path(), &d.url, &pg.url, None).await;
        assert!(first.ok);
        assert_nothing_secret(&d, &first);
        assert!(first.stdout.contains("keys            3 added, 0 updated"), "{}", first.stdout);
        let (source, target) = (open(&d.url, None).await, open(&pg.url, None).await);
        let n_rows = assert_same_content(source.as_ref(), target.as_ref()).await as u64;
        assert!(n_rows >= 4, "three chats and an upload are logged, found {n_rows}");

        let second = run_copy(d.dir.path(), &d.url, &pg.url, None).await;
        assert!(second.ok && second.stdout.contains("nothing new"), "{}", second.stdout);
        assert!(second.stdout.contains("0 added (through source row"), "{}", second.stdout);
        assert_eq!(n_logs(target.as_ref()).await, n_rows, "no log row twice");
        assert_same_content(source.as_ref(), target.as_ref()).await;

        let app = App::start(config_for(&d, &pg.url)).await.unwrap();
        let (base, http) = (app.url(), reqwest::Client::new());
        let as_admin = |password: &'static str| {
            let http = http.clone();
            let url = format!("{base}/api/keys?size=100");
            async move { http.get(url).basic_auth("admin", Some(password)).send().await.unwrap() }
        };
        assert_eq!(as_admin("admin").await.status(), 401, "the changed password wins over the configured one");
        let keys: Value = as_admin(NEW_PASSWORD).await.json().await.unwrap();
        let mut listed: Vec<(String, bool)> = keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (k["key"].as_str().unwrap().to_string(), k["enabled"].as_bool().unwrap()))
            .collect();
        listed.sort();
        let mut want: Vec<(String, bool)> =
            d.keys.iter().enumerate().map(|(i, k)| (keyflow::secret::mask(k), i != 1)).collect();
        want.sort();
        assert_eq!(listed, want, "the same keys, the second one still disabled");
        let logs: Value = http
            .get(format!("{base}/api/logs?size=5"))
            .basic_auth("admin", Some(NEW_PASSWORD))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(logs["total"], n_rows, "{logs}");
        let guest = http.post(format!("{base}/api/public/login")).json(&json!({"password": GUEST_PASSWORD}));
        assert_eq!(guest.send().await.unwrap().status(), 200, "the guest password came along");
        let listed: Value =
            http.get(format!("{base}/v1/files")).bearer_auth(&d.token).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed["data"]["data"][0]["id"], d.file_id.as_str(), "the token still owns its file: {listed}");
        let batch = json!({"input_file_id": d.file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
        let batch = http.post(format!("{base}/v1/batches")).bearer_auth(&d.token).json(&batch).send().await.unwrap();
        assert_eq!(batch.status(), 200, "the pin sends the file id to the key that holds it");
        assert_eq!(chat(&http, &base, &d.token).await, 200, "the console token works on /v1");
        app.shutdown().await;
    })
    .await;
    eprintln!("moved to PostgreSQL and served in {:?}", started.elapsed());
}

#[tokio::test]
async fn sealed_keys_cross_over_under_the_targets_own_salt() {
    let started = Instant::now();
    let d = build_deployment(Some(SECRET)).await;
    db::run(Backend::Postgres, |pg| async move {
        let refused = run_copy(d.dir.path(), &d.url, &pg.url, None).await;
        assert!(!refused.ok && refused.stderr.contains("KEYFLOW_SECRET"), "{}", refused.stderr);
        let copied = run_copy(d.dir.path(), &d.url, &pg.url, Some(SECRET)).await;
        assert!(copied.ok);
        assert_nothing_secret(&d, &copied);

        let stored = pg.raw_texts("SELECT secret FROM keys").await;
        assert_eq!(stored.len(), 3);
        assert!(stored.iter().all(|s| s.starts_with("enc:v2:")), "keys are sealed in the target");
        let runtime = pg.raw_texts("SELECT value FROM settings WHERE name = 'runtime'").await.join("");
        assert!(runtime.contains("enc:v2:") && !runtime.contains(GUEST_PASSWORD), "the guest password is sealed");
        let (source, target) = (open(&d.url, Some(SECRET)).await, open(&pg.url, Some(SECRET)).await);
        assert_ne!(salt(source.as_ref()).await, salt(target.as_ref()).await, "the target has a salt of its own");
        assert_same_content(source.as_ref(), target.as_ref()).await;

        // And back from PostgreSQL into a new SQLite file, sealed again.
        let back = format!("sqlite://{}", d.dir.path().join("back.db").display());
        assert!(run_copy(d.dir.path(), &pg.url, &back, Some(SECRET)).await.ok);
        let returned = open(&back, Some(SECRET)).await;
        assert_ne!(salt(returned.as_ref()).await, salt(target.as_ref()).await);
        assert_same_content(target.as_ref(), returned.as_ref()).await;

        let app = App::start(config_for(&d, &pg.url)).await.unwrap();
        let (base, http) = (app.url(), reqwest::Client::new());
        assert_eq!(chat(&http, &base, &d.token).await, 200, "sealed keys open in the target and serve");
        let guest = http.post(format!("{base}/api/public/login")).json(&json!({"password": GUEST_PASSWORD}));
        assert_eq!(guest.send().await.unwrap().status(), 200);
        app.shutdown().await;
    })
    .await;
    eprintln!("sealed round trip in {:?}", started.elapsed());
}

/// A log row on key `key_id` at `ts_ms`.
fn row(ts_ms: i64, key_id: Option<i64>) -> LogRow {
    LogRow { ts_ms, route: "/v1/chat/completions".into(), key_id, status: 200, cost: 0.01, ..LogRow::default() }
}

#[tokio::test]
async fn logs_copy_in_batches_once_and_then_only_what_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let (from, to) = (dir.path().join("from.db"), dir.path().join("to.db"));
    let (from, to) = (format!("sqlite://{}", from.display()), format!("sqlite://{}", to.display()));
    let source = open(&from, None).await;
    let key = common::test_key(7);
    let new_key = keyflow::store::NewKey {
        secret: key.clone(),
        state: keyflow::store::KeyState::Active,
        balance_hint: Some(3.0),
        created_at: 1,
    };
    let key_id = source.insert_keys(&[new_key]).await.unwrap()[0].0;
    // More rows than one batch; every third names a key the source deleted.
    let rows: Vec<LogRow> = (0..12_001).map(|i| row(i, Some(if i % 3 == 0 { 999 } else { key_id }))).collect();
    source.insert_logs(&rows).await.unwrap();

    let first = run_copy(dir.path(), &from, &to, None).await;
    assert!(first.ok && first.stdout.contains("12001 added (through source row 12001)"), "{}", first.stdout);
    assert!(first.stdout.contains("4001 log rows name a key the source no longer holds"), "{}", first.stdout);
    assert!(!first.stdout.contains(&key));
    let target = open(&to, None).await;
    let copied = target.query_logs(&LogFilter::default(), 0, 20_000).await.unwrap().0;
    let target_key = target.load_keys().await.unwrap()[0].id;
    assert_eq!(copied.iter().filter(|r| r.key_id == Some(target_key)).count(), 8000);
    assert_eq!(copied.iter().filter(|r| r.key_id.is_none()).count(), 4001);

    assert!(run_copy(dir.path(), &from, &to, None).await.stdout.contains("nothing new"));
    source.insert_logs(&[row(20_000, Some(key_id)), row(20_001, None)]).await.unwrap();
    let third = run_copy(dir.path(), &from, &to, None).await;
    assert!(third.stdout.contains("2 added (through source row 12003)"), "{}", third.stdout);
    assert_eq!(n_logs(target.as_ref()).await, 12_003);

    // With KEYFLOW_SECRET, a plain source is read as it is (not sealed in
    // place) and the target is sealed.
    let sealed = format!("sqlite://{}", dir.path().join("sealed.db").display());
    assert!(run_copy(dir.path(), &from, &sealed, Some(SECRET)).await.ok);
    let raw_key = |url: String| async move {
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
        sqlx::query_scalar::<_, String>("SELECT secret FROM keys").fetch_one(&mut conn).await.unwrap()
    };
    assert_eq!(raw_key(from.clone()).await, key, "the source is left as it was");
    assert!(raw_key(sealed.clone()).await.starts_with("enc:v2:"));
    assert_eq!(open(&sealed, Some(SECRET)).await.load_keys().await.unwrap()[0].secret, key);
}

#[tokio::test]
async fn the_same_database_and_a_missing_source_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keyflow.db").display());
    open(&url, None).await;
    let respelled = format!("sqlite:{}/./keyflow.db", dir.path().display());
    let same = run_copy(dir.path(), &url, &respelled, None).await;
    assert!(!same.ok && same.stderr.contains("name the same database"), "{}", same.stderr);
    let missing = dir.path().join("nothing-here.db");
    let gone = run_copy(dir.path(), &format!("sqlite://{}", missing.display()), &url, None).await;
    assert!(!gone.ok && gone.stderr.contains("does not exist"), "{}", gone.stderr);
    assert!(!missing.exists(), "a missing source is not created");
}
