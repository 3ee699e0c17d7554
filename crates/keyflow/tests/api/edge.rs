//! Safe at the edge (SPEC §10): the `Host` check against DNS rebinding,
//! same-origin state changes, one failed-credential limiter for every way
//! in, server timeouts and the connection cap, pass-through paths that stay
//! under `/v1/`, 401s that condemn a key only when they mean it, resources
//! private to their client token, masked key echoes, private `/metrics` and
//! `/health`, guest sessions that end with their password, and 502 when
//! upstream is unreachable.

use std::time::{Duration, Instant};

use keyflow_mock::{Fault, MockConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const MODEL: &str = "deepseek-ai/DeepSeek-V3";

/// Sends raw bytes on a fresh connection and reads until the server closes
/// it or `deadline` passes; returns what was read and how long it took.
async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8], deadline: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(deadline.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), started.elapsed())
}

#[tokio::test]
async fn a_rebound_host_name_reaches_nothing() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct").await;
    // A page on a rebinding domain: the browser sends its name as Host.
    let response = t
        .admin(reqwest::Method::GET, "/api/keys/export")
        .header("host", "rebind.attacker.example:7898")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let text = response.text().await.unwrap();
    assert!(!text.contains(&keys[0]) && text.contains("ALLOWED_HOSTS"), "{text}");
    let response = t
        .http
        .post(format!("{}/v1/chat/completions", t.url))
        .header("host", "rebind.attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "the client API is guarded too");
    assert_eq!(t.mock.state().total_hits(), 1, "only the import's validation reached upstream");
    // The same call by a loopback name works.
    let response = t.admin(reqwest::Method::GET, "/api/keys/export").header("host", "localhost").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains(&keys[0]));
}

#[tokio::test]
async fn allowed_hosts_extend_the_names_served() {
    let t = spawn_app_with(MockConfig::default(), |c| c.edge.allowed_hosts = vec!["keyflow.example.com".into()]).await;
    let ok = t.http.get(format!("{}/health", t.url)).header("host", "keyflow.example.com").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let refused = t.http.get(format!("{}/health", t.url)).header("host", "other.example.com").send().await.unwrap();
    assert_eq!(refused.status(), 403);
}

#[tokio::test]
async fn state_changes_need_a_same_origin_and_never_null() {
    let t = spawn_app().await;
    for origin in ["null", "http://evil.example", "http://localhost.evil.example"] {
        let response =
            t.admin(reqwest::Method::POST, "/api/keys/refresh").header("origin", origin).send().await.unwrap();
        assert_eq!(response.status(), 403, "Origin: {origin}");
    }
    let same =
        t.admin(reqwest::Method::POST, "/api/keys/refresh").header("origin", t.url.clone()).send().await.unwrap();
    assert!(same.status().is_success(), "same origin: {}", same.status());
    let script = t.admin(reqwest::Method::POST, "/api/keys/refresh").send().await.unwrap();
    assert!(script.status().is_success() || script.status() == 409, "a script without Origin: {}", script.status());
}

#[tokio::test]
async fn every_way_in_shares_one_failed_credential_limit() {
    let t = spawn_app().await;
    let wrong = |path: &str| t.http.get(format!("{}{path}", t.url)).basic_auth("admin", Some("wrong"));
    for _ in 0..3 {
        assert_eq!(wrong("/api/keys").send().await.unwrap().status(), 401);
    }
    // The login form counts against the same address.
    for _ in 0..2 {
        let response = t
            .http
            .post(format!("{}/api/login", t.url))
            .json(&json!({"username": "admin", "password": "guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let locked = wrong("/api/keys").send().await.unwrap();
    assert_eq!(locked.status(), 429);
    let body: Value = locked.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("try again in"), "{body}");
    // Even the right password waits out the lock: guessing cannot go on.
    let right = t.admin(reqwest::Method::GET, "/api/keys").send().await.unwrap();
    assert_eq!(right.status(), 429);
    // Basic on /v1 and /metrics is the same way in.
    let v1 = t.http.get(format!("{}/v1/models", t.url)).basic_auth("admin", Some("x")).send().await.unwrap();
    assert_eq!(v1.status(), 429);
}

#[tokio::test]
async fn wrong_basic_guesses_after_a_password_change_do_not_stall_traffic() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct").await;
    let response = t
        .admin(reqwest::Method::POST, "/api/password")
        .json(&json!({"current": "admin", "new": "a-new-long-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // PBKDF2 runs for each wrong guess; it must not occupy the async workers.
    let guesses: Vec<_> = (0..4)
        .map(|i| t.http.get(format!("{}/api/keys", t.url)).basic_auth("admin", Some(format!("guess-{i}"))).send())
        .collect();
    let started = Instant::now();
    let (answers, health) = tokio::join!(futures_util::future::join_all(guesses), async {
        let started = Instant::now();
        let response = t.http.get(format!("{}/health", t.url)).send().await.unwrap();
        (response.status(), started.elapsed())
    });
    assert!(answers.iter().all(|r| r.as_ref().unwrap().status() == 401));
    assert_eq!(health.0, 200);
    assert!(health.1 < Duration::from_secs(1), "health took {:?} while passwords were hashed", health.1);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn unauthenticated_routes_take_small_bodies_only() {
    let t = spawn_app().await;
    let big = format!("{{\"username\":\"admin\",\"password\":\"{}\"}}", "x".repeat(200_000));
    for path in ["/api/login", "/api/public/login"] {
        let response = t
            .http
            .post(format!("{}{path}", t.url))
            .header("content-type", "application/json")
            .body(big.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{path}");
    }
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_off() {
    let t = spawn_app_with(MockConfig::default(), |c| c.edge.header_timeout = Duration::from_secs(1)).await;
    let (_, took) =
        raw_exchange(t.app().addr(), b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", Duration::from_secs(10))
            .await;
    assert!(took < Duration::from_secs(5), "connection held {took:?}");
    // An idle keep-alive connection is closed the same way.
    let (answer, took) =
        raw_exchange(t.app().addr(), b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n", Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took < Duration::from_secs(5), "idle connection held {took:?}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408() {
    let t = spawn_app_with(MockConfig::default(), |c| c.edge.body_timeout = Duration::from_secs(1)).await;
    t.add_keys(0, 1, 10.0, "acct").await;
    let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"model\":";
    let (answer, took) = raw_exchange(t.app().addr(), head.as_bytes(), Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("paused"), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn connections_past_the_cap_are_refused_with_503() {
    let t = spawn_app_with(MockConfig::default(), |c| c.edge.max_connections = 2).await;
    let addr = t.app().addr();
    let _held: Vec<TcpStream> = vec![TcpStream::connect(addr).await.unwrap(), TcpStream::connect(addr).await.unwrap()];
    let (answer, _) =
        raw_exchange(addr, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n", Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("connection limit"), "{answer}");
    drop(_held);
    // Once the held connections close, new ones are served again.
    eventually(Duration::from_secs(5), || async {
        let (answer, _) = raw_exchange(
            addr,
            b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            Duration::from_secs(2),
        )
        .await;
        answer.starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
}

#[tokio::test]
async fn pass_through_never_leaves_v1() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct").await;
    let before = t.mock.state().total_hits();
    for path in
        ["/v1/../admin", "/v1/%2e%2e/admin", "/v1/files/..%2f..%2fadmin", "/v1/a/%2E/b", "/v1//x", "/v1/x%5c..%5c"]
    {
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let (answer, _) = raw_exchange(t.app().addr(), request.as_bytes(), Duration::from_secs(5)).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
    }
    assert_eq!(t.mock.state().total_hits(), before, "no path reached upstream");
}

#[tokio::test]
async fn a_401_on_an_ambiguous_route_revalidates_instead_of_condemning() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct").await;
    let (content_type, body) = multipart(&[field("purpose", "batch"), file_part("file", "in.jsonl", b"{}\n")]);
    let upload = t
        .http
        .post(format!("{}/v1/files", t.url))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    let file: Value = upload.json().await.unwrap();
    let file_id = file["data"]["id"].as_str().unwrap().to_string();
    let batch = t
        .post_json(
            "/v1/batches",
            json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
        )
        .await;
    assert_eq!(batch.status(), 200);
    let batch: Value = batch.json().await.unwrap();
    let batch_id = batch["id"].as_str().unwrap().to_string();

    let info_calls = t.mock.state().hits_on(&keys[0], "/v1/user/info");
    t.mock.state().set_fault_times(&keys[0], Fault::Unauthorized, 1);
    let response = t.http.get(format!("{}/v1/batches/{batch_id}", t.url)).send().await.unwrap();
    assert_eq!(response.status(), 401, "upstream's answer goes back as it is");
    // The key is re-validated, found alive, and stays active.
    eventually(Duration::from_secs(5), || async {
        (t.mock.state().hits_on(&keys[0], "/v1/user/info") > info_calls).then_some(())
    })
    .await;
    let row = t.key_row(1).await;
    assert_eq!(row["state"], "active", "{row}");
    assert_eq!(t.chat(MODEL, false).await.status(), 200);

    // On an inference route a 401 still condemns the key at once.
    t.mock.state().set_fault(&keys[0], Fault::Unauthorized);
    let response = t.chat(MODEL, false).await;
    assert_eq!(response.status(), 503);
    assert_eq!(t.key_row(1).await["state"], "invalid");
}

async fn upload_as(t: &TestApp, token: &str) -> String {
    let (content_type, body) = multipart(&[field("purpose", "batch"), file_part("file", "in.jsonl", b"{}\n")]);
    let response = t
        .http
        .post(format!("{}/v1/files", t.url))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"]["id"].as_str().unwrap().to_string()
}

async fn file_ids_seen_by(t: &TestApp, request: reqwest::RequestBuilder) -> Vec<String> {
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let _ = t;
    body["data"]["data"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn client_tokens_see_only_their_own_resources() {
    let t = spawn_app_with(MockConfig::default(), |c| {
        c.client_tokens = vec![keyflow::secret::Secret::new("token-alice"), keyflow::secret::Secret::new("token-bob")];
    })
    .await;
    t.add_keys(0, 2, 10.0, "acct").await;
    let alice_file = upload_as(&t, "token-alice").await;
    let bob_file = upload_as(&t, "token-bob").await;

    let as_bob = t.http.get(format!("{}/v1/files/{alice_file}", t.url)).bearer_auth("token-bob").send().await.unwrap();
    assert_eq!(as_bob.status(), 404, "someone else's file does not exist for bob");
    let batch = t
        .http
        .post(format!("{}/v1/batches", t.url))
        .bearer_auth("token-bob")
        .json(&json!({"input_file_id": alice_file, "endpoint": "/v1/chat/completions", "completion_window": "24h"}))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 404);

    let bob_sees = file_ids_seen_by(&t, t.http.get(format!("{}/v1/files", t.url)).bearer_auth("token-bob")).await;
    assert_eq!(bob_sees, vec![bob_file.clone()]);
    let alice_sees = file_ids_seen_by(&t, t.http.get(format!("{}/v1/files", t.url)).bearer_auth("token-alice")).await;
    assert_eq!(alice_sees, vec![alice_file.clone()]);
    let mut admin_sees =
        file_ids_seen_by(&t, t.http.get(format!("{}/v1/files", t.url)).basic_auth("admin", Some("admin"))).await;
    admin_sees.sort();
    let mut both = vec![alice_file, bob_file];
    both.sort();
    assert_eq!(admin_sees, both, "the admin sees every client's files");
}

#[tokio::test]
async fn an_upstream_error_echoing_the_key_is_masked_everywhere() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct").await;
    t.mock.state().set_fault(&keys[0], Fault::EchoKey);
    let response = t.chat(MODEL, false).await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(!text.contains(&keys[0]), "relayed raw: {text}");
    assert!(text.contains(&keys[0][..7]), "the masked form stays readable: {text}");
    let rows = t.logs_of(MODEL, 1).await;
    let logged = rows[0].to_string();
    assert!(!logged.contains(&keys[0]) && logged.contains("sk-"), "{logged}");
    let key_rows = t.admin_get("/api/keys?size=10").await.to_string();
    assert!(!key_rows.contains(&keys[0]), "{key_rows}");
}

#[tokio::test]
async fn private_mode_keeps_metrics_and_health_figures_for_the_admin() {
    let t = spawn_app_with(MockConfig::default(), |c| {
        c.edge.metrics_token = Some(keyflow::secret::Secret::new("scrape-me"))
    })
    .await;
    t.add_keys(0, 1, 10.0, "acct").await;
    let anonymous = t.http.get(format!("{}/metrics", t.url)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(!anonymous.text().await.unwrap().contains("keyflow_pool_balance"));
    let admin = t.admin(reqwest::Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(admin.status(), 200);
    assert!(admin.text().await.unwrap().contains("keyflow_pool_balance_cny"));
    let scraper = t.http.get(format!("{}/metrics", t.url)).bearer_auth("scrape-me").send().await.unwrap();
    assert_eq!(scraper.status(), 200);

    let health: Value = t.http.get(format!("{}/health", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "ok");
    assert!(health.get("keys").is_none() && health.get("requests").is_none(), "{health}");
    let full = t.admin_get("/health").await;
    assert_eq!(full["keys"]["active"], 1, "{full}");

    t.put_settings(json!({"access_control": "open"})).await;
    let open = t.http.get(format!("{}/metrics", t.url)).send().await.unwrap();
    assert_eq!(open.status(), 200, "an open gateway's metrics are public");
}

#[tokio::test]
async fn guest_sessions_end_when_the_guest_password_changes() {
    let t = spawn_app().await;
    t.put_settings(json!({"access_control": "restricted", "guest_password": "first-guest"})).await;
    let login = t
        .http
        .post(format!("{}/api/public/login", t.url))
        .json(&json!({"password": "first-guest"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let cookie = login.headers()[reqwest::header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string();
    let dashboard = || t.http.get(format!("{}/api/public/dashboard", t.url)).header("cookie", cookie.clone()).send();
    assert_eq!(dashboard().await.unwrap().status(), 200);
    t.put_settings(json!({"guest_password": "second-guest"})).await;
    assert_eq!(dashboard().await.unwrap().status(), 401, "the old guest session ended");
}

#[tokio::test]
async fn upstream_unreachable_is_a_502_that_leaves_keys_alone() {
    // A port nobody listens on: connections are refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct").await;
    t.restart_with(|c| c.upstream_url = format!("http://{closed}")).await;
    let response = t.chat(MODEL, false).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unreachable", "{body}");
    for id in [1, 2] {
        assert_eq!(t.key_row(id).await["state"], "active");
    }
    // Upstream back: the next request is served without operator action.
    let upstream = t.mock.url();
    t.restart_with(|c| c.upstream_url = upstream).await;
    assert_eq!(t.chat(MODEL, false).await.status(), 200);
}
