//! What the cluster tests share: a fresh PostgreSQL database per test, the
//! mock upstream in process, N real `keyflow` binaries on that database
//! (`INSTANCE_NAME` a, b, c…), admin and client calls, polling with a
//! deadline and the measurement of how long a change takes to reach the
//! other instances.
//!
//! The database server is `KEYFLOW_TEST_POSTGRES_URL` when set; otherwise a
//! throwaway cluster this process starts once through
//! `scripts/postgres-test-cluster` (removed by a watchdog when the process
//! is gone). Without either the tests fail: never a silent skip.

use std::future::Future;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use keyflow_mock::{MockConfig, MockServer, MockState};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The admin password every instance starts with.
pub const PASSWORD: &str = "cluster-admin-pass";
/// Paid chat models: an empty key cannot serve them.
pub const PAID: &str = "deepseek-ai/DeepSeek-V3";
pub const PAID_OTHER: &str = "Pro/deepseek-ai/DeepSeek-R1";
/// How long a change may take to reach every instance (SPEC §8).
pub const PROPAGATION_BOUND: Duration = Duration::from_secs(1);
/// How often conditions are polled.
pub const POLL: Duration = Duration::from_millis(20);
/// How long a propagation is waited for before the test gives up: past the
/// 15 s reconcile, so a missed announcement shows as a slow change rather
/// than as a missing one.
const PROPAGATION_GIVE_UP: Duration = Duration::from_secs(20);

const HOW_TO_GET_POSTGRES: &str = "the cluster tests need a PostgreSQL server: set KEYFLOW_TEST_POSTGRES_URL \
    to a role that may CREATE DATABASE (e.g. `export KEYFLOW_TEST_POSTGRES_URL=$(scripts/postgres-test-cluster \
    start /tmp/kf-pg)`), or install PostgreSQL (`apt-get install -y postgresql`) so that this suite starts a \
    throwaway cluster itself";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A deterministic well-formed key for number `i` (as `tests/common`).
pub fn test_key(i: usize) -> String {
    let mut n = i as u64 + 1;
    let letters: String = (0..48)
        .map(|_| {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (b'a' + ((n >> 33) % 26) as u8) as char
        })
        .collect();
    format!("sk-{letters}")
}

// ---------------------------------------------------------------------------
// Turns: the outage test loads the machine and stops a server; it runs
// alone, but for tests that take no turn.

static TURNS: RwLock<()> = RwLock::const_new(());

/// Held for a test's length: shared by ordinary tests, alone by the outage.
pub struct Turn {
    _shared: Option<RwLockReadGuard<'static, ()>>,
    _alone: Option<RwLockWriteGuard<'static, ()>>,
}

pub async fn shared_turn() -> Turn {
    Turn { _shared: Some(TURNS.read().await), _alone: None }
}

pub async fn exclusive_turn() -> Turn {
    Turn { _shared: None, _alone: Some(TURNS.write().await) }
}

/// For a test that only counts over a long time, unmoved by the outage's load.
pub fn no_turn() -> Turn {
    Turn { _shared: None, _alone: None }
}

// ---------------------------------------------------------------------------
// PostgreSQL

/// The script's output for `command dir`, or why it failed.
pub fn pg_script(command: &str, dir: &Path) -> Result<String, String> {
    let script = repo_root().join("scripts/postgres-test-cluster");
    let output = Command::new(&script)
        .arg(command)
        .arg(dir)
        .env("KEYFLOW_PG_NO_INSTALL", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!("`postgres-test-cluster {command}` failed:\n{}", String::from_utf8_lossy(&output.stderr)));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The shared server (`KEYFLOW_TEST_POSTGRES_URL`, or a throwaway cluster
/// started once for this process), as the store contract finds it.
fn server_url() -> String {
    crate::db::server_url()
}

/// One test's database (a random name), dropped with the value.
pub struct TestDb {
    pub url: String,
    server: String,
    name: String,
}

impl TestDb {
    /// A fresh database on the shared server.
    pub async fn create() -> TestDb {
        TestDb::create_on(&server_url()).await
    }

    /// A fresh database on `server`.
    pub async fn create_on(server: &str) -> TestDb {
        let name = format!("keyflow_cluster_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the test server: {e}; {HOW_TO_GET_POSTGRES}"));
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
        admin.close().await.ok();
        TestDb { url: crate::db::with_database(server, &name), server: server.to_string(), name }
    }

    /// The first column of the first row of `sql`, as `i64`, read past keyflow.
    pub async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect to the test database");
        let value: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.expect("raw query");
        conn.close().await.ok();
        value
    }

    /// The first column of each row of `sql`, as text (for failure messages).
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        let mut conn = PgConnection::connect(&self.url).await.expect("connect to the test database");
        let values: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut conn).await.expect("raw query");
        conn.close().await.ok();
        values
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // A runtime of its own: drop runs inside the test's runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&server).await.ok()?;
                let _ =
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                admin.close().await.ok()
            })
        });
        let _ = dropped.join();
    }
}

// ---------------------------------------------------------------------------
// Instances

/// How to start one instance.
#[derive(Clone)]
pub struct NodeSpec {
    pub name: String,
    pub database_url: String,
    pub upstream: String,
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl NodeSpec {
    pub fn journal(&self) -> PathBuf {
        self.dir.join(format!("journal-{}.jsonl", self.name))
    }

    pub fn stderr_file(&self) -> PathBuf {
        self.dir.join(format!("stderr-{}.log", self.name))
    }
}

/// One `keyflow` child process; killed (SIGKILL) when dropped.
pub struct Node {
    pub spec: NodeSpec,
    pub url: String,
    child: Option<Child>,
}

impl Node {
    /// Starts the binary and reads its address from its first stdout line.
    pub async fn start(spec: NodeSpec) -> Node {
        let stderr =
            std::fs::OpenOptions::new().create(true).append(true).open(spec.stderr_file()).expect("stderr file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyflow"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("KEYFLOW_BIND", "127.0.0.1:0")
            .env("UPSTREAM_URL", &spec.upstream)
            .env("DATABASE_URL", &spec.database_url)
            .env("INSTANCE_NAME", &spec.name)
            .env("AUTO_REFRESH_INTERVAL", "0")
            .env("LOG_JOURNAL", spec.journal())
            .env("ADMIN_PASSWORD", PASSWORD)
            .env("KEYFLOW_LOG", "warn")
            .current_dir(&spec.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (name, value) in &spec.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("keyflow starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut node = Node { spec, url: String::new(), child: Some(child) };
        // The first line is the address; the rest is read and dropped so
        // that later output never meets a closed pipe.
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let first = reader.read_line(&mut line).map(|_| line);
            let _ = tx.send(first);
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(Ok(line))) => line,
            other => {
                panic!("instance {} printed no address within 30 s ({other:?}){}", node.spec.name, node.stderr_tail())
            }
        };
        node.url = match line.split_whitespace().find(|word| word.starts_with("http://")) {
            Some(url) => url.to_string(),
            None => panic!("instance {}: no address in {line:?}{}", node.spec.name, node.stderr_tail()),
        };
        node
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Sends SIGKILL without waiting (the child is reaped by [`Node::kill`]
    /// or on drop): no shutdown code runs.
    pub fn sigkill(&self) {
        if let Some(child) = &self.child {
            let status = Command::new("kill").arg("-KILL").arg(child.id().to_string()).status().expect("kill -KILL");
            assert!(status.success(), "kill -KILL {}", child.id());
        }
    }

    /// SIGKILL and reap: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The last lines this instance wrote to stderr, for failure messages.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(self.spec.stderr_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("\n--- stderr of instance {} (last lines) ---\n{tail}", self.spec.name)
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub const NAMES: [&str; 3] = ["a", "b", "c"];

/// N instances on one fresh database, with the mock as upstream.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub upstream: MockState,
    /// Kept running for the instances (the state is `upstream`).
    _mock: MockServer,
    pub db: TestDb,
    /// Journals and the instances' stderr.
    _dir: tempfile::TempDir,
    pub http: reqwest::Client,
    _turn: Turn,
}

impl Cluster {
    /// `n` instances with the default environment.
    pub async fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[]).await
    }

    /// `n` instances, each with `env` added to the default environment.
    pub async fn start_with(n: usize, env: &[(&str, &str)]) -> Cluster {
        let turn = shared_turn().await;
        let db = TestDb::create().await;
        Cluster::start_on(db, n, env, turn).await
    }

    /// `n` instances on `db`, started together (their migrations race).
    pub async fn start_on(db: TestDb, n: usize, env: &[(&str, &str)], turn: Turn) -> Cluster {
        let mock = MockServer::start(MockConfig::default()).await.expect("mock starts");
        let dir = tempfile::tempdir().expect("tempdir");
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let specs: Vec<NodeSpec> = NAMES[..n]
            .iter()
            .map(|name| NodeSpec {
                name: name.to_string(),
                database_url: db.url.clone(),
                upstream: mock.url(),
                dir: dir.path().to_path_buf(),
                env: env.clone(),
            })
            .collect();
        let nodes = futures_util::future::join_all(specs.into_iter().map(Node::start)).await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
        let cluster = Cluster { nodes, upstream: mock.state(), _mock: mock, db, _dir: dir, http, _turn: turn };
        for i in 0..n {
            cluster.wait_healthy(i, Duration::from_secs(30)).await;
        }
        cluster.barrier().await;
        cluster
    }

    /// Waits until every instance hears the others: a settings change on
    /// the first reaches all (by announcement or, failing that, reconcile).
    async fn barrier(&self) {
        let page_size = 40 + rand::random::<u32>() % 20;
        let response = self
            .admin(0, Method::PUT, "/api/settings")
            .json(&json!({"page_size": page_size}))
            .send()
            .await
            .expect("settings call");
        assert_eq!(response.status(), 200, "PUT /api/settings on a");
        for i in 1..self.nodes.len() {
            eventually(&format!("instance {} hears the others", self.name(i)), PROPAGATION_GIVE_UP, || async move {
                let settings = self.try_get(i, "/api/settings").await?;
                (settings["page_size"] == page_size).then_some(())
            })
            .await;
        }
    }

    pub fn url(&self, i: usize) -> &str {
        &self.nodes[i].url
    }

    pub fn name(&self, i: usize) -> &str {
        self.nodes[i].name()
    }

    /// Starts instance `i` again with the same name, database and journal.
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].kill();
        let node = Node::start(self.nodes[i].spec.clone()).await;
        self.nodes[i] = node;
        self.wait_healthy(i, Duration::from_secs(30)).await;
    }

    /// Waits until `/health` on instance `i` answers 200 with status `ok`.
    pub async fn wait_healthy(&self, i: usize, deadline: Duration) -> Value {
        let what = format!("instance {} healthy", self.name(i));
        let node = &self.nodes[i];
        eventually_with(
            &what,
            deadline,
            || node.stderr_tail(),
            || async move {
                let response = self.admin(i, Method::GET, "/health").send().await.ok()?;
                if response.status() != 200 {
                    return None;
                }
                let body: Value = response.json().await.ok()?;
                (body["status"] == "ok").then_some(body)
            },
        )
        .await
    }

    /// A request to instance `i` with the admin's HTTP Basic credentials.
    pub fn admin(&self, i: usize, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url(i))).basic_auth("admin", Some(PASSWORD))
    }

    /// `GET path` as the admin, `None` unless 2xx with JSON.
    pub async fn try_get(&self, i: usize, path: &str) -> Option<Value> {
        let response = self.admin(i, Method::GET, path).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// `GET path` as the admin, which must answer 2xx with JSON.
    pub async fn get(&self, i: usize, path: &str) -> Value {
        let response = self.admin(i, Method::GET, path).send().await.expect("admin call");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {path} on {}: {status} {text}", self.name(i));
        serde_json::from_str(&text).expect("admin JSON")
    }

    /// `/health` as the admin, whatever its status.
    pub async fn health(&self, i: usize) -> Option<Value> {
        let response = self.admin(i, Method::GET, "/health").send().await.ok()?;
        response.json().await.ok()
    }

    /// Every key row instance `i` lists.
    pub async fn key_rows(&self, i: usize) -> Vec<Value> {
        self.try_key_rows(i).await.expect("key list")
    }

    pub async fn try_key_rows(&self, i: usize) -> Option<Vec<Value>> {
        let list = self.try_get(i, "/api/keys?size=100000").await?;
        list["items"].as_array().cloned()
    }

    /// Key `id` as instance `i` lists it, if listed.
    pub async fn key_row(&self, i: usize, id: i64) -> Option<Value> {
        self.try_key_rows(i).await?.into_iter().find(|row| row["id"] == id)
    }

    /// Creates `(key, balance, account)` upstream, imports them through
    /// instance 0 and waits until every instance lists them; their ids.
    pub async fn add_keys(&self, keys: &[(String, f64, &str)]) -> Vec<i64> {
        self.upstream.add_keys(keys.iter().map(|(k, b, a)| (k.clone(), *b, a.to_string())));
        let secrets: Vec<String> = keys.iter().map(|(k, _, _)| k.clone()).collect();
        let report = self.import(0, &secrets).await;
        assert_eq!(report["added"], keys.len(), "import report: {report}");
        let ids: Vec<i64> =
            (0..keys.len()).map(|i| report["details"][i]["id"].as_i64().expect("id in the import report")).collect();
        for i in 0..self.nodes.len() {
            let ids = &ids;
            eventually(
                &format!("instance {} lists the imported keys", self.name(i)),
                PROPAGATION_GIVE_UP,
                || async move {
                    let rows = self.try_key_rows(i).await?;
                    ids.iter().all(|id| rows.iter().any(|row| row["id"] == *id)).then_some(())
                },
            )
            .await;
        }
        ids
    }

    /// `POST /api/keys` on instance `i` with one key a line; the report.
    pub async fn import(&self, i: usize, keys: &[String]) -> Value {
        let response = self
            .admin(i, Method::POST, "/api/keys")
            .header("content-type", "text/plain")
            .body(keys.join("\n"))
            .send()
            .await
            .expect("import call");
        let status = response.status();
        let report: Value = response.json().await.expect("import report");
        assert!(status.is_success(), "import on {}: {status} {report}", self.name(i));
        report
    }

    /// A plain chat request to instance `i` (no client token).
    pub async fn chat(&self, i: usize, model: &str) -> reqwest::Response {
        chat_on(&self.http, self.url(i), model, None).await.expect("chat call")
    }

    /// The log rows' total on instance `i`, if it answers.
    pub async fn log_total(&self, i: usize) -> Option<u64> {
        self.try_get(i, "/api/logs?size=1").await?["total"].as_u64()
    }

    /// Every log row instance `i` shows (all pages).
    pub async fn log_rows(&self, i: usize) -> Vec<Value> {
        let mut rows = Vec::new();
        for page in 1.. {
            let body = self.get(i, &format!("/api/logs?size=500&page={page}")).await;
            let items = body["items"].as_array().expect("log items").clone();
            let total = body["total"].as_u64().expect("log total") as usize;
            rows.extend(items.iter().cloned());
            if items.is_empty() || rows.len() >= total {
                break;
            }
        }
        rows
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!("{}", node.stderr_tail());
            }
        }
        // The instances go before their database does.
        self.nodes.clear();
    }
}

/// A chat request; `token` is sent as a bearer client token.
pub async fn chat_on(
    http: &reqwest::Client,
    url: &str,
    model: &str,
    token: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
    let body = json!({"model": model, "messages": [{"role": "user", "content": "hello from the cluster tests"}]});
    let mut request = http.post(format!("{url}/v1/chat/completions")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await
}

/// The key id keyflow used, from its response header.
pub fn key_id_of(response: &reqwest::Response) -> i64 {
    response
        .headers()
        .get("x-keyflow-key-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("x-keyflow-key-id header")
}

// ---------------------------------------------------------------------------
// Client addresses: the failed-login limiter counts per address, so calls
// that may fail a credential check come from addresses of their own.

static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

/// A loopback address no other call of this process used.
pub fn fresh_address() -> IpAddr {
    let n = NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed);
    IpAddr::V4(Ipv4Addr::new(127, 10 + (n / 62_500) as u8, ((n / 250) % 250) as u8, (n % 250) as u8 + 1))
}

/// A client whose connections come from `address`.
pub fn client_from(address: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client with a local address")
}

// ---------------------------------------------------------------------------
// Waiting

/// Polls `check` every [`POLL`] until it returns `Some`, failing with `what`
/// after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_with(what, deadline, String::new, check).await
}

/// [`eventually`], adding `context()` to the failure message.
pub async fn eventually_with<T, F, Fut, C>(what: &str, deadline: Duration, context: C, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
    C: Fn() -> String,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}{}", context());
        tokio::time::sleep(POLL).await;
    }
}

/// How long after `since` `check` first holds, polled every [`POLL`];
/// `None` when it does not within the 20 s give-up (past the reconcile).
pub async fn time_until<F, Fut>(since: Instant, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        if check().await {
            return Some(since.elapsed());
        }
        if since.elapsed() >= PROPAGATION_GIVE_UP {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How long `kind` took to reach the other instances: `check` is polled
/// every [`POLL`] from `since` (when the change's answer arrived) until it
/// holds. Prints the time and asserts it within [`PROPAGATION_BOUND`].
pub async fn propagation<F, Fut>(kind: &str, since: Instant, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    propagation_explained(kind, since, check, || async { String::new() }).await
}

/// [`propagation`], with `explain()` (what the instances and the database
/// hold) in the failure message when the change does not arrive.
pub async fn propagation_explained<F, Fut, E, EFut>(kind: &str, since: Instant, check: F, explain: E) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
    E: FnOnce() -> EFut,
    EFut: Future<Output = String>,
{
    let Some(took) = time_until(since, check).await else {
        panic!(
            "propagation of {kind}: not seen within {PROPAGATION_GIVE_UP:?} (bound {PROPAGATION_BOUND:?}){}",
            explain().await
        )
    };
    report_propagation(kind, took);
    took
}

/// Prints a propagation time and asserts it within [`PROPAGATION_BOUND`].
pub fn report_propagation(kind: &str, took: Duration) {
    eprintln!("propagation: {kind}: {:.1} ms", took.as_secs_f64() * 1000.0);
    assert!(took < PROPAGATION_BOUND, "propagation of {kind} took {took:?}, over the bound of {PROPAGATION_BOUND:?}");
}
