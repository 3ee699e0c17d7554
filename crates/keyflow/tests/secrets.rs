//! Keys, tokens and passwords never appear raw in keyflow's own logs, even
//! at debug level and through every failure path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use keyflow_mock::{Fault, MockConfig, MockServer, RateMetric};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_logged_raw() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let keys: Vec<String> =
        (0..6).map(|i| format!("sk-{}{}", "q".repeat(40), "abcdefgh".chars().nth(i).unwrap())).collect();
    for (i, key) in keys.iter().enumerate() {
        mock.state().add_key(key, if i == 5 { 0.0 } else { 10.0 }, &format!("acct-{i}"));
    }
    // Every failure class, so every logging path runs.
    mock.state().set_fault(&keys[0], Fault::Unauthorized);
    mock.state().set_fault(&keys[1], Fault::RateLimited(RateMetric::Tpm));
    mock.state().set_fault(&keys[2], Fault::ServerError);
    mock.state().set_fault(&keys[3], Fault::Forbidden);
    let dead = format!("sk-{}", "z".repeat(48));
    let client_token = "client-token-that-must-not-leak";
    let admin_password = "admin-password-that-must-not-leak";
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyflow"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEYFLOW_BIND", "127.0.0.1:0")
        .env("UPSTREAM_URL", mock.url())
        .env("DATABASE_URL", format!("sqlite://{}", dir.path().join("k.db").display()))
        .env("KEYS", format!("{},{dead}", keys.join(",")))
        .env("API_KEY", client_token)
        .env("ADMIN_PASSWORD", admin_password)
        .env("KEYFLOW_LOG", "debug")
        .env("AUTO_REFRESH_INTERVAL", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let url = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_string();
    let stderr = child.stderr.take().unwrap();
    let collector = std::thread::spawn(move || {
        let mut text = String::new();
        BufReader::new(stderr).read_to_string(&mut text).unwrap();
        text
    });

    let http = reqwest::Client::new();
    for model in ["deepseek-ai/DeepSeek-V3", "Qwen/Qwen2.5-7B-Instruct"] {
        for stream in [false, true] {
            let body =
                serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream});
            let r = http
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(client_token)
                .json(&body)
                .send()
                .await
                .unwrap();
            r.bytes().await.unwrap();
        }
    }
    let wrong = http.post(format!("{url}/v1/chat/completions")).bearer_auth("wrong-token").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let refresh =
        http.post(format!("{url}/api/keys/refresh")).basic_auth("admin", Some(admin_password)).send().await.unwrap();
    assert!(refresh.status() == 202 || refresh.status() == 409, "{}", refresh.status());
    http.post(format!("{url}/api/login"))
        .json(&serde_json::json!({"username": "admin", "password": admin_password}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    child.wait().unwrap();
    let mut logged = collector.join().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    logged.push_str(&first);
    logged.push_str(&rest);
    assert!(logged.lines().count() > 10, "debug logging produced too little to judge:\n{logged}");
    for secret in keys.iter().map(String::as_str).chain([dead.as_str(), client_token, admin_password]) {
        assert!(!logged.contains(secret), "a secret appeared in the logs: {}…", &secret[..6]);
    }
    // Masked forms are what the logs show.
    assert!(logged.contains("sk-qqqq…"), "expected masked keys in the debug log:\n{logged}");
}
