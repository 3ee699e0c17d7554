//! The global flags: one per setting, the command-line layer of the
//! configuration (flag > environment > `keyflow.toml` > default). They are
//! defined here, beside the catalogue they mirror (`catalog`), so that
//! `config` takes what it resolves as plain data and never reaches up to
//! the command line; `cli` flattens them into `keyflow`'s arguments.
//!
//! Values are parsed with [`parse`], so a flag accepts what its environment
//! variable accepts. `None` = not given on the command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::{parse, AccessControl, Strategy};
use crate::secret::Secret;

const SERVER: &str = "Server";
const RUNTIME: &str = "Live settings (seed the database on first start)";
const IMAGES: &str = "Images through chat";

/// Flags for every setting. `None` = not given on the command line.
/// Runtime and image flags show only in `--help`, not `-h`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct GlobalFlags {
    /// TOML config file [env: KEYFLOW_CONFIG] [default: ./keyflow.toml if present]
    #[arg(long, global = true, value_name = "PATH", help_heading = SERVER)]
    pub config: Option<PathBuf>,
    /// Listen address [env: KEYFLOW_BIND, or HOST + PORT] [default: 127.0.0.1:7898]
    #[arg(long, global = true, value_name = "ADDR", value_parser = parse::socket_addr, help_heading = SERVER)]
    pub bind: Option<SocketAddr>,
    /// SiliconFlow base URL [env: UPSTREAM_URL, API_BASE_URL]
    #[arg(long, global = true, value_name = "URL", value_parser = parse::upstream_url, help_heading = SERVER)]
    pub upstream_url: Option<String>,
    /// sqlite://PATH or postgres://... [env: DATABASE_URL, DB_PATH]
    #[arg(long, global = true, value_name = "URL", value_parser = parse::database_url, help_heading = SERVER)]
    pub database_url: Option<String>,
    /// Console login name [env: ADMIN_USERNAME] [default: admin]
    #[arg(long, global = true, value_name = "NAME", value_parser = parse::text, help_heading = SERVER)]
    pub admin_username: Option<String>,
    /// Console password [env: ADMIN_PASSWORD] [default: admin]
    #[arg(long, global = true, value_name = "PASSWORD", value_parser = parse::secret, help_heading = SERVER)]
    pub admin_password: Option<Secret>,
    /// Client tokens, comma-separated; "" = open gateway [env: API_KEY, AUTH_API_KEY, AUTHORIZATION_KEY]
    #[arg(long, global = true, value_name = "TOKENS", value_parser = parse_raw_secret, help_heading = SERVER)]
    pub api_key: Option<Secret>,
    /// Tokens limited to free models, comma-separated [env: FREE_API_KEY]
    #[arg(long, global = true, value_name = "TOKENS", value_parser = parse_raw_secret, help_heading = SERVER)]
    pub free_api_key: Option<Secret>,
    /// Keys to import at start, comma/newline separated [env: KEYS, API_KEYS]
    #[arg(long, global = true, value_name = "KEYS", value_parser = parse::secret, help_heading = SERVER)]
    pub startup_keys: Option<Secret>,
    /// Model used to probe keys and models [env: TEST_MODEL]
    #[arg(long, global = true, value_name = "MODEL", value_parser = parse::text, help_heading = SERVER)]
    pub test_model: Option<String>,
    /// Zero-balance key used to probe free models [env: FREE_MODEL_TEST_KEY]
    #[arg(long, global = true, value_name = "KEY", value_parser = parse::secret, help_heading = SERVER)]
    pub free_model_test_key: Option<Secret>,
    /// Delete keys found invalid [env: PURGE_INVALID]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, help_heading = SERVER)]
    pub purge_invalid: Option<bool>,
    /// Request body limit, e.g. 64MiB [env: MAX_BODY_BYTES]
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse::byte_size, help_heading = SERVER)]
    pub max_body_bytes: Option<usize>,
    /// Log filter, e.g. info or keyflow=debug [env: KEYFLOW_LOG, RUST_LOG]
    #[arg(long, global = true, value_name = "FILTER", value_parser = parse::text, help_heading = SERVER)]
    pub log_level: Option<String>,

    /// Key selection strategy [env: KEY_STRATEGY] [default: balance_desc]
    #[arg(long, global = true, value_name = "NAME", value_parser = parse::strategy, hide_short_help = true,
          help_heading = RUNTIME)]
    pub key_strategy: Option<Strategy>,
    /// Same session, same key [env: KEY_STICKY]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, hide_short_help = true, help_heading = RUNTIME)]
    pub sticky_sessions: Option<bool>,
    /// Requests per minute per key, 0 = no cap [env: KEY_RPM_LIMIT]
    #[arg(long, global = true, value_name = "N", hide_short_help = true, help_heading = RUNTIME)]
    pub key_rpm_limit: Option<u32>,
    /// Retries after a transient failure [env: MAX_RETRIES] [default: 3]
    #[arg(long, global = true, value_name = "N", hide_short_help = true, help_heading = RUNTIME)]
    pub max_retries: Option<u32>,
    /// Upstream connect timeout, seconds [env: CONNECT_TIMEOUT] [default: 10]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = RUNTIME)]
    pub connect_timeout: Option<u64>,
    /// Wait for upstream's first byte, seconds [env: FIRST_BYTE_TIMEOUT] [default: 300]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = RUNTIME)]
    pub first_byte_timeout: Option<u64>,
    /// Longest silence inside a response, seconds [env: IDLE_TIMEOUT] [default: 120]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = RUNTIME)]
    pub idle_timeout: Option<u64>,
    /// Balance refresh interval, seconds, 0 = off [env: AUTO_REFRESH_INTERVAL] [default: 3600]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = RUNTIME)]
    pub auto_refresh_interval: Option<u64>,
    /// Banned models: JSON array or comma list [env: BAN_MODELS]
    #[arg(long, global = true, value_name = "LIST", hide_short_help = true, help_heading = RUNTIME)]
    pub ban_models: Option<String>,
    /// Extra free models: JSON array or comma list [env: FREE_MODELS]
    #[arg(long, global = true, value_name = "LIST", hide_short_help = true, help_heading = RUNTIME)]
    pub free_models: Option<String>,
    /// Public dashboard: open, restricted or private [env: ACCESS_CONTROL] [default: private]
    #[arg(long, global = true, value_name = "MODE", value_parser = parse::access_control, hide_short_help = true,
          help_heading = RUNTIME)]
    pub access_control: Option<AccessControl>,
    /// Dashboard password in restricted mode [env: GUEST_PASSWORD]
    #[arg(long, global = true, value_name = "PASSWORD", value_parser = parse::secret, hide_short_help = true,
          help_heading = RUNTIME)]
    pub guest_password: Option<Secret>,
    /// Rows per console page, 1..=1000 [env: PAGE_SIZE] [default: 50]
    #[arg(long, global = true, value_name = "N", hide_short_help = true, help_heading = RUNTIME)]
    pub page_size: Option<u32>,
    /// Days logs are kept, 0 = forever [env: LOG_RETENTION_DAYS] [default: 30]
    #[arg(long, global = true, value_name = "DAYS", hide_short_help = true, help_heading = RUNTIME)]
    pub log_retention_days: Option<u32>,
    /// Time zone of daily statistics [env: STATS_TZ, TZ] [default: machine local]
    #[arg(long, global = true, value_name = "ZONE", value_parser = parse::time_zone, hide_short_help = true,
          help_heading = RUNTIME)]
    pub stats_tz: Option<String>,

    /// Cap on pic:N [env: MAX_IMAGES_PER_REQUEST] [default: 4]
    #[arg(long, global = true, value_name = "N", hide_short_help = true, help_heading = IMAGES)]
    pub max_images_per_request: Option<u32>,
    /// Model that expands image prompts [env: IMAGE_PROMPT_MODEL]
    #[arg(long, global = true, value_name = "MODEL", value_parser = parse::text, hide_short_help = true,
          help_heading = IMAGES)]
    pub image_prompt_model: Option<String>,
    /// Expand image prompts first [env: IMAGE_PROMPT_EXPANSION] [default: true]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, hide_short_help = true, help_heading = IMAGES)]
    pub image_prompt_expansion: Option<bool>,
    /// Prompt expansion timeout, seconds [env: IMAGE_PROMPT_TIMEOUT] [default: 20]
    #[arg(long, global = true, value_name = "SECS", hide_short_help = true, help_heading = IMAGES)]
    pub image_prompt_timeout: Option<u64>,
    /// Words refused in image prompts, comma list [env: BANNED_KEYWORDS]
    #[arg(long, global = true, value_name = "LIST", hide_short_help = true, help_heading = IMAGES)]
    pub banned_keywords: Option<String>,
    /// Re-host images on Lsky Pro [env: USE_LSKY_PRO]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, hide_short_help = true, help_heading = IMAGES)]
    pub use_lsky_pro: Option<bool>,
    /// Lsky Pro base URL [env: LSKY_URL]
    #[arg(long, global = true, value_name = "URL", value_parser = parse::http_url, hide_short_help = true,
          help_heading = IMAGES)]
    pub lsky_url: Option<String>,
    /// Lsky Pro API token [env: LSKY_TOKEN]
    #[arg(long, global = true, value_name = "TOKEN", value_parser = parse::secret, hide_short_help = true,
          help_heading = IMAGES)]
    pub lsky_token: Option<Secret>,
    /// Shorten image links [env: USE_SHORTLINK]
    #[arg(long, global = true, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse::boolean, hide_short_help = true, help_heading = IMAGES)]
    pub use_shortlink: Option<bool>,
    /// Short-link service URL [env: SHORTLINK_URL]
    #[arg(long, global = true, value_name = "URL", value_parser = parse::http_url, hide_short_help = true,
          help_heading = IMAGES)]
    pub shortlink_url: Option<String>,
    /// Sink short-link API key [env: SHORTLINK_API_KEY]
    #[arg(long, global = true, value_name = "KEY", value_parser = parse::secret, hide_short_help = true,
          help_heading = IMAGES)]
    pub shortlink_api_key: Option<Secret>,
}

/// Token lists may be empty (`--api-key ""` opens the gateway), so they
/// skip the non-blank check of [`parse::secret`].
fn parse_raw_secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text))
}
