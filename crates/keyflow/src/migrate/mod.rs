//! `keyflow migrate TOOL PATH`: takes another tool's keys, client tokens,
//! settings, console login and request logs into keyflow's database.
//!
//! Reading and writing are two steps. [`read`] opens the old tool's files
//! (SQLite read-only) and turns them into a [`Source`]: plain values plus
//! what cannot be carried over and why. [`apply`] writes a `Source` through
//! the same services the console uses, so a second run adds nothing: keys
//! collapse on their fingerprint, tokens on their hash, settings compare
//! equal, and log rows resume after a high-water mark kept per source.
//! The [`Report`] it returns shows keys and tokens masked, never passwords.

mod apply;
mod node;
mod pysqlite;
mod report;
mod silicon_pool;
mod siliconflow_python;

use std::path::{Path, PathBuf};

pub use apply::apply;
pub use report::Report;

use crate::config::{AccessControl, RuntimeSettings, Strategy};
use crate::secret::Secret;

/// The tools whose storage `keyflow migrate` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    SiliconPool,
    SiliconflowPython,
    SiliconflowApiManagement,
}

impl Tool {
    /// The name on the command line, also the name of the tokens it brings.
    pub fn name(self) -> &'static str {
        match self {
            Tool::SiliconPool => "silicon-pool",
            Tool::SiliconflowPython => "siliconflow-python",
            Tool::SiliconflowApiManagement => "siliconflow-api-management",
        }
    }
}

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    NotFound(String),
    #[error("reading {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("reading {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("reading {}: {source}", path.display())]
    OldDatabase { path: PathBuf, source: sqlx::Error },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A key as the old tool stored it.
#[derive(Debug, Clone)]
pub struct OldKey {
    pub key: Secret,
    /// Last known balance; `None` when the tool never stored one.
    pub balance: Option<f64>,
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: Option<i64>,
    pub usage_count: u64,
}

/// A client token of the old tool.
#[derive(Debug, Clone)]
pub struct OldToken {
    pub value: Secret,
    pub free_only: bool,
    /// Where it came from, e.g. `custom_api_key in config.json`.
    pub from: String,
}

/// A live setting keyflow has an equivalent for.
#[derive(Debug, Clone)]
pub enum Setting {
    Strategy(Strategy),
    RefreshIntervalSecs(u64),
    KeyRpmLimit(Option<u32>),
    PageSize(u32),
    AccessControl(AccessControl),
    GuestPassword(Secret),
}

impl Setting {
    /// The key of the setting in `RuntimeSettings` (and `keyflow.toml`).
    pub fn key(&self) -> &'static str {
        match self {
            Setting::Strategy(_) => "key_strategy",
            Setting::RefreshIntervalSecs(_) => "auto_refresh_interval_secs",
            Setting::KeyRpmLimit(_) => "key_rpm_limit",
            Setting::PageSize(_) => "page_size",
            Setting::AccessControl(_) => "access_control",
            Setting::GuestPassword(_) => "guest_password",
        }
    }

    pub fn apply_to(&self, settings: &mut RuntimeSettings) {
        match self {
            Setting::Strategy(s) => settings.key_strategy = *s,
            Setting::RefreshIntervalSecs(secs) => settings.auto_refresh_interval_secs = *secs,
            Setting::KeyRpmLimit(limit) => settings.key_rpm_limit = *limit,
            Setting::PageSize(n) => settings.page_size = *n,
            Setting::AccessControl(mode) => settings.access_control = *mode,
            Setting::GuestPassword(p) => settings.guest_password = Some(p.expose().to_string()),
        }
    }

    /// The value as printed: passwords hidden.
    pub fn shown(&self) -> String {
        match self {
            Setting::Strategy(s) => s.to_string(),
            Setting::RefreshIntervalSecs(0) => "0 (off)".to_string(),
            Setting::RefreshIntervalSecs(secs) => format!("{secs} s"),
            Setting::KeyRpmLimit(None) => "none (no cap)".to_string(),
            Setting::KeyRpmLimit(Some(n)) => format!("{n} requests per minute per key"),
            Setting::PageSize(n) => n.to_string(),
            Setting::AccessControl(mode) => mode.to_string(),
            Setting::GuestPassword(_) => "(hidden)".to_string(),
        }
    }
}

/// Where the old request log is and how to read it.
pub struct LogSource {
    pub(crate) table: pysqlite::LogTable,
    /// The store value holding the id of the last row taken from this file.
    pub mark_name: String,
}

/// Everything read from the old tool, before anything is written.
#[derive(Default)]
pub struct Source {
    pub tool: Option<Tool>,
    /// The files read, for the report.
    pub files: Vec<PathBuf>,
    pub keys: Vec<OldKey>,
    /// False when the tool never stored balances: the keys are validated.
    pub balances_known: bool,
    pub tokens: Vec<OldToken>,
    /// Each setting with where it came from (`call_strategy "high"`).
    pub settings: Vec<(Setting, String)>,
    pub admin_username: Option<String>,
    pub admin_password: Option<Secret>,
    pub logs: Option<LogSource>,
    /// What is not carried over, each with the reason.
    pub not_carried: Vec<String>,
    pub notes: Vec<String>,
}

/// Reads the storage of `tool` in the directory `path`; writes nothing.
pub async fn read(tool: Tool, path: &Path) -> Result<Source, MigrateError> {
    if !path.is_dir() {
        return Err(MigrateError::NotFound(format!(
            "{} is not a directory: give the directory {} ran in",
            path.display(),
            tool.name()
        )));
    }
    let mut source = match tool {
        Tool::SiliconPool => silicon_pool::read(path).await?,
        Tool::SiliconflowPython => siliconflow_python::read(path).await?,
        Tool::SiliconflowApiManagement => node::read(path).await?,
    };
    source.tool = Some(tool);
    Ok(source)
}

/// The name under which the log high-water mark of `db` is stored: per tool
/// and file, so two old pools merged into one keyflow each resume alone.
fn mark_name(tool: Tool, db: &Path) -> String {
    let db = db.canonicalize().unwrap_or_else(|_| db.to_path_buf());
    format!("migrate:{}:{}:last_log_id", tool.name(), db.display())
}

/// A value from an old config that is present and not blank.
fn non_blank(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}
