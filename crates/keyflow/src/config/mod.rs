//! Configuration: flag > environment > keyflow.toml > default.
//!
//! [`load`] finds and reads the file, [`resolve`] merges the layers (pure,
//! so the precedence is unit-tested with a map for the environment). Boot
//! settings land in [`Config`]; the live ones in [`RuntimeSettings`], which
//! only seed the database: after the first start the console owns them.
//! Environment names of the five seed tools are accepted as aliases (the
//! canonical name wins when both are set).
//!
//! Each setting is declared once, in [`catalog`]; `declare.rs` generates
//! from the declarations the catalogue, the fields of [`Config`],
//! [`RuntimeSettings`], [`FileConfig`] and [`GlobalFlags`], their defaults
//! and the resolution of each setting.

pub mod catalog;
mod declare;
pub mod dotenv;
mod env;
mod explicit;
mod file;
mod flags;
mod modes;
pub mod parse;
mod resolve;
mod settings;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use catalog::{env_help, env_help_markdown, env_help_text, SettingInfo};
pub use catalog::{Config, EdgeConfig, FileConfig, FileImage, ImageSettings, RuntimeSettings};
pub use env::{EnvSource, ProcessEnv};
pub use explicit::apply_explicit;
pub use file::{SecretList, SecretText, SizeText, TextList};
pub use flags::GlobalFlags;
pub use modes::{AccessControl, Strategy};
pub use resolve::resolve;
pub use settings::{Problem, MAX_RETRIES_LIMIT, REDACTED};

#[cfg(test)]
use crate::secret::Secret;

/// The port of the default listen address (`catalog::BIND`).
pub const DEFAULT_PORT: u16 = catalog::BIND.default_number() as u16;
pub const DEFAULT_LOG_JOURNAL: &str = "data/log-journal-INSTANCE.jsonl";
/// PostgreSQL connections per instance: enough for the writers and the
/// console, few enough that many instances fit under `max_connections`
/// (`catalog::DATABASE_POOL_SIZE`).
pub const DEFAULT_DATABASE_POOL_SIZE: u32 = catalog::DATABASE_POOL_SIZE.default_number();
pub const DEFAULT_TEST_MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";
pub const DEFAULT_ADMIN_PASSWORD: &str = "admin";
/// The file read when neither `--config` nor `KEYFLOW_CONFIG` names one.
pub const DEFAULT_CONFIG_FILE: &str = "keyflow.toml";

impl Config {
    /// This instance's name: `INSTANCE_NAME`, else `HOSTNAME:PORT` (with
    /// the process id for a port picked at bind), unique on one machine.
    pub fn instance(&self) -> String {
        if let Some(name) = &self.instance_name {
            return name.clone();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "keyflow".to_string());
        match self.bind.port() {
            0 => format!("{host}:pid{}", std::process::id()),
            port => format!("{host}:{port}"),
        }
    }

    /// The log journal's file: `LOG_JOURNAL`, else one per instance name,
    /// so instances sharing a directory never share a journal.
    pub fn log_journal_path(&self, instance: &str) -> PathBuf {
        match &self.log_journal {
            Some(path) => path.clone(),
            None => {
                let name: String =
                    instance.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
                PathBuf::from(DEFAULT_LOG_JOURNAL.replace("INSTANCE", &name))
            }
        }
    }

    pub fn admin_password_is_default(&self) -> bool {
        self.admin_password.expose() == DEFAULT_ADMIN_PASSWORD
    }

    /// Refuses to listen beyond loopback while anyone could log in as
    /// `admin`/`admin`.
    pub fn check_bind_safety(&self) -> Result<(), ConfigError> {
        if !self.bind.ip().is_loopback() && self.admin_password_is_default() {
            return Err(ConfigError::UnsafeBind { bind: self.bind });
        }
        Ok(())
    }

    /// Where `key` (a file key such as `max_retries`) came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.origins.get(key).cloned().unwrap_or(Origin::Default)
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File { path: PathBuf, key: &'static str },
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::File { path, key } => write!(f, "`{key}` in {}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// Why the configuration cannot be used. Every message says which setting,
/// where its value came from, and what would be accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("config file {}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("invalid {setting} from {origin} ({value}): {expected}")]
    Value { setting: &'static str, origin: Origin, value: String, expected: String },
    #[error("{setting} (from {origin}) {message}")]
    Setting { setting: &'static str, origin: Origin, message: String },
    #[error(
        "refusing to listen on {bind} while the admin password is the default \"admin\": \
         set ADMIN_PASSWORD (or --admin-password) to a strong password (or change it in the console on a \
         loopback bind first), or bind to 127.0.0.1"
    )]
    UnsafeBind { bind: SocketAddr },
}

/// Loads the configuration: the TOML file named by `--config` or
/// `KEYFLOW_CONFIG` (an error if missing), else `./keyflow.toml` if it
/// exists, then [`resolve`].
pub fn load(flags: &GlobalFlags, process: &dyn EnvSource) -> Result<Config, ConfigError> {
    // `.env` in the working directory sits under the real environment.
    let dotenv_path = Path::new(".env");
    let env = dotenv::WithDotEnv::read(process, dotenv_path)
        .map_err(|source| ConfigError::Read { path: dotenv_path.to_path_buf(), source })?;
    let env = &env;
    let file = match config_path(flags, env) {
        (path, true) => Some(FileConfig::read(&path)?),
        (path, false) => match std::fs::read_to_string(&path) {
            Ok(text) => Some(FileConfig::from_toml_str(&text, &path)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(ConfigError::Read { path, source }),
        },
    };
    let mut config = resolve(flags, env, file)?;
    config.dotenv_vars = env.len();
    Ok(config)
}

/// The config file to read and whether it was asked for explicitly.
fn config_path(flags: &GlobalFlags, env: &dyn EnvSource) -> (PathBuf, bool) {
    if let Some(path) = &flags.config {
        return (path.clone(), true);
    }
    if let Some((_, path)) = env::first_set(env, &["KEYFLOW_CONFIG"]) {
        return (PathBuf::from(path.trim()), true);
    }
    (Path::new(DEFAULT_CONFIG_FILE).to_path_buf(), false)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn flags_with_config(path: Option<PathBuf>) -> GlobalFlags {
        GlobalFlags { config: path, ..GlobalFlags::default() }
    }

    #[test]
    fn bind_safety_needs_a_password_beyond_loopback() {
        let mut config = Config::default();
        assert!(config.admin_password_is_default());
        assert!(config.check_bind_safety().is_ok());
        config.bind = SocketAddr::from(([0, 0, 0, 0], 7898));
        let err = config.check_bind_safety().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("ADMIN_PASSWORD") && err.contains("127.0.0.1") && err.contains("0.0.0.0:7898"), "{err}");
        config.admin_password = Secret::new("a-strong-one");
        assert!(!config.admin_password_is_default());
        assert!(config.check_bind_safety().is_ok());
        config.bind = SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), 7898);
        config.admin_password = Secret::new(DEFAULT_ADMIN_PASSWORD);
        assert!(config.check_bind_safety().is_ok());
    }

    #[test]
    fn explicit_config_file_must_exist() {
        let env = HashMap::new();
        let err = load(&flags_with_config(Some("/nonexistent/k.toml".into())), &env).err();
        assert!(matches!(err, Some(ConfigError::Read { .. })), "{err:?}");
        let env: HashMap<String, String> =
            [("KEYFLOW_CONFIG".to_string(), "/nonexistent/env.toml".to_string())].into_iter().collect();
        let err = load(&flags_with_config(None), &env).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("/nonexistent/env.toml"), "{err}");
    }

    #[test]
    fn load_reads_the_named_file() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("k.toml");
        std::fs::write(&path, "max_retries = 7\nbind = \"127.0.0.1:9\"\n")?;
        let env: HashMap<String, String> =
            [("KEYFLOW_CONFIG".to_string(), path.display().to_string())].into_iter().collect();
        let config = load(&flags_with_config(None), &env)?;
        assert_eq!(config.runtime.max_retries, 7);
        assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 9)));
        assert_eq!(config.config_file.as_deref(), Some(path.as_path()));
        assert_eq!(config.origin("max_retries"), Origin::File { path: path.clone(), key: "max_retries" });
        assert_eq!(config.origin("page_size"), Origin::Default);

        std::fs::write(&path, "max_retris = 7\n")?;
        let err = load(&flags_with_config(Some(path.clone())), &HashMap::new()).err().map(|e| e.to_string());
        assert!(err.as_deref().is_some_and(|e| e.contains("max_retris") && e.contains("k.toml")), "{err:?}");
        Ok(())
    }
}
