//! The admin JSON API: keys, settings, export, auth.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn api_requires_admin_credentials() {
    let t = spawn_app().await;
    let response = t.http.get(format!("{}/api/keys", t.url)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = t.http.get(format!("{}/api/keys", t.url)).basic_auth("admin", Some("wrong")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn import_reports_added_present_malformed_invalid() {
    let t = spawn_app().await;
    let good = test_key(1);
    let dead = test_key(2);
    t.mock.state().add_key(&good, 3.0, "acct-a");
    let text = format!("{good}\n{good}(3.00)\nsk-bad#key\n{dead}");
    let report = t.import(&text).await;
    assert_eq!(report["added"], 1, "{report}");
    assert_eq!(report["invalid"], 1, "{report}");
    assert_eq!(report["malformed"], 1, "{report}");
    let again = t.import(&good).await;
    assert_eq!(again["already_present"], 1);
    let list = t.admin_get("/api/keys").await;
    assert_eq!(list["total"], 2);
    let masked = list["items"][0]["key"].as_str().unwrap();
    assert!(masked.contains('…') && !masked.contains(&good[10..30]));
}

#[tokio::test]
async fn disable_delete_and_export() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    let response =
        t.admin(reqwest::Method::PATCH, "/api/keys/1").json(&json!({"enabled": false})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(t.key_row(1).await["state"], "disabled");
    for _ in 0..5 {
        let response = t.chat("deepseek-ai/DeepSeek-V3", false).await;
        assert_ne!(TestApp::key_id_of(&response), 1);
    }
    let response = t.admin(reqwest::Method::DELETE, "/api/keys/2").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = t
        .admin(reqwest::Method::GET, "/api/keys/export?sort=key&with_balance=true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(&keys[0]) && text.contains(&keys[2]) && !text.contains(&keys[1]), "{text}");
    assert!(text.contains("----"), "{text}");
}

#[tokio::test]
async fn settings_apply_live_and_persist() {
    let t = spawn_app().await;
    let response = t
        .admin(reqwest::Method::PUT, "/api/settings")
        .json(&json!({"key_strategy": "round_robin", "max_retries": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let settings = t.admin_get("/api/settings").await;
    assert_eq!(settings["key_strategy"], "round_robin");
    let bad =
        t.admin(reqwest::Method::PUT, "/api/settings").json(&json!({"key_strategy": "fastest"})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("round_robin"), "{body}");
}

#[tokio::test]
async fn keys_are_encrypted_at_rest_with_keyflow_secret() {
    let mut t =
        spawn_app_with(Default::default(), |c| c.secret = Some(keyflow::secret::Secret::new("at-rest-secret"))).await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    let response = t.chat("deepseek-ai/DeepSeek-V3", false).await;
    assert_eq!(response.status(), 200, "encrypted keys still serve");
    t.stop().await;
    let db = t.dir.path().join("keyflow.db");
    let mut raw = std::fs::read(&db).unwrap();
    for extra in ["keyflow.db-wal", "keyflow.db-shm"] {
        raw.extend(std::fs::read(t.dir.path().join(extra)).unwrap_or_default());
    }
    let raw = String::from_utf8_lossy(&raw);
    for key in &keys {
        assert!(!raw.contains(key.as_str()), "a key is stored in plain text");
    }
    let url = format!("sqlite://{}", db.display());
    let none = keyflow::store::open(&url).await.err().expect("encrypted keys need the secret");
    assert!(none.to_string().contains("KEYFLOW_SECRET"), "{none}");
    let wrong = keyflow::store::open_with(&url, Some(&keyflow::secret::Secret::new("wrong")))
        .await
        .err()
        .expect("wrong secret");
    assert!(wrong.to_string().contains("does not match"), "{wrong}");
    let right = keyflow::store::open_with(&url, Some(&keyflow::secret::Secret::new("at-rest-secret"))).await.unwrap();
    let stored: Vec<String> = right.load_keys().await.unwrap().into_iter().map(|r| r.secret).collect();
    assert_eq!(stored, keys);
}
