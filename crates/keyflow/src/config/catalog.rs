//! The catalogue of settings: for each one its file key, environment names
//! (canonical first, then the seed tools' aliases), flag and default.
//!
//! `resolve` reads the names from here and `--help` and the README table are
//! printed from here, so the three never drift apart.

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

const fn boot(
    key: &'static str,
    env: &'static [&'static str],
    flag: Option<&'static str>,
    default: &'static str,
    help: &'static str,
) -> SettingInfo {
    SettingInfo { key, env, flag, default, help, secret: false, runtime: false }
}

const fn live(
    key: &'static str,
    env: &'static [&'static str],
    flag: &'static str,
    default: &'static str,
    help: &'static str,
) -> SettingInfo {
    SettingInfo { key, env, flag: Some(flag), default, help, secret: false, runtime: true }
}

const fn hidden(info: SettingInfo) -> SettingInfo {
    SettingInfo { secret: true, ..info }
}

// Boot settings, fixed for the life of the process.
pub const BIND: SettingInfo = boot(
    "bind",
    &["KEYFLOW_BIND", "HOST", "PORT"],
    Some("--bind"),
    "127.0.0.1:7898",
    "listen address; HOST and PORT may each give one half",
);
pub const UPSTREAM_URL: SettingInfo = boot(
    "upstream_url",
    &["UPSTREAM_URL", "API_BASE_URL"],
    Some("--upstream-url"),
    super::DEFAULT_UPSTREAM_URL,
    "SiliconFlow base URL (a trailing /v1 is dropped)",
);
pub const DATABASE_URL: SettingInfo = boot(
    "database_url",
    &["DATABASE_URL", "DB_PATH"],
    Some("--database-url"),
    super::DEFAULT_DATABASE_URL,
    "sqlite://PATH or postgres://...; DB_PATH is a SQLite file path",
);
pub const DATABASE_POOL_SIZE: SettingInfo = boot(
    "database_pool_size",
    &["DATABASE_POOL_SIZE"],
    None,
    "10",
    "PostgreSQL connections per instance at most (SQLite uses four)",
);
pub const INSTANCE_NAME: SettingInfo = boot(
    "instance_name",
    &["INSTANCE_NAME"],
    None,
    "HOSTNAME:PORT",
    "this instance's name in log rows, /health and metrics (several instances share one database)",
);
pub const LOG_JOURNAL: SettingInfo = boot(
    "log_journal",
    &["LOG_JOURNAL"],
    None,
    super::DEFAULT_LOG_JOURNAL,
    "file that holds log rows while the database is unreachable (bounded, drained when it returns)",
);
pub const CLIENT_TOKENS: SettingInfo = hidden(boot(
    "client_tokens",
    &["API_KEY", "AUTH_API_KEY", "AUTHORIZATION_KEY"],
    Some("--api-key"),
    "none: gateway open",
    "client tokens, comma-separated",
));
pub const FREE_CLIENT_TOKENS: SettingInfo = hidden(boot(
    "free_client_tokens",
    &["FREE_API_KEY"],
    Some("--free-api-key"),
    "none",
    "client tokens limited to free models, comma-separated",
));
pub const ADMIN_USERNAME: SettingInfo =
    boot("admin_username", &["ADMIN_USERNAME"], Some("--admin-username"), "admin", "console login name");
pub const ADMIN_PASSWORD: SettingInfo = hidden(boot(
    "admin_password",
    &["ADMIN_PASSWORD"],
    Some("--admin-password"),
    "admin",
    "console password (required to listen beyond loopback)",
));
pub const KEYS_AT_START: SettingInfo = hidden(boot(
    "keys_at_start",
    &["KEYS", "API_KEYS"],
    Some("--startup-keys"),
    "none",
    "keys imported at start, comma/newline separated",
));
pub const TEST_MODEL: SettingInfo = boot(
    "test_model",
    &["TEST_MODEL"],
    Some("--test-model"),
    super::DEFAULT_TEST_MODEL,
    "model used to probe keys and models",
);
pub const FREE_MODEL_TEST_KEY: SettingInfo = hidden(boot(
    "free_model_test_key",
    &["FREE_MODEL_TEST_KEY"],
    Some("--free-model-test-key"),
    "a free key of the pool",
    "zero-balance key used to probe which models are free",
));
pub const PURGE_INVALID: SettingInfo = boot(
    "purge_invalid",
    &["PURGE_INVALID"],
    Some("--purge-invalid"),
    "false",
    "delete keys found invalid instead of marking them",
);
pub const MAX_BODY_BYTES: SettingInfo = boot(
    "max_body_bytes",
    &["MAX_BODY_BYTES"],
    Some("--max-body-bytes"),
    "64MiB",
    "request body limit: bytes, or 512k, 64MiB, 10MB...",
);
pub const ALLOWED_HOSTS: SettingInfo = boot(
    "allowed_hosts",
    &["ALLOWED_HOSTS"],
    None,
    "none: loopback names and IP addresses only",
    "host names served besides localhost and IP literals, comma list (checked on loopback binds, or whenever set)",
);
pub const CORS_ORIGINS: SettingInfo = boot(
    "cors_origins",
    &["CORS_ORIGINS"],
    None,
    "*",
    "browser origins allowed to call /v1 (comma list, * = any); never /api or the console",
);
pub const METRICS_TOKEN: SettingInfo = hidden(boot(
    "metrics_token",
    &["METRICS_TOKEN"],
    None,
    "none: admin credentials",
    "bearer token that may read /metrics and the full /health in private mode",
));
pub const MAX_CONNECTIONS: SettingInfo = boot(
    "max_connections",
    &["MAX_CONNECTIONS"],
    None,
    "16384",
    "open client connections at most; more are answered 503 and closed",
);
pub const HEADER_TIMEOUT: SettingInfo = boot(
    "header_timeout_secs",
    &["HEADER_TIMEOUT"],
    None,
    "30",
    "seconds a client has to send a request head; also how long an idle keep-alive connection stays open",
);
pub const BODY_TIMEOUT: SettingInfo = boot(
    "body_timeout_secs",
    &["BODY_TIMEOUT"],
    None,
    "30",
    "longest pause inside a request body, seconds; after it the body must average MIN_BODY_RATE",
);
pub const MIN_BODY_RATE: SettingInfo = boot(
    "min_body_rate",
    &["MIN_BODY_RATE"],
    None,
    "1k",
    "slowest average request-body rate accepted, bytes per second (0 = no minimum)",
);
pub const SECRET: SettingInfo =
    hidden(boot("secret", &["KEYFLOW_SECRET"], None, "none", "encrypts stored keys at rest"));
pub const LOG_LEVEL: SettingInfo = boot(
    "log_level",
    &["KEYFLOW_LOG", "RUST_LOG"],
    Some("--log-level"),
    "info",
    "log filter, e.g. info or keyflow=debug",
);

// Runtime settings: seed the database on first start, then edited live.
pub const KEY_STRATEGY: SettingInfo = live(
    "key_strategy",
    &["KEY_STRATEGY"],
    "--key-strategy",
    "balance_desc",
    "random, round_robin, balance_desc, balance_asc, oldest, newest, least_used, most_used, least_inflight",
);
pub const STICKY_SESSIONS: SettingInfo = live(
    "sticky_sessions",
    &["KEY_STICKY"],
    "--sticky-sessions",
    "false",
    "same `user` field or X-Session-Id header goes to the same key",
);
pub const KEY_RPM_LIMIT: SettingInfo =
    live("key_rpm_limit", &["KEY_RPM_LIMIT"], "--key-rpm-limit", "0 (off)", "requests per minute per key");
pub const MAX_RETRIES: SettingInfo = live(
    "max_retries",
    &["MAX_RETRIES"],
    "--max-retries",
    "3",
    "retries on another key after a transient failure (0..=16)",
);
pub const CONNECT_TIMEOUT: SettingInfo =
    live("connect_timeout_secs", &["CONNECT_TIMEOUT"], "--connect-timeout", "10", "upstream connect timeout, seconds");
pub const FIRST_BYTE_TIMEOUT: SettingInfo = live(
    "first_byte_timeout_secs",
    &["FIRST_BYTE_TIMEOUT"],
    "--first-byte-timeout",
    "300",
    "wait for upstream's first byte, seconds",
);
pub const IDLE_TIMEOUT: SettingInfo =
    live("idle_timeout_secs", &["IDLE_TIMEOUT"], "--idle-timeout", "120", "longest silence inside a response, seconds");
pub const AUTO_REFRESH_INTERVAL: SettingInfo = live(
    "auto_refresh_interval_secs",
    &["AUTO_REFRESH_INTERVAL"],
    "--auto-refresh-interval",
    "3600",
    "balance refresh interval, seconds (0 = off, else at least 60)",
);
pub const BAN_MODELS: SettingInfo =
    live("ban_models", &["BAN_MODELS"], "--ban-models", "none", "banned models: JSON array or comma list");
pub const FREE_MODELS: SettingInfo =
    live("free_models", &["FREE_MODELS"], "--free-models", "none", "extra free models: JSON array or comma list");
pub const ACCESS_CONTROL: SettingInfo = live(
    "access_control",
    &["ACCESS_CONTROL"],
    "--access-control",
    "private",
    "public dashboard: open, restricted (guest password) or private",
);
pub const GUEST_PASSWORD: SettingInfo = hidden(live(
    "guest_password",
    &["GUEST_PASSWORD"],
    "--guest-password",
    "none",
    "dashboard password in restricted mode",
));
pub const PAGE_SIZE: SettingInfo =
    live("page_size", &["PAGE_SIZE"], "--page-size", "50", "rows per page in the console (1..=1000)");
pub const LOG_RETENTION_DAYS: SettingInfo = live(
    "log_retention_days",
    &["LOG_RETENTION_DAYS"],
    "--log-retention-days",
    "30",
    "days request logs are kept (0 = forever)",
);
pub const STATS_TIME_ZONE: SettingInfo = live(
    "stats_time_zone",
    &["STATS_TZ", "TZ"],
    "--stats-tz",
    "machine local",
    "time zone of daily statistics, e.g. Asia/Shanghai or +08:00",
);
pub const MAX_IMAGES: SettingInfo = live(
    "image.max_images_per_request",
    &["MAX_IMAGES_PER_REQUEST"],
    "--max-images-per-request",
    "4",
    "cap on pic:N (1..=16)",
);
pub const IMAGE_PROMPT_MODEL: SettingInfo = live(
    "image.image_prompt_model",
    &["IMAGE_PROMPT_MODEL"],
    "--image-prompt-model",
    super::DEFAULT_TEST_MODEL,
    "model that expands image prompts",
);
pub const IMAGE_PROMPT_EXPANSION: SettingInfo = live(
    "image.prompt_expansion",
    &["IMAGE_PROMPT_EXPANSION"],
    "--image-prompt-expansion",
    "true",
    "rewrite image prompts into detailed English first",
);
pub const IMAGE_PROMPT_TIMEOUT: SettingInfo = live(
    "image.prompt_expansion_timeout_secs",
    &["IMAGE_PROMPT_TIMEOUT"],
    "--image-prompt-timeout",
    "20",
    "prompt expansion timeout, seconds",
);
pub const BANNED_KEYWORDS: SettingInfo = live(
    "image.banned_keywords",
    &["BANNED_KEYWORDS"],
    "--banned-keywords",
    super::DEFAULT_BANNED_KEYWORDS,
    "image prompts containing one of these are refused",
);
pub const USE_LSKY_PRO: SettingInfo =
    live("image.use_lsky_pro", &["USE_LSKY_PRO"], "--use-lsky-pro", "false", "re-host images on Lsky Pro");
pub const LSKY_URL: SettingInfo =
    live("image.lsky_url", &["LSKY_URL", "LSKY_PRO_URL"], "--lsky-url", "none", "Lsky Pro base URL");
pub const LSKY_TOKEN: SettingInfo =
    hidden(live("image.lsky_token", &["LSKY_TOKEN", "LSKY_PRO_TOKEN"], "--lsky-token", "none", "Lsky Pro API token"));
pub const USE_SHORTLINK: SettingInfo =
    live("image.use_shortlink", &["USE_SHORTLINK"], "--use-shortlink", "false", "shorten image links");
pub const SHORTLINK_URL: SettingInfo = live(
    "image.shortlink_url",
    &["SHORTLINK_URL", "SHORTLINK_BASE_URL"],
    "--shortlink-url",
    "none",
    "short-link service URL",
);
pub const SHORTLINK_API_KEY: SettingInfo = hidden(live(
    "image.shortlink_api_key",
    &["SHORTLINK_API_KEY"],
    "--shortlink-api-key",
    "none",
    "API key of a Sink short-link server: links are made with POST {SHORTLINK_URL}/api/link/create",
));

/// Every setting, boot settings first, in the order of the README table.
pub const SETTINGS: &[SettingInfo] = &[
    BIND,
    UPSTREAM_URL,
    DATABASE_URL,
    DATABASE_POOL_SIZE,
    INSTANCE_NAME,
    LOG_JOURNAL,
    CLIENT_TOKENS,
    FREE_CLIENT_TOKENS,
    ADMIN_USERNAME,
    ADMIN_PASSWORD,
    KEYS_AT_START,
    TEST_MODEL,
    FREE_MODEL_TEST_KEY,
    PURGE_INVALID,
    MAX_BODY_BYTES,
    ALLOWED_HOSTS,
    CORS_ORIGINS,
    METRICS_TOKEN,
    MAX_CONNECTIONS,
    HEADER_TIMEOUT,
    BODY_TIMEOUT,
    MIN_BODY_RATE,
    SECRET,
    LOG_LEVEL,
    KEY_STRATEGY,
    STICKY_SESSIONS,
    KEY_RPM_LIMIT,
    MAX_RETRIES,
    CONNECT_TIMEOUT,
    FIRST_BYTE_TIMEOUT,
    IDLE_TIMEOUT,
    AUTO_REFRESH_INTERVAL,
    BAN_MODELS,
    FREE_MODELS,
    ACCESS_CONTROL,
    GUEST_PASSWORD,
    PAGE_SIZE,
    LOG_RETENTION_DAYS,
    STATS_TIME_ZONE,
    MAX_IMAGES,
    IMAGE_PROMPT_MODEL,
    IMAGE_PROMPT_EXPANSION,
    IMAGE_PROMPT_TIMEOUT,
    BANNED_KEYWORDS,
    USE_LSKY_PRO,
    LSKY_URL,
    LSKY_TOKEN,
    USE_SHORTLINK,
    SHORTLINK_URL,
    SHORTLINK_API_KEY,
];

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
}
