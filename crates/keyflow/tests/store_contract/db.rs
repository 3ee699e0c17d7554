//! A fresh database per test: a temporary SQLite file, or a new PostgreSQL
//! database (random name) on the server `KEYFLOW_TEST_POSTGRES_URL` names.
//!
//! Without that variable, and with PostgreSQL installed, the suite starts a
//! throwaway cluster itself through `scripts/postgres-test-cluster` (once
//! per test process) and a watchdog removes it when the process has exited.
//! With neither, the PostgreSQL half fails and says how to get a server:
//! never a silent skip.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use futures_util::FutureExt;
use keyflow::secret::Secret;
use keyflow::store::{redacted_url, Store, StoreResult};
use sqlx::{Connection, PgConnection, SqliteConnection};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database. Clones share it; [`run`] removes it at the end.
#[derive(Clone)]
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Option<Arc<tempfile::TempDir>>,
    /// The server's maintenance URL and this database's name.
    postgres: Option<(String, String)>,
}

const HOW_TO_GET_POSTGRES: &str = "the PostgreSQL half of the store contract needs a server: \
    set KEYFLOW_TEST_POSTGRES_URL to a role that may CREATE DATABASE \
    (e.g. `export KEYFLOW_TEST_POSTGRES_URL=$(scripts/postgres-test-cluster start /tmp/kf-pg)`, \
    stop it with `scripts/postgres-test-cluster stop /tmp/kf-pg`), or install PostgreSQL \
    (`apt-get install -y postgresql`) so that this suite starts a throwaway cluster itself";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `initdb` is installed (Debian's versioned directories or PATH).
fn postgres_installed() -> bool {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.flatten().any(|d| d.path().join("bin/initdb").is_file()))
        .unwrap_or(false);
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("initdb").is_file()));
    debian || on_path
}

/// The server URL for this process, found or started once.
pub fn server_url() -> String {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    let found = SERVER.get_or_init(|| match std::env::var("KEYFLOW_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().to_string()),
        _ if postgres_installed() => start_cluster(),
        _ => Err(HOW_TO_GET_POSTGRES.to_string()),
    });
    match found {
        Ok(url) => url.clone(),
        Err(message) => panic!("{message}"),
    }
}

/// Starts a throwaway cluster and a watchdog that stops and removes it
/// once this test process is gone (the harness has no end-of-run hook).
fn start_cluster() -> Result<String, String> {
    let script = repo_root().join("scripts/postgres-test-cluster");
    let dir = std::env::temp_dir().join(format!("keyflow-contract-pg-{}", std::process::id()));
    let output = Command::new(&script)
        .arg("start")
        .arg(&dir)
        .env("KEYFLOW_PG_NO_INSTALL", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}; {HOW_TO_GET_POSTGRES}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "starting a throwaway PostgreSQL cluster failed:\n{}\n{HOW_TO_GET_POSTGRES}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Command::new("sh")
        .arg("-c")
        .arg(r#"while kill -0 "$0" 2>/dev/null; do sleep 1; done; exec "$1" stop "$2""#)
        .arg(std::process::id().to_string())
        .arg(&script)
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the cluster's watchdog: {e}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// `server` with its database replaced by `name`.
pub fn with_database(server: &str, name: &str) -> String {
    let mut url = reqwest::Url::parse(server).expect("KEYFLOW_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}", dir.path().join("keyflow.db").display());
                TestDb { backend, url, _dir: Some(Arc::new(dir)), postgres: None }
            }
            Backend::Postgres => {
                let server = server_url();
                let name = format!("keyflow_test_{:016x}", rand::random::<u64>());
                let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
                    panic!("cannot connect to {}: {e}; {HOW_TO_GET_POSTGRES}", redacted_url(&server))
                });
                sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create database");
                admin.close().await.ok();
                let url = with_database(&server, &name);
                TestDb { backend, url, _dir: None, postgres: Some((server, name)) }
            }
        }
    }

    /// Opens the store without a secret.
    pub async fn open(&self) -> Arc<dyn Store> {
        keyflow::store::open(&self.url).await.expect("open the store")
    }

    /// Opens the store with `KEYFLOW_SECRET` = `secret`.
    pub async fn open_sealed(&self, secret: &str) -> StoreResult<Arc<dyn Store>> {
        keyflow::store::open_with(&self.url, Some(&Secret::new(secret))).await
    }

    /// The first column of `sql` as text, read past the store (what is
    /// really on disk). The statement must be valid in both dialects.
    pub async fn raw_texts(&self, sql: &str) -> Vec<String> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::connect(&self.url).await.expect("sqlite");
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.expect("raw query")
            }
            Backend::Postgres => {
                let mut conn = PgConnection::connect(&self.url).await.expect("postgres");
                sqlx::query_scalar(sql).fetch_all(&mut conn).await.expect("raw query")
            }
        }
    }

    async fn remove(&self) {
        if let Some((server, name)) = &self.postgres {
            if let Ok(mut admin) = PgConnection::connect(server).await {
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let _ = sqlx::raw_sql(&drop).execute(&mut admin).await;
                let _ = admin.close().await;
            }
        }
    }
}

/// Runs one contract case on a fresh database of `backend`, then removes
/// the database, also when the case failed.
pub async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = TestDb::new(backend).await;
    let outcome = AssertUnwindSafe(case(db.clone())).catch_unwind().await;
    db.remove().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
