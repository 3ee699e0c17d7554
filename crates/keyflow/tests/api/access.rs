//! Console sessions, CSRF, login rate limits, password change, client
//! tokens and the public dashboard's access modes.

use serde_json::{json, Value};

use crate::helpers::*;

const PAID: &str = "deepseek-ai/DeepSeek-V3";

/// Logs in; returns the cookie pair (`keyflow_session=…`) and CSRF token.
async fn login(t: &TestApp, password: &str) -> reqwest::Response {
    t.http
        .post(format!("{}/api/login", t.url))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap()
}

fn session_cookie(response: &reqwest::Response) -> String {
    let set = response.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    set.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn session_login_csrf_and_logout() {
    let t = spawn_app().await;
    let response = login(&t, "admin").await;
    assert_eq!(response.status(), 200);
    let cookie = session_cookie(&response);
    let body: Value = response.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();

    let keys = t.http.get(format!("{}/api/keys", t.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(keys.status(), 200);
    let session: Value = t
        .http
        .get(format!("{}/api/session", t.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["csrf_token"], csrf.as_str());

    // A state change without the CSRF token is refused; with it, accepted.
    let put = |token: Option<&str>| {
        let mut r =
            t.http.put(format!("{}/api/settings", t.url)).header("cookie", &cookie).json(&json!({"max_retries": 2}));
        if let Some(token) = token {
            r = r.header("x-csrf-token", token);
        }
        r.send()
    };
    assert_eq!(put(None).await.unwrap().status(), 403);
    assert_eq!(put(Some("wrong")).await.unwrap().status(), 403);
    assert_eq!(put(Some(&csrf)).await.unwrap().status(), 200);
    // A cross-site request is refused even with valid credentials.
    let cross =
        t.admin(reqwest::Method::DELETE, "/api/logs").header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(cross.status(), 403);

    let out = t.http.post(format!("{}/api/logout", t.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(out.status(), 200);
    let after = t.http.get(format!("{}/api/keys", t.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(after.status(), 401, "session must be revoked on the server");
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let t = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(login(&t, "wrong").await.status(), 401);
    }
    let limited = login(&t, "admin").await;
    assert_eq!(limited.status(), 429, "even the right password waits after 5 failures");
    let body: Value = limited.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("try again"));
}

#[tokio::test]
async fn password_change_revokes_sessions_and_applies_to_basic() {
    let t = spawn_app().await;
    let response = login(&t, "admin").await;
    let cookie = session_cookie(&response);
    let short = t
        .admin(reqwest::Method::POST, "/api/password")
        .json(&json!({"current": "admin", "new": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), 400);
    let changed = t
        .admin(reqwest::Method::POST, "/api/password")
        .json(&json!({"current": "admin", "new": "a-much-better-one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let old_session = t.http.get(format!("{}/api/keys", t.url)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(old_session.status(), 401);
    let old_basic = t.admin(reqwest::Method::GET, "/api/keys").send().await.unwrap();
    assert_eq!(old_basic.status(), 401);
    let new_basic =
        t.http.get(format!("{}/api/keys", t.url)).basic_auth("admin", Some("a-much-better-one")).send().await.unwrap();
    assert_eq!(new_basic.status(), 200);
    let settings_text = t
        .http
        .get(format!("{}/api/settings", t.url))
        .basic_auth("admin", Some("a-much-better-one"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!settings_text.contains("a-much-better-one"), "no API returns the admin password");
}

#[tokio::test]
async fn console_tokens_scope_limit_and_attribute_usage() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    t.add_keys(1, 1, 0.0, "acct-z").await;
    let created: Value = t
        .admin(reqwest::Method::POST, "/api/tokens")
        .json(&json!({"name": "team-a", "scope": "all", "rpm_limit": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("kf-"));
    let free: Value = t
        .admin(reqwest::Method::POST, "/api/tokens")
        .json(&json!({"name": "free-only", "scope": "free"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let free_token = free["token"].as_str().unwrap().to_string();
    let dup = t.admin(reqwest::Method::POST, "/api/tokens").json(&json!({"name": "team-a"})).send().await.unwrap();
    assert_eq!(dup.status(), 409);

    let chat = |token: String, model: &'static str| {
        let http = t.http.clone();
        let url = format!("{}/v1/chat/completions", t.url);
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
        }
    };
    // With console tokens present, the gateway is no longer open.
    assert_eq!(t.chat(PAID, false).await.status(), 401);
    assert_eq!(chat(token.clone(), PAID).await.status(), 200);
    assert_eq!(chat(token.clone(), PAID).await.status(), 200);
    let limited = chat(token.clone(), PAID).await;
    assert_eq!(limited.status(), 429, "rpm_limit 2");
    assert_eq!(chat(free_token.clone(), PAID).await.status(), 403, "free scope refuses a paid model");
    let list = t.admin_get("/api/tokens").await;
    let team = list["items"].as_array().unwrap().iter().find(|i| i["name"] == "team-a").unwrap().clone();
    assert!(!team["token"].as_str().unwrap().contains(&token[5..20]), "listed masked");
    let logs = eventually(std::time::Duration::from_secs(5), || async {
        let page = t.admin_get("/api/logs?token=team-a").await;
        (page["total"] == 3).then_some(page)
    })
    .await;
    assert_eq!(logs["items"][0]["client"], "team-a");
    // Revoked tokens stop working at once.
    let id = team["id"].as_i64().unwrap();
    assert_eq!(t.admin(reqwest::Method::DELETE, &format!("/api/tokens/{id}")).send().await.unwrap().status(), 200);
    assert_eq!(chat(token, PAID).await.status(), 401);
}

#[tokio::test]
async fn spend_quota_stops_a_token() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let price = json!({"input_per_m": 1000000, "output_per_m": 1000000});
    t.admin(reqwest::Method::PUT, &format!("/api/models/prices/{PAID}")).json(&price).send().await.unwrap();
    let created: Value = t
        .admin(reqwest::Method::POST, "/api/tokens")
        .json(&json!({"name": "capped", "spend_quota": 1.0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let send = || {
        t.http
            .post(format!("{}/v1/chat/completions", t.url))
            .bearer_auth(&token)
            .json(&json!({"model": PAID, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    let stopped = eventually(std::time::Duration::from_secs(5), || async {
        let r = send().await.unwrap();
        (r.status() == 429).then_some(r)
    })
    .await;
    let body: Value = stopped.json().await.unwrap();
    assert_eq!(body["error"]["code"], "quota_exceeded");
}

#[tokio::test]
async fn dashboard_follows_the_access_mode() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct-a").await;
    let url = format!("{}/api/public/dashboard", t.url);
    // Private (the default): admin only.
    assert_eq!(t.http.get(&url).send().await.unwrap().status(), 403);
    assert_eq!(t.admin(reqwest::Method::GET, "/api/public/dashboard").send().await.unwrap().status(), 200);
    // Open: anyone, keys masked.
    t.admin(reqwest::Method::PUT, "/api/settings").json(&json!({"access_control": "open"})).send().await.unwrap();
    let open = t.http.get(&url).send().await.unwrap();
    assert_eq!(open.status(), 200);
    let body: Value = open.json().await.unwrap();
    assert_eq!(body["keys"].as_array().unwrap().len(), 2);
    assert!(body["keys"][0]["key"].as_str().unwrap().contains('…'));
    assert_eq!(body["pool_balance"], 20.0);
    // Restricted: the guest password opens a session that holds no password.
    let r = t
        .admin(reqwest::Method::PUT, "/api/settings")
        .json(&json!({"access_control": "restricted", "guest_password": "guest-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.http.get(&url).send().await.unwrap().status(), 401);
    let wrong =
        t.http.post(format!("{}/api/public/login", t.url)).json(&json!({"password": "nope"})).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = t
        .http
        .post(format!("{}/api/public/login", t.url))
        .json(&json!({"password": "guest-pass"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let set = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(!set.contains("guest-pass") && set.contains("Max-Age="), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    assert_eq!(t.http.get(&url).header("cookie", &cookie).send().await.unwrap().status(), 200);
    // A guest session is not an admin session.
    assert_eq!(t.http.get(format!("{}/api/keys", t.url)).header("cookie", &cookie).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn console_requests_get_no_basic_challenge() {
    let t = spawn_app().await;
    let script = t.http.get(format!("{}/api/keys", t.url)).send().await.unwrap();
    assert_eq!(script.status(), 401);
    assert!(script.headers().contains_key("www-authenticate"), "scripts and people get the Basic challenge");
    let page = t
        .http
        .get(format!("{}/api/session", t.url))
        .header("x-requested-with", "keyflow-console")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 401);
    assert!(!page.headers().contains_key("www-authenticate"), "a challenge would open the browser's dialog");
    // Each failed console login counts once against the limit of five.
    for _ in 0..4 {
        let r = t
            .http
            .post(format!("{}/api/login", t.url))
            .header("x-requested-with", "keyflow-console")
            .json(&json!({"username": "admin", "password": "wrong"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(login(&t, "admin").await.status(), 200, "four failures still allow the fifth try");
}
