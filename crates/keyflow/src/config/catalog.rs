//! The catalogue of settings: each one declared once, below, with its file
//! key, environment names (canonical first, then the seed tools' aliases),
//! flag, default, parser and help.
//!
//! Everything else is generated from the declarations (`declare.rs`): the
//! [`SettingInfo`] entries that `--help` and the README table are printed
//! from, the typed fields and defaults of [`Config`], [`EdgeConfig`],
//! [`RuntimeSettings`] and [`ImageSettings`], the TOML keys of
//! [`FileConfig`], the clap fields of [`GlobalFlags`] and the resolution of
//! each setting (`resolve_settings`). A new boot setting is one declaration
//! in the `boot` block, and then its use as `config.field`:
//!
//! ```text
//! /// seconds a stalled upstream stream is given before it is cut
//! STALL_TIMEOUT stall_timeout_secs: u64 {
//!     env ["STALL_TIMEOUT"], parse parse::number, default "60", file u64,
//!     flag stall_timeout: u64 [SECS], "Cut stalled streams after, seconds {env} {default}";
//! }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::declare::settings;
use super::file::{SecretList, SecretText, SizeText, TextList};
use super::modes::{AccessControl, Strategy};
use super::parse::{self, some};
use super::resolve::edge;
use super::resolve::via::{from_file, from_flag};
use super::resolve::Layers;
use super::{DEFAULT_ADMIN_PASSWORD, DEFAULT_LOG_JOURNAL, DEFAULT_TEST_MODEL};
use crate::secret::Secret;

/// One setting as an operator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingInfo {
    /// Key in `keyflow.toml` and field name in `/api/settings` JSON
    /// (`image.*` lives in the `[image]` table).
    pub key: &'static str,
    /// Environment variables, canonical first: the first one set wins.
    pub env: &'static [&'static str],
    /// The global command-line flag, if there is one.
    pub flag: Option<&'static str>,
    /// The default, as shown in help.
    pub default: &'static str,
    /// What the setting does, in one line.
    pub help: &'static str,
    /// The value never appears in messages.
    pub secret: bool,
    /// Part of [`super::RuntimeSettings`]: seeds the database, editable live.
    pub runtime: bool,
}

impl SettingInfo {
    /// The whole number that ends the default text (`10`, or the port of
    /// `127.0.0.1:7898`), read at compile time so that constants such as
    /// [`super::DEFAULT_PORT`] repeat nothing.
    pub const fn default_number(&self) -> u32 {
        let bytes = self.default.as_bytes();
        let mut start = bytes.len();
        while start > 0 && bytes[start - 1].is_ascii_digit() {
            start -= 1;
        }
        let mut number = 0;
        while start < bytes.len() {
            number = number * 10 + (bytes[start] - b'0') as u32;
            start += 1;
        }
        number
    }
}

settings! {
    boot {
        /// listen address; HOST and PORT may each give one half
        BIND bind: SocketAddr {
            env ["KEYFLOW_BIND", "HOST", "PORT"], parse parse::socket_addr, default "127.0.0.1:7898", file String,
            flag bind: SocketAddr [ADDR] by parse::socket_addr,
                "Listen address [env: KEYFLOW_BIND, or HOST + PORT] {default}";
            pick Layers::bind;
        }
        /// SiliconFlow base URL (a trailing /v1 is dropped)
        UPSTREAM_URL upstream_url: String {
            env ["UPSTREAM_URL", "API_BASE_URL"], parse parse::upstream_url, default "https://api.siliconflow.cn",
            file String, flag upstream_url: String [URL] by parse::upstream_url, "SiliconFlow base URL {env}";
        }
        /// sqlite://PATH or postgres://...; DB_PATH is a SQLite file path
        DATABASE_URL database_url: String {
            env ["DATABASE_URL", "DB_PATH"], parse parse::database_url, default "sqlite://data/keyflow.db",
            file String,
            flag database_url: String [URL] by parse::database_url, "sqlite://PATH or postgres://... {env}";
            pick Layers::database;
        }
        /// PostgreSQL connections per instance at most (SQLite uses four)
        DATABASE_POOL_SIZE database_pool_size: u32 {
            env ["DATABASE_POOL_SIZE"], parse parse::pool_size, default "10", file u32,
        }
        /// this instance's name in log rows, /health and metrics (several instances share one database)
        INSTANCE_NAME instance_name: Option<String> {
            env ["INSTANCE_NAME"], parse some(parse::instance_name), unset "HOSTNAME:PORT", file String,
        }
        /// file that holds log rows while the database is unreachable (bounded, drained when it returns)
        LOG_JOURNAL log_journal: Option<PathBuf> {
            env ["LOG_JOURNAL"], parse some(parse::path), unset DEFAULT_LOG_JOURNAL, file String,
        }
        /// client tokens, comma-separated
        CLIENT_TOKENS client_tokens: Vec<Secret> [secret] {
            env ["API_KEY", "AUTH_API_KEY", "AUTHORIZATION_KEY"], parse parse::token_list, unset "none: gateway open",
            file SecretList => from_file::tokens,
            flag api_key: Secret [TOKENS] by parse::raw_secret => from_flag::tokens,
                "Client tokens, comma-separated; \"\" = open gateway {env}";
        }
        /// client tokens limited to free models, comma-separated
        FREE_CLIENT_TOKENS free_client_tokens: Vec<Secret> [secret] {
            env ["FREE_API_KEY"], parse parse::token_list, unset "none", file SecretList => from_file::tokens,
            flag free_api_key: Secret [TOKENS] by parse::raw_secret => from_flag::tokens,
                "Tokens limited to free models, comma-separated {env}";
        }
        /// console login name
        ADMIN_USERNAME admin_username: String {
            env ["ADMIN_USERNAME"], parse parse::text, default "admin", file String,
            flag admin_username: String [NAME] by parse::text, "Console login name {env} {default}",
                before client_tokens;
        }
        /// console password (required to listen beyond loopback)
        ADMIN_PASSWORD admin_password: Secret [secret] {
            env ["ADMIN_PASSWORD"], parse parse::secret, default DEFAULT_ADMIN_PASSWORD, file SecretText,
            flag admin_password: Secret [PASSWORD] by parse::secret, "Console password {env} {default}",
                before client_tokens;
        }
        /// keys imported at start, comma/newline separated
        KEYS_AT_START keys_at_start: Option<Secret> [secret] {
            env ["KEYS", "API_KEYS"], parse parse::key_text, unset "none", file SecretList,
            flag startup_keys: Secret [KEYS] by parse::secret => from_flag::some,
                "Keys to import at start, comma/newline separated {env}";
        }
        /// model used to probe keys and models
        TEST_MODEL test_model: String {
            env ["TEST_MODEL"], parse parse::text, default DEFAULT_TEST_MODEL, file String,
            flag test_model: String [MODEL] by parse::text, "Model used to probe keys and models {env}";
        }
        /// zero-balance key used to probe which models are free
        FREE_MODEL_TEST_KEY free_model_test_key: Option<Secret> [secret] {
            env ["FREE_MODEL_TEST_KEY"], parse some(parse::secret), unset "a free key of the pool", file SecretText,
            flag free_model_test_key: Secret [KEY] by parse::secret => from_flag::some,
                "Zero-balance key used to probe free models {env}";
        }
        /// delete keys found invalid instead of marking them
        PURGE_INVALID purge_invalid: bool {
            env ["PURGE_INVALID"], parse parse::boolean, default "false", file bool,
            switch purge_invalid, "Delete keys found invalid {env}";
        }
        /// request body limit: bytes, or 512k, 64MiB, 10MB...
        MAX_BODY_BYTES max_body_bytes: usize {
            env ["MAX_BODY_BYTES"], parse parse::byte_size, default "64MiB", file SizeText,
            flag max_body_bytes: usize [SIZE] by parse::byte_size, "Request body limit, e.g. 64MiB {env}";
        }
    }
    edge {
        /// host names served besides localhost and IP literals, comma list (checked on loopback binds, or whenever set)
        ALLOWED_HOSTS allowed_hosts: Vec<String> {
            env ["ALLOWED_HOSTS"], parse edge::hosts, unset "none: loopback names and IP addresses only",
            file TextList => from_file::joined_list,
        }
        /// browser origins allowed to call /v1 (comma list, * = any); never /api or the console
        CORS_ORIGINS cors_origins: Vec<String> {
            env ["CORS_ORIGINS"], parse edge::origins, default "*", file TextList => from_file::joined_list,
        }
        /// bearer token that may read /metrics and the full /health in private mode
        METRICS_TOKEN metrics_token: Option<Secret> [secret] {
            env ["METRICS_TOKEN"], parse some(parse::secret), unset "none: admin credentials", file SecretText,
        }
        /// open client connections at most; more are answered 503 and closed
        MAX_CONNECTIONS max_connections: usize {
            env ["MAX_CONNECTIONS"], parse edge::connections, default "16384", file usize,
        }
        /// seconds a client has to send a request head; also how long an idle keep-alive connection stays open
        HEADER_TIMEOUT header_timeout as "header_timeout_secs": Duration {
            env ["HEADER_TIMEOUT"], parse edge::timeout, default "30", file u64,
        }
        /// longest pause inside a request body, seconds; after it the body must average MIN_BODY_RATE
        BODY_TIMEOUT body_timeout as "body_timeout_secs": Duration {
            env ["BODY_TIMEOUT"], parse edge::timeout, default "30", file u64,
        }
        /// slowest average request-body rate accepted, bytes per second (0 = no minimum)
        MIN_BODY_RATE min_body_rate: u64 {
            env ["MIN_BODY_RATE"], parse edge::body_rate, default "1k", file SizeText,
        }
    }
    boot {
        /// encrypts stored keys at rest
        SECRET secret: Option<Secret> [secret] {
            // No flag: a secret on the command line shows in `ps`.
            env ["KEYFLOW_SECRET"], parse some(parse::secret), unset "none", file SecretText,
        }
        /// log filter, e.g. info or keyflow=debug
        LOG_LEVEL log_level: String {
            env ["KEYFLOW_LOG", "RUST_LOG"], parse parse::text, default "info", file String,
            flag log_level: String [FILTER] by parse::text, "Log filter, e.g. info or keyflow=debug {env}";
        }
    }
    live {
        /// random, round_robin, balance_desc, balance_asc, oldest, newest, least_used, most_used, least_inflight
        KEY_STRATEGY key_strategy: Strategy {
            env ["KEY_STRATEGY"], parse parse::strategy, default "balance_desc", file Strategy,
            flag key_strategy: Strategy [NAME] by parse::strategy, "Key selection strategy {env} {default}";
        }
        /// same `user` field or X-Session-Id header goes to the same key
        STICKY_SESSIONS sticky_sessions: bool {
            env ["KEY_STICKY"], parse parse::boolean, default "false", file bool,
            switch sticky_sessions, "Same session, same key {env}";
        }
        /// requests per minute per key
        KEY_RPM_LIMIT key_rpm_limit: Option<u32> {
            env ["KEY_RPM_LIMIT"], parse parse::rpm_limit, unset "0 (off)", file u32,
            flag key_rpm_limit: u32 [N] => from_flag::nonzero, "Requests per minute per key, 0 = no cap {env}";
        }
        /// retries on another key after a transient failure (0..=16)
        MAX_RETRIES max_retries: u32 {
            env ["MAX_RETRIES"], parse parse::number, default "3", file u32,
            flag max_retries: u32 [N], "Retries after a transient failure {env} {default}";
        }
        /// upstream connect timeout, seconds
        CONNECT_TIMEOUT connect_timeout_secs: u64 {
            env ["CONNECT_TIMEOUT"], parse parse::number, default "10", file u64,
            flag connect_timeout: u64 [SECS], "Upstream connect timeout, seconds {env} {default}";
        }
        /// wait for upstream's first byte, seconds
        FIRST_BYTE_TIMEOUT first_byte_timeout_secs: u64 {
            env ["FIRST_BYTE_TIMEOUT"], parse parse::number, default "300", file u64,
            flag first_byte_timeout: u64 [SECS], "Wait for upstream's first byte, seconds {env} {default}";
        }
        /// longest silence inside a response, seconds
        IDLE_TIMEOUT idle_timeout_secs: u64 {
            env ["IDLE_TIMEOUT"], parse parse::number, default "120", file u64,
            flag idle_timeout: u64 [SECS], "Longest silence inside a response, seconds {env} {default}";
        }
        /// balance refresh interval, seconds (0 = off, else at least 60)
        AUTO_REFRESH_INTERVAL auto_refresh_interval_secs: u64 {
            env ["AUTO_REFRESH_INTERVAL"], parse parse::number, default "3600", file u64,
            flag auto_refresh_interval: u64 [SECS], "Balance refresh interval, seconds, 0 = off {env} {default}";
        }
        /// banned models: JSON array or comma list
        BAN_MODELS ban_models: Vec<String> {
            env ["BAN_MODELS"], parse parse::list, unset "none", file TextList => from_file::list,
            flag ban_models: String [LIST] => from_flag::parsed, "Banned models: JSON array or comma list {env}";
        }
        /// extra free models: JSON array or comma list
        FREE_MODELS free_models: Vec<String> {
            env ["FREE_MODELS"], parse parse::list, unset "none", file TextList => from_file::list,
            flag free_models: String [LIST] => from_flag::parsed, "Extra free models: JSON array or comma list {env}";
        }
        /// public dashboard: open, restricted (guest password) or private
        ACCESS_CONTROL access_control: AccessControl {
            env ["ACCESS_CONTROL"], parse parse::access_control, default "private", file AccessControl,
            flag access_control: AccessControl [MODE] by parse::access_control,
                "Public dashboard: open, restricted or private {env} {default}";
        }
        /// dashboard password in restricted mode
        GUEST_PASSWORD guest_password: Option<String> [secret] {
            env ["GUEST_PASSWORD"], parse some(parse::text), unset "none", file SecretText,
            flag guest_password: Secret [PASSWORD] by parse::secret => from_flag::exposed,
                "Dashboard password in restricted mode {env}";
        }
        /// rows per page in the console (1..=1000)
        PAGE_SIZE page_size: u32 {
            env ["PAGE_SIZE"], parse parse::number, default "50", file u32,
            flag page_size: u32 [N], "Rows per console page, 1..=1000 {env} {default}";
        }
        /// days request logs are kept (0 = forever)
        LOG_RETENTION_DAYS log_retention_days: u32 {
            env ["LOG_RETENTION_DAYS"], parse parse::number, default "30", file u32,
            flag log_retention_days: u32 [DAYS], "Days logs are kept, 0 = forever {env} {default}";
        }
        /// time zone of daily statistics, e.g. Asia/Shanghai or +08:00
        STATS_TIME_ZONE stats_time_zone: Option<String> {
            env ["STATS_TZ", "TZ"], parse some(parse::time_zone), unset "machine local", file String,
            flag stats_tz: String [ZONE] by parse::time_zone => from_flag::some,
                "Time zone of daily statistics {env} {default}";
        }
    }
    image {
        /// cap on pic:N (1..=16)
        MAX_IMAGES max_images_per_request: u32 {
            env ["MAX_IMAGES_PER_REQUEST"], parse parse::number, default "4", file u32,
            flag max_images_per_request: u32 [N], "Cap on pic:N {env} {default}";
        }
        /// model that expands image prompts
        IMAGE_PROMPT_MODEL image_prompt_model: String {
            env ["IMAGE_PROMPT_MODEL"], parse parse::text, default DEFAULT_TEST_MODEL, file String,
            flag image_prompt_model: String [MODEL] by parse::text, "Model that expands image prompts {env}";
        }
        /// rewrite image prompts into detailed English first
        IMAGE_PROMPT_EXPANSION prompt_expansion: bool {
            env ["IMAGE_PROMPT_EXPANSION"], parse parse::boolean, default "true", file bool,
            switch image_prompt_expansion, "Expand image prompts first {env} {default}";
        }
        /// prompt expansion timeout, seconds
        IMAGE_PROMPT_TIMEOUT prompt_expansion_timeout_secs: u64 {
            env ["IMAGE_PROMPT_TIMEOUT"], parse parse::number, default "20", file u64,
            flag image_prompt_timeout: u64 [SECS], "Prompt expansion timeout, seconds {env} {default}";
        }
        /// image prompts containing one of these are refused
        BANNED_KEYWORDS banned_keywords: Vec<String> {
            env ["BANNED_KEYWORDS"], parse parse::list, default "porn,nude,naked,sex,xxx,adult",
            file TextList => from_file::list,
            flag banned_keywords: String [LIST] => from_flag::parsed,
                "Words refused in image prompts, comma list {env}";
        }
        /// re-host images on Lsky Pro
        USE_LSKY_PRO use_lsky_pro: bool {
            env ["USE_LSKY_PRO"], parse parse::boolean, default "false", file bool,
            switch use_lsky_pro, "Re-host images on Lsky Pro {env}";
        }
        /// Lsky Pro base URL
        LSKY_URL lsky_url: Option<String> {
            env ["LSKY_URL", "LSKY_PRO_URL"], parse some(parse::http_url), unset "none", file String,
            flag lsky_url: String [URL] by parse::http_url => from_flag::some, "Lsky Pro base URL [env: LSKY_URL]";
        }
        /// Lsky Pro API token
        LSKY_TOKEN lsky_token: Option<String> [secret] {
            env ["LSKY_TOKEN", "LSKY_PRO_TOKEN"], parse some(parse::text), unset "none", file SecretText,
            flag lsky_token: Secret [TOKEN] by parse::secret => from_flag::exposed,
                "Lsky Pro API token [env: LSKY_TOKEN]";
        }
        /// shorten image links
        USE_SHORTLINK use_shortlink: bool {
            env ["USE_SHORTLINK"], parse parse::boolean, default "false", file bool,
            switch use_shortlink, "Shorten image links {env}";
        }
        /// short-link service URL
        SHORTLINK_URL shortlink_url: Option<String> {
            env ["SHORTLINK_URL", "SHORTLINK_BASE_URL"], parse some(parse::http_url), unset "none", file String,
            flag shortlink_url: String [URL] by parse::http_url => from_flag::some,
                "Short-link service URL [env: SHORTLINK_URL]";
        }
        /// API key of a Sink short-link server: links are made with POST {SHORTLINK_URL}/api/link/create
        SHORTLINK_API_KEY shortlink_api_key: Option<String> [secret] {
            env ["SHORTLINK_API_KEY"], parse some(parse::text), unset "none", file SecretText,
            flag shortlink_api_key: Secret [KEY] by parse::secret => from_flag::exposed,
                "Sink short-link API key {env}";
        }
    }
}

/// The catalogue entry for a file key, e.g. `"max_retries"` or `"image.lsky_url"`.
pub fn find(key: &str) -> Option<&'static SettingInfo> {
    SETTINGS.iter().find(|info| info.key == key)
}

/// Every setting: key, environment names, flag, default and meaning.
pub fn env_help() -> &'static [SettingInfo] {
    SETTINGS
}

/// The end of `--help`: the precedence, and the settings with no flag.
pub fn help_footer() -> String {
    let mut out = String::from(
        "Precedence: flag > environment variable > keyflow.toml (--config, KEYFLOW_CONFIG, \
         ./keyflow.toml) > default.\nLive settings seed the database on first start; after \
         that the console edits them.\n",
    );
    for info in SETTINGS.iter().filter(|info| info.flag.is_none()) {
        out.push_str(&format!("Environment or file only: {} ({})\n", info.env.join(", "), info.help));
    }
    out
}

/// The settings as a plain-text table (variables, meaning, default).
pub fn env_help_text() -> String {
    let mut out = String::from(
        "Configuration: flag > environment variable > keyflow.toml (--config, KEYFLOW_CONFIG, ./keyflow.toml) > default.\n\
         Runtime settings (marked *) seed the database on first start and are then edited in the console.\n\n",
    );
    for info in SETTINGS {
        let star = if info.runtime { "*" } else { " " };
        out.push_str(&format!("{star} {:<28} {}\n", info.env.join(", "), info.help));
        out.push_str(&format!("  {:<28} default: {}\n", "", info.default));
    }
    out
}

/// The settings as a Markdown table, for the README.
pub fn env_help_markdown() -> String {
    let mut out = String::from("| setting | env (aliases) | flag | default |\n|---|---|---|---|\n");
    for info in SETTINGS {
        let env: Vec<String> = info.env.iter().map(|name| format!("`{name}`")).collect();
        let flag = info.flag.map(|f| format!("`{f}`")).unwrap_or_default();
        out.push_str(&format!("| `{}` | {} | {flag} | {} |\n", info.key, env.join(", "), info.default));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_env_names_are_unique() {
        let mut keys: Vec<&str> = SETTINGS.iter().map(|i| i.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
        let mut names: Vec<&str> = SETTINGS.iter().flat_map(|i| i.env.iter().copied()).collect();
        let n_names = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n_names);
    }

    #[test]
    fn help_lists_every_env_name() {
        let text = env_help_text();
        let markdown = env_help_markdown();
        for info in SETTINGS {
            for name in info.env {
                assert!(text.contains(name), "{name} missing from --help");
                assert!(markdown.contains(name), "{name} missing from the README table");
            }
        }
        assert!(help_footer().contains("KEYFLOW_SECRET"));
        assert_eq!(find("image.lsky_url"), Some(&LSKY_URL));
        assert_eq!(find("nope"), None);
    }

    #[test]
    fn every_default_parses() {
        // `parsed_default` reads each default text; a text that does not
        // parse fails here rather than at start.
        let config = Config::default();
        assert_eq!(config.bind.port(), crate::config::DEFAULT_PORT);
        assert_eq!(config.database_pool_size, crate::config::DEFAULT_DATABASE_POOL_SIZE);
        assert_eq!(config.edge.header_timeout, Duration::from_secs(30));
        assert_eq!(config.edge.min_body_rate, 1024);
        assert_eq!(config.edge.cors_origins, ["*"]);
        assert_eq!(RuntimeSettings::default().key_strategy, Strategy::default());
    }

    #[test]
    fn every_flag_names_its_variable() {
        let command = <GlobalFlags as clap::Args>::augment_args(clap::Command::new("keyflow"));
        for info in SETTINGS {
            let Some(flag) = info.flag else { continue };
            let arg =
                command.get_arguments().find(|arg| arg.get_long().is_some_and(|long| flag == format!("--{long}")));
            let help = arg.and_then(|arg| arg.get_help()).map(|help| help.to_string()).unwrap_or_default();
            assert!(help.contains(&format!("[env: {}", info.env[0])), "{flag}: {help}");
        }
    }
}
