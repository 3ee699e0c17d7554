//! Shared state reaches every instance within a second (SPEC §8): keys and
//! the states learned from traffic, settings, client tokens, console
//! sessions and password changes, the failed-login limiter, and 429
//! cool-downs. Each change is made through instance a; the time from its
//! answer until b (and c) show it is measured by polling every 20 ms.

use std::time::Instant;

use keyflow_mock::{Fault, RateMetric};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::*;

impl Cluster {
    /// Whether every instance but the first shows key `id` as `want` says.
    async fn others_see_key(&self, id: i64, want: impl Fn(Option<&Value>) -> bool) -> bool {
        for i in 1..self.nodes.len() {
            let Some(rows) = self.try_key_rows(i).await else { return false };
            if !want(rows.iter().find(|row| row["id"] == id)) {
                return false;
            }
        }
        true
    }

    /// `PATCH /api/keys/{id}` on instance `i`.
    async fn set_enabled(&self, i: usize, id: i64, enabled: bool) {
        let response = self
            .admin(i, Method::PATCH, &format!("/api/keys/{id}"))
            .json(&json!({"enabled": enabled}))
            .send()
            .await
            .expect("patch call");
        assert_eq!(response.status(), 200, "PATCH /api/keys/{id} on {}", self.name(i));
    }

    /// `n` paid chats through instance `i`; each must succeed. The key ids that served.
    async fn served_by(&self, i: usize, model: &str, n: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let response = self.chat(i, model).await;
            let status = response.status();
            let id = key_id_of(&response);
            let text = response.text().await.unwrap_or_default();
            assert_eq!(status, 200, "chat through {}: {text}", self.name(i));
            ids.push(id);
        }
        ids
    }
}

fn state_is(row: Option<&Value>, state: &str) -> bool {
    row.is_some_and(|row| row["state"] == state)
}

/// What every instance and the database hold for key `id`.
async fn key_everywhere(c: &Cluster, id: i64) -> String {
    let mut text = String::new();
    for i in 0..c.nodes.len() {
        let row = c.key_row(i, id).await.unwrap_or_default();
        let fields = ["state", "last_error", "checked_at", "balance"].map(|f| format!("{f}={}", row[f]));
        text.push_str(&format!("\n  {} lists: {}", c.name(i), fields.join(" ")));
    }
    let sql = format!(
        "SELECT state || ' last_error=' || COALESCE(last_error, 'null') || ' checked_at=' || \
         COALESCE(CAST(checked_at AS TEXT), 'null') FROM keys WHERE id = {id}"
    );
    text.push_str(&format!("\n  the database holds: {:?}", c.db.texts(&sql).await));
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_imported_disabled_enabled_and_deleted_reach_every_instance() {
    let c = &Cluster::start(3).await;
    let seed = c.add_keys(&[(test_key(1_000), 5.0, "acct-seed")]).await[0];

    // Import through a: the new key has the highest balance, so b and c choose it.
    let key = test_key(1_001);
    c.upstream.add_key(&key, 50.0, "acct-new");
    let report = c.import(0, std::slice::from_ref(&key)).await;
    let since = Instant::now();
    assert_eq!(report["added"], 1, "{report}");
    let id = report["details"][0]["id"].as_i64().expect("id");
    propagation("key imported", since, || async move { c.others_see_key(id, |row| row.is_some()).await }).await;
    assert_eq!(c.served_by(1, PAID, 2).await, [id, id], "b uses the key imported through a");
    assert_eq!(c.served_by(2, PAID, 2).await, [id, id], "c uses the key imported through a");

    c.set_enabled(0, id, false).await;
    let since = Instant::now();
    propagation("key disabled", since, || async move {
        c.others_see_key(id, |row| row.is_some_and(|r| r["enabled"] == false && r["state"] == "disabled")).await
    })
    .await;
    let hits = c.upstream.hits_on(&key, "/v1/chat/completions");
    assert_eq!(c.served_by(1, PAID, 3).await, [seed; 3], "b used a key disabled through a");
    assert_eq!(c.served_by(2, PAID, 3).await, [seed; 3], "c used a key disabled through a");
    assert_eq!(c.upstream.hits_on(&key, "/v1/chat/completions"), hits);

    c.set_enabled(0, id, true).await;
    let since = Instant::now();
    propagation("key enabled", since, || async move {
        c.others_see_key(id, |row| row.is_some_and(|r| r["enabled"] == true && r["state"] == "active")).await
    })
    .await;
    assert_eq!(c.served_by(1, PAID, 1).await, [id], "b uses the key enabled again through a");

    let response = c.admin(0, Method::DELETE, &format!("/api/keys/{id}")).send().await.expect("delete call");
    let since = Instant::now();
    assert_eq!(response.status(), 200, "DELETE /api/keys/{id}");
    propagation("key deleted", since, || async move { c.others_see_key(id, |row| row.is_none()).await }).await;
    let hits = c.upstream.hits_on(&key, "/v1/chat/completions");
    assert_eq!(c.served_by(1, PAID, 3).await, [seed; 3], "b used a key deleted through a");
    assert_eq!(c.served_by(2, PAID, 3).await, [seed; 3], "c used a key deleted through a");
    assert_eq!(c.upstream.hits_on(&key, "/v1/chat/completions"), hits);
}

/// Keys `bad` (richest), `empty` and `good` (poorest) on their own accounts.
async fn three_keys(c: &Cluster, first: usize) -> ([String; 3], [i64; 3]) {
    let keys = [test_key(first), test_key(first + 1), test_key(first + 2)];
    let ids = c
        .add_keys(&[
            (keys[0].clone(), 40.0, "acct-bad"),
            (keys[1].clone(), 30.0, "acct-empty"),
            (keys[2].clone(), 10.0, "acct-good"),
        ])
        .await;
    (keys, [ids[0], ids[1], ids[2]])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_found_invalid_through_one_instance_is_invalid_on_every_instance() {
    let c = &Cluster::start(2).await;
    let ([bad, _, _], [bad_id, _, _]) = three_keys(c, 2_000).await;

    // Upstream revokes the key with the highest balance: a learns it from a 401.
    c.upstream.set_fault(&bad, Fault::Unauthorized);
    let served = c.served_by(0, PAID, 1).await;
    let since = Instant::now();
    assert_ne!(served, [bad_id]);
    assert_eq!(c.upstream.hits_on(&bad, "/v1/chat/completions"), 1, "a did not try the richest key first");
    assert!(state_is(c.key_row(0, bad_id).await.as_ref(), "invalid"), "a did not mark the key invalid");
    propagation_explained(
        "key state invalid (401 seen through a)",
        since,
        || async move { c.others_see_key(bad_id, |row| state_is(row, "invalid")).await },
        || key_everywhere(c, bad_id),
    )
    .await;

    // b sends nothing to it, without trying it first.
    let served = c.served_by(1, PAID, 5).await;
    assert!(!served.contains(&bad_id), "b used the key a found revoked: {served:?}");
    assert_eq!(c.upstream.hits_on(&bad, "/v1/chat/completions"), 1, "b tried the key a found revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_found_empty_through_one_instance_is_free_on_every_instance() {
    let c = &Cluster::start(2).await;
    let ([_, empty, _], [_, empty_id, good_id]) = three_keys(c, 2_100).await;
    // The richest key is gone upstream and disabled here, so the empty one is tried first.
    let rows = c.key_rows(0).await;
    let richest = rows.iter().map(|row| row["id"].as_i64().unwrap()).find(|id| *id != empty_id && *id != good_id);
    c.set_enabled(0, richest.expect("the richest key"), false).await;
    eventually("the richest key disabled on b", std::time::Duration::from_secs(20), || async move {
        c.others_see_key(richest.unwrap(), |row| state_is(row, "disabled")).await.then_some(())
    })
    .await;

    // The key runs dry: a learns it from a 402 with code 30001.
    c.upstream.set_balance(&empty, 0.0);
    c.upstream.set_fault(&empty, Fault::NoBalance402);
    let served = c.served_by(0, PAID, 1).await;
    let since = Instant::now();
    assert_eq!(served, [good_id]);
    assert_eq!(c.upstream.hits_on(&empty, "/v1/chat/completions"), 1, "a did not try the richer key first");
    assert!(state_is(c.key_row(0, empty_id).await.as_ref(), "free"), "a did not mark the key free");
    propagation_explained(
        "key state free (30001 seen through a)",
        since,
        || async move { c.others_see_key(empty_id, |row| state_is(row, "free")).await },
        || key_everywhere(c, empty_id),
    )
    .await;

    // b sends paid requests elsewhere, without trying it first.
    assert_eq!(c.served_by(1, PAID, 5).await, [good_id; 5]);
    assert_eq!(c.upstream.hits_on(&empty, "/v1/chat/completions"), 1, "b tried the key a found empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_reach_every_instance() {
    let c = &Cluster::start(2).await;
    let key = test_key(3_000);
    c.add_keys(&[(key.clone(), 20.0, "acct-settings")]).await;
    let before = c.get(1, "/api/settings").await;
    assert_ne!(before["max_retries"], 7, "{before}");

    let response = c
        .admin(0, Method::PUT, "/api/settings")
        .json(&json!({"max_retries": 7, "ban_models": [PAID_OTHER]}))
        .send()
        .await
        .expect("settings call");
    let since = Instant::now();
    assert_eq!(response.status(), 200, "PUT /api/settings");
    propagation("settings saved", since, || async move {
        let Some(settings) = c.try_get(1, "/api/settings").await else { return false };
        settings["max_retries"] == 7 && settings["ban_models"] == json!([PAID_OTHER])
    })
    .await;

    // b acts on them: the banned model never reaches upstream.
    let hits = c.upstream.hits_on(&key, "/v1/chat/completions");
    let response = c.chat(1, PAID_OTHER).await;
    let status = response.status();
    let body: Value = response.json().await.expect("error body");
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "model_banned", "{body}");
    assert_eq!(c.upstream.hits_on(&key, "/v1/chat/completions"), hits);
    let models = c.get(1, "/v1/models").await;
    let listed = models["data"].as_array().expect("models").iter().any(|m| m["id"] == PAID_OTHER);
    assert!(!listed, "b still lists the model banned through a");
}

/// `GET /v1/models` on instance `i` with `token`: its status.
async fn models_status(c: &Cluster, i: usize, token: &str) -> Option<StatusCode> {
    let response = c.http.get(format!("{}/v1/models", c.url(i))).bearer_auth(token).send().await.ok()?;
    Some(response.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_tokens_reach_every_instance() {
    // A token in the environment: the gateway is closed from the start.
    let c = &Cluster::start_with(2, &[("API_KEY", "cluster-env-token-0123456789")]).await;
    c.add_keys(&[(test_key(4_000), 20.0, "acct-tokens")]).await;
    assert_eq!(models_status(c, 1, "kf-nobody").await, Some(StatusCode::UNAUTHORIZED), "the gateway is closed");

    let response =
        c.admin(0, Method::POST, "/api/tokens").json(&json!({"name": "cluster-client"})).send().await.expect("create");
    let since = Instant::now();
    let status = response.status();
    let created: Value = response.json().await.expect("token json");
    assert_eq!(status, 200, "{created}");
    let token = created["token"].as_str().expect("the value, shown once").to_string();
    let id = created["id"].as_i64().expect("token id");
    let t = token.as_str();
    propagation("client token created", since, || async move { models_status(c, 1, t).await == Some(StatusCode::OK) })
        .await;
    let answer = chat_on(&c.http, c.url(1), PAID, Some(t)).await.expect("chat");
    assert_eq!(answer.status(), 200, "b serves the token created through a");
    let listed = c.get(1, "/api/tokens").await;
    assert!(listed["items"].as_array().expect("items").iter().any(|row| row["id"] == id), "{listed}");

    let response = c.admin(0, Method::DELETE, &format!("/api/tokens/{id}")).send().await.expect("revoke");
    let since = Instant::now();
    assert_eq!(response.status(), 200);
    propagation("client token revoked", since, || async move {
        models_status(c, 1, t).await == Some(StatusCode::UNAUTHORIZED)
    })
    .await;
    let answer = chat_on(&c.http, c.url(1), PAID, Some(t)).await.expect("chat");
    assert_eq!(answer.status(), 401, "b serves a token revoked through a");
}

/// A console login; the session cookie (`name=value`) and its CSRF token.
async fn login(http: &reqwest::Client, url: &str, password: &str) -> Result<(String, String), StatusCode> {
    let response = http
        .post(format!("{url}/api/login"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("login call");
    if response.status() != 200 {
        return Err(response.status());
    }
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("keyflow_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let body: Value = response.json().await.expect("login json");
    Ok((cookie, body["csrf_token"].as_str().expect("csrf token").to_string()))
}

/// `GET /api/session` with `cookie`: its status.
async fn session_status(http: &reqwest::Client, url: &str, cookie: &str) -> Option<StatusCode> {
    let response = http.get(format!("{url}/api/session")).header("cookie", cookie).send().await.ok()?;
    Some(response.status())
}

/// `GET /api/settings` with HTTP Basic from an address of its own (a wrong
/// password must not lock the tests' address out).
async fn basic_status(url: &str, password: &str) -> Option<StatusCode> {
    let http = client_from(fresh_address());
    let response = http.get(format!("{url}/api/settings")).basic_auth("admin", Some(password)).send().await.ok()?;
    Some(response.status())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sessions_logout_and_password_change_reach_every_instance() {
    let c = &Cluster::start(2).await;
    let (a, b) = (c.url(0), c.url(1));
    let http = &c.http;

    let (cookie, _) = login(http, a, PASSWORD).await.expect("login on a");
    let since = Instant::now();
    let k = cookie.as_str();
    propagation("console session (login on a, used on b)", since, || async move {
        session_status(http, b, k).await == Some(StatusCode::OK)
    })
    .await;
    let keys = http.get(format!("{b}/api/keys")).header("cookie", k).send().await.expect("keys call");
    assert_eq!(keys.status(), 200, "b takes a's session for the admin API");

    let response = http.post(format!("{a}/api/logout")).header("cookie", k).send().await.expect("logout");
    let since = Instant::now();
    assert_eq!(response.status(), 200);
    propagation("logout (on a, session ends on b)", since, || async move {
        session_status(http, b, k).await == Some(StatusCode::UNAUTHORIZED)
    })
    .await;

    // A password change on a ends every admin session everywhere.
    let (on_a, _) = login(http, a, PASSWORD).await.expect("login on a");
    let (on_b, _) = login(http, b, PASSWORD).await.expect("login on b");
    // What one poll below costs: a refused password is hashed in full.
    let check = Instant::now();
    assert_eq!(basic_status(b, PASSWORD).await, Some(StatusCode::OK));
    let right = check.elapsed();
    let check = Instant::now();
    assert_eq!(basic_status(b, "not-the-password").await, Some(StatusCode::UNAUTHORIZED));
    let wrong = check.elapsed();
    eprintln!("propagation: (an HTTP Basic check on b takes {right:.1?} when right, {wrong:.1?} when wrong)");
    assert_eq!(session_status(http, b, &on_a).await, Some(StatusCode::OK));
    const NEW: &str = "a-new-cluster-password";
    let response = http
        .post(format!("{a}/api/password"))
        .basic_auth("admin", Some(PASSWORD))
        .json(&json!({"current": PASSWORD, "new": NEW}))
        .send()
        .await
        .expect("password call");
    let since = Instant::now();
    let status = response.status();
    assert_eq!(status, 200, "{}", response.text().await.unwrap_or_default());
    let (on_a, on_b) = (on_a.as_str(), on_b.as_str());
    propagation("password change (sessions end on b)", since, || async move {
        session_status(http, b, on_b).await == Some(StatusCode::UNAUTHORIZED)
            && session_status(http, b, on_a).await == Some(StatusCode::UNAUTHORIZED)
    })
    .await;
    // b's first answer to the new password includes checking it against the
    // stored hash (PBKDF2: hundreds of ms in a debug build); that check's
    // own time, measured next, is not the change's travel.
    let accepted = time_until(since, || async move { basic_status(b, NEW).await == Some(StatusCode::OK) })
        .await
        .expect("b never took the new password set through a");
    assert_eq!(session_status(http, a, on_a).await, Some(StatusCode::UNAUTHORIZED), "a keeps a session");
    let check = Instant::now();
    assert_eq!(basic_status(b, PASSWORD).await, Some(StatusCode::UNAUTHORIZED), "b takes the old password");
    let hashing = check.elapsed();
    eprintln!("propagation: (b answered the new password {accepted:.1?} after the change; one stored-hash check takes {hashing:.1?})");
    report_propagation(
        "password change (new password works on b, less one hash check)",
        accepted.saturating_sub(hashing),
    );
    login(http, b, NEW).await.expect("the console login on b takes the new password");
    assert_eq!(login(http, b, PASSWORD).await.err(), Some(StatusCode::UNAUTHORIZED));
}

/// Whether instance `url` locks `address` out, asked without counting a
/// failure: a password change with the right current password and a new
/// one too short answers 400 after the limiter's check, 429 when locked.
async fn locked_out(address: std::net::IpAddr, url: &str, session: &(String, String)) -> Option<bool> {
    let response = client_from(address)
        .post(format!("{url}/api/password"))
        .header("cookie", &session.0)
        .header("x-csrf-token", &session.1)
        .json(&json!({"current": PASSWORD, "new": "short"}))
        .send()
        .await
        .ok()?;
    match response.status() {
        StatusCode::TOO_MANY_REQUESTS => Some(true),
        StatusCode::BAD_REQUEST => Some(false),
        other => panic!("the limiter probe answered {other}: {}", response.text().await.unwrap_or_default()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_on_one_instance_lock_the_address_out_on_every_instance() {
    let c = &Cluster::start(2).await;
    let (a, b) = (c.url(0), c.url(1));
    let session_b = &login(&c.http, b, PASSWORD).await.expect("login on b");
    let address = fresh_address();
    let from = client_from(address);
    assert_eq!(locked_out(address, b, session_b).await, Some(false), "the probe does not work");

    for attempt in 0..5 {
        let status = login(&from, a, &format!("wrong-password-{attempt}")).await.err();
        assert_eq!(status, Some(StatusCode::UNAUTHORIZED), "failed login {attempt} on a");
    }
    let since = Instant::now();
    assert_eq!(login(&from, a, PASSWORD).await.err(), Some(StatusCode::TOO_MANY_REQUESTS), "a locks out");
    propagation("failed-login limiter (5 failures on a)", since, || async move {
        locked_out(address, b, session_b).await == Some(true)
    })
    .await;
    assert_eq!(
        login(&from, b, PASSWORD).await.err(),
        Some(StatusCode::TOO_MANY_REQUESTS),
        "b lets an address locked out on a log in"
    );
    // The lock is the address's, not everyone's.
    login(&client_from(fresh_address()), b, PASSWORD).await.expect("another address logs in on b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_cools_the_account_down_on_every_instance() {
    let c = &Cluster::start(2).await;
    let (hot, hot_twin, spare) = (test_key(5_000), test_key(5_001), test_key(5_002));
    let ids = c
        .add_keys(&[
            (hot.clone(), 50.0, "acct-hot"),
            (hot_twin.clone(), 45.0, "acct-hot"),
            (spare.clone(), 10.0, "acct-spare"),
        ])
        .await;
    let (hot_id, twin_id, spare_id) = (ids[0], ids[1], ids[2]);
    let chat_hits = |key: &str| c.upstream.hits_on(key, "/v1/chat/completions");

    // Upstream limits the richest account on one model; a meets the 429.
    c.upstream.set_model_fault(&hot, PAID, Fault::RateLimited(RateMetric::Rpm));
    let served = c.served_by(0, PAID, 1).await;
    let since = Instant::now();
    assert_eq!(chat_hits(&hot), 1, "a did not try the richest key first");
    assert_eq!(served, [spare_id], "a retried on the same account or failed");
    propagation("429 cool-down (seen through a)", since, || async move {
        c.others_see_key(hot_id, |row| state_is(row, "cooling")).await
    })
    .await;

    // b sends that model to neither key of the account…
    assert_eq!(c.served_by(1, PAID, 5).await, [spare_id; 5], "b used the account a saw limited");
    assert_eq!((chat_hits(&hot), chat_hits(&hot_twin)), (1, 0), "b tried the account a saw limited");
    // …and other models to it as before.
    assert_eq!(c.served_by(1, PAID_OTHER, 1).await, [hot_id], "the cool-down is for one model only");
    let row = c.key_row(1, twin_id).await.expect("twin listed");
    assert!(row["cooldown_until"].as_i64().is_some(), "the account's other key shows no cool-down on b: {row}");
}
