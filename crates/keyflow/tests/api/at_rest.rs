//! Secrets at rest with `KEYFLOW_SECRET` (SPEC §10): keys, the guest
//! password and the Lsky token are sealed in the database file, open again
//! after a restart, stay bound to their rows, and rows sealed by the old
//! format (`enc:v1:`) are resealed when the store opens.

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key};
use keyflow::secret::Secret;
use keyflow_mock::LSKY_TOKEN;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const SECRET: &str = "at-rest-secret";
const GUEST_PASSWORD: &str = "guest-pass-9f3c1e7a";
const IMAGE_MODEL: &str = "Tongyi-MAI/Z-Image-Turbo";

fn with_secret(secret: &str) -> impl FnOnce(&mut keyflow::config::Config) + '_ {
    move |c| c.secret = Some(Secret::new(secret))
}

fn db_url(t: &TestApp) -> String {
    format!("sqlite://{}", t.dir.path().join("keyflow.db").display())
}

/// Every byte SQLite keeps for the database: the file, its WAL and shared memory.
fn raw_database(t: &TestApp) -> String {
    let mut raw = Vec::new();
    for file in ["keyflow.db", "keyflow.db-wal", "keyflow.db-shm"] {
        raw.extend(std::fs::read(t.dir.path().join(file)).unwrap_or_default());
    }
    String::from_utf8_lossy(&raw).into_owned()
}

/// A second connection to the stopped app's database, for what the API cannot do.
async fn raw_pool(t: &TestApp) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&db_url(t)).await.unwrap()
}

/// A value sealed the old way: SHA-256 of the secret as key, no associated data.
fn seal_v1(secret: &str, plain: &str) -> String {
    let key = Sha256::digest(secret.as_bytes());
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
    let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
    let mut bytes = nonce.to_vec();
    bytes.extend(cipher.encrypt(&nonce, plain.as_bytes()).unwrap());
    format!("enc:v1:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
}

async fn guest_login(t: &TestApp, password: &str) -> u16 {
    let response =
        t.http.post(format!("{}/api/public/login", t.url)).json(&json!({"password": password})).send().await.unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn keys_and_secret_settings_are_sealed_and_open_after_a_restart() {
    let mut t = spawn_app_with(Default::default(), with_secret(SECRET)).await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    let mock_url = t.mock.url();
    let shown = t
        .put_settings(json!({
            "access_control": "restricted", "guest_password": GUEST_PASSWORD,
            "image": {"prompt_expansion": false, "use_lsky_pro": true, "lsky_url": mock_url, "lsky_token": LSKY_TOKEN},
        }))
        .await;
    assert_eq!(
        (shown["guest_password"].as_str(), shown["image"]["lsky_token"].as_str()),
        (Some("********"), Some("********"))
    );
    t.stop().await;

    let raw = raw_database(&t);
    for secret in keys.iter().map(String::as_str).chain([GUEST_PASSWORD, LSKY_TOKEN]) {
        assert!(!raw.contains(secret), "`{secret}` is stored in plain text");
    }
    assert!(raw.contains("enc:v2:") && !raw.contains("enc:v1:"), "values are sealed in the current format");
    assert!(raw.contains(&mock_url), "settings that are not secret stay readable");

    // The same secret opens everything again: keys serve, the guest
    // password logs in, the Lsky token uploads.
    t.restart_with(with_secret(SECRET)).await;
    assert_eq!(t.chat("deepseek-ai/DeepSeek-V3", false).await.status(), 200);
    assert_eq!(guest_login(&t, GUEST_PASSWORD).await, 200);
    let settings = t.admin_get("/api/settings").await;
    assert_eq!(settings["guest_password"], "********", "still masked in answers");
    let ask = json!({"model": IMAGE_MODEL, "messages": [{"role": "user", "content": "a cat"}]});
    let answer: Value = t.post_json("/v1/chat/completions", ask).await.json().await.unwrap();
    let content = answer["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains(&format!("]({mock_url}/lsky/i/")), "re-hosted with the opened token: {content}");
    assert_eq!(t.mock.state().hits_on(LSKY_TOKEN, "/api/v1/upload"), 1);
    t.stop().await;

    let store = keyflow::store::open_with(&db_url(&t), Some(&Secret::new(SECRET))).await.unwrap();
    let mut stored: Vec<String> = store.load_keys().await.unwrap().into_iter().map(|r| r.secret).collect();
    stored.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(stored, expected);
    let settings: Value = serde_json::from_str(&store.load_settings().await.unwrap().unwrap()).unwrap();
    assert_eq!(
        (settings["guest_password"].as_str(), settings["image"]["lsky_token"].as_str()),
        (Some(GUEST_PASSWORD), Some(LSKY_TOKEN))
    );
    drop(store);

    let wrong = keyflow::store::open_with(&db_url(&t), Some(&Secret::new("wrong"))).await.err().expect("wrong secret");
    assert!(wrong.to_string().contains("does not match"), "{wrong}");
    let none = keyflow::store::open(&db_url(&t)).await.err().expect("sealed values need the secret");
    assert!(none.to_string().contains("KEYFLOW_SECRET"), "{none}");
}

#[tokio::test]
async fn a_sealed_key_moved_to_another_row_does_not_open() {
    let mut t = spawn_app_with(Default::default(), with_secret(SECRET)).await;
    t.add_keys(0, 2, 10.0, "acct-a").await;
    t.stop().await;
    let pool = raw_pool(&t).await;
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, secret FROM keys ORDER BY id").fetch_all(&pool).await.unwrap();
    assert_eq!(rows.len(), 2);
    // Swap the two sealed values: each is intact, but in the other key's row.
    for ((id, _), (_, secret)) in rows.iter().zip(rows.iter().rev()) {
        sqlx::query("UPDATE keys SET secret = ? WHERE id = ?").bind(secret).bind(id).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let store = keyflow::store::open_with(&db_url(&t), Some(&Secret::new(SECRET))).await.unwrap();
    let error = store.load_keys().await.expect_err("a moved value must not open");
    assert!(error.to_string().contains("does not match"), "{error}");
}

#[tokio::test]
async fn v1_rows_open_and_are_resealed_as_v2() {
    // A database as the previous version left it: keys sealed as v1 and the
    // settings (with their secrets) in plain JSON.
    let mut t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    t.put_settings(json!({"access_control": "restricted", "guest_password": GUEST_PASSWORD})).await;
    t.stop().await;
    let pool = raw_pool(&t).await;
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, secret FROM keys").fetch_all(&pool).await.unwrap();
    for (id, plain) in &rows {
        sqlx::query("UPDATE keys SET secret = ? WHERE id = ?")
            .bind(seal_v1(SECRET, plain))
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    }
    // The previous version sealed keys from the start: no plain key text is
    // left over from this setup in free pages or the WAL.
    sqlx::query("VACUUM").execute(&pool).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await.unwrap();
    let before: Vec<String> = sqlx::query_scalar("SELECT secret FROM keys ORDER BY id").fetch_all(&pool).await.unwrap();
    assert!(before.iter().all(|s| s.starts_with("enc:v1:")));

    // A wrong secret is refused and changes nothing.
    let wrong = keyflow::store::open_with(&db_url(&t), Some(&Secret::new("wrong"))).await.err().expect("wrong secret");
    assert!(wrong.to_string().contains("does not match"), "{wrong}");
    let after_wrong: Vec<String> =
        sqlx::query_scalar("SELECT secret FROM keys ORDER BY id").fetch_all(&pool).await.unwrap();
    assert_eq!(after_wrong, before);
    let kdf: Option<String> =
        sqlx::query_scalar("SELECT value FROM settings WHERE name = 'cipher_kdf'").fetch_optional(&pool).await.unwrap();
    assert_eq!(kdf, None, "no salt is stored for a secret that failed");
    pool.close().await;

    t.restart_with(with_secret(SECRET)).await;
    assert_eq!(t.chat("deepseek-ai/DeepSeek-V3", false).await.status(), 200, "v1 keys serve");
    assert_eq!(guest_login(&t, GUEST_PASSWORD).await, 200, "the plain guest password was kept");
    t.stop().await;

    let pool = raw_pool(&t).await;
    let after: Vec<String> = sqlx::query_scalar("SELECT secret FROM keys ORDER BY id").fetch_all(&pool).await.unwrap();
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|s| s.starts_with("enc:v2:")), "resealed as v2: {after:?}");
    let kdf: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE name = 'cipher_kdf'").fetch_one(&pool).await.unwrap();
    let salt = kdf.split('$').nth(2).unwrap();
    assert!(base64::engine::general_purpose::STANDARD_NO_PAD.decode(salt).unwrap().len() >= 16, "{kdf}");
    pool.close().await;
    let raw = raw_database(&t);
    for secret in keys.iter().map(String::as_str).chain([GUEST_PASSWORD]) {
        assert!(!raw.contains(secret), "`{secret}` is stored in plain text");
    }
    let store = keyflow::store::open_with(&db_url(&t), Some(&Secret::new(SECRET))).await.unwrap();
    let mut stored: Vec<String> = store.load_keys().await.unwrap().into_iter().map(|r| r.secret).collect();
    stored.sort();
    let mut expected = keys;
    expected.sort();
    assert_eq!(stored, expected);
}
