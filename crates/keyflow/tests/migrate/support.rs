//! The test's tools: old tools' files, the real binary run as `migrate`
//! and as a server on a fresh database, and typed HTTP helpers.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use keyflow_mock::MockServer;
use serde_json::{json, Value};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A well-formed key whose masked form (`sk-xxxx…NNNN`) is unique by `i`.
pub fn key(letter: char, i: u32) -> String {
    format!("sk-{}{i:04}", letter.to_string().repeat(44))
}

/// Creates `path` and runs `sql` (several statements) in it.
pub async fn sqlite_file(path: &Path, sql: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let options = SqliteConnectOptions::new().filename(path).create_if_missing(true);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

/// The schema both Python tools share; `endpoint`: silicon-pool's log column, or empty.
pub fn python_schema(endpoint: &str) -> String {
    format!(
        "CREATE TABLE api_keys (key TEXT PRIMARY KEY, add_time REAL, balance REAL, usage_count INTEGER, \
         enabled INTEGER DEFAULT 1);
         CREATE TABLE logs (id INTEGER PRIMARY KEY AUTOINCREMENT, used_key TEXT, model TEXT, {endpoint} \
         call_time REAL, input_tokens INTEGER, output_tokens INTEGER, total_tokens INTEGER);
         CREATE TABLE sessions (session_id TEXT PRIMARY KEY, username TEXT, created_at REAL);"
    )
}

pub struct Gateway {
    db_url: String,
    work: tempfile::TempDir,
    upstream: String,
}

impl Gateway {
    pub fn new(mock: &MockServer) -> Gateway {
        let work = tempfile::tempdir().unwrap();
        let db_url = format!("sqlite://{}", work.path().join("keyflow.db").display());
        Gateway { db_url, work, upstream: mock.url() }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyflow"));
        // A clean environment and an empty working directory: no `.env` or
        // variable of the machine running the tests leaks in.
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.db_url)
            .env("UPSTREAM_URL", &self.upstream)
            .current_dir(self.work.path());
        command
    }

    /// Runs `keyflow migrate TOOL PATH`; returns its output, checked free
    /// of every secret.
    pub fn migrate(&self, tool: &str, path: &Path, secrets: &[String]) -> String {
        let out = self.command().arg("migrate").arg(tool).arg(path).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "migrate failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
        for secret in secrets {
            assert!(
                !stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()),
                "`{secret}` printed raw:\n{stdout}{stderr}"
            );
        }
        stdout.into_owned()
    }

    /// Writes a named value into keyflow's database, as a run cut short would have left it.
    pub async fn save_value(&self, name: &str, value: &str) {
        keyflow::store::open(&self.db_url).await.unwrap().save_value(name, value).await.unwrap();
    }

    /// Starts `keyflow serve` on this database.
    pub async fn serve(&self) -> Served {
        let mut child = self
            .command()
            .env("KEYFLOW_BIND", "127.0.0.1:0")
            .env("KEYFLOW_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        });
        let line = tokio::time::timeout(Duration::from_secs(20), line).await.expect("keyflow started").unwrap();
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).expect("address line").to_string();
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !http.get(format!("{url}/health")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(std::time::Instant::now() < deadline, "no /health");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Served { child, url, http }
    }
}

pub struct Served {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    pub async fn chat(&self, token: Option<&str>, model: &str) -> u16 {
        let mut request = self
            .http
            .post(format!("{}/v1/chat/completions", self.url))
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().status().as_u16()
    }

    /// `GET /api/…` with HTTP Basic; the status and the JSON body.
    pub async fn admin(&self, user: &str, password: &str, path: &str) -> (u16, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).basic_auth(user, Some(password)).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The keyflow id of `key`, found by its masked form in `/api/keys`.
    pub async fn key_id(&self, user: &str, password: &str, key: &str) -> i64 {
        let masked = format!("{}…{}", &key[..7], &key[key.len() - 4..]);
        let (_, keys) = self.admin(user, password, "/api/keys?size=100").await;
        let item = keys["items"].as_array().unwrap().iter().find(|k| k["key"] == masked.as_str());
        item.unwrap_or_else(|| panic!("{masked} not in {keys}"))["id"].as_i64().unwrap()
    }
}

pub fn contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "`{part}` missing in:\n{text}");
    }
}
