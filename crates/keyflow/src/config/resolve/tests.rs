//! Precedence, aliases and error messages of `resolve`, with a map for the
//! environment (never `std::env::set_var`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;

use super::*;
use crate::config::{AccessControl, Origin, Strategy};

type Env = HashMap<String, String>;

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn file(text: &str) -> Result<FileConfig, ConfigError> {
    FileConfig::from_toml_str(text, Path::new("test.toml"))
}

fn no_flags() -> GlobalFlags {
    GlobalFlags::default()
}

fn addr(a: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((a, port))
}

/// The error message of a failing resolve, or "" when it succeeded.
fn error_of(flags: &GlobalFlags, env: &Env, file: Option<FileConfig>) -> String {
    resolve(flags, env, file).err().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn nothing_configured_gives_the_documented_defaults() -> Result<(), ConfigError> {
    let config = resolve(&no_flags(), &env(&[]), None)?;
    assert_eq!(config.bind, addr([127, 0, 0, 1], 7898));
    assert_eq!(config.upstream_url, "https://api.siliconflow.cn");
    assert_eq!(config.database_url, "sqlite://data/keyflow.db");
    assert!(config.client_tokens.is_empty() && config.free_client_tokens.is_empty());
    assert_eq!(config.admin_username, "admin");
    assert!(config.admin_password_is_default());
    assert_eq!(config.keys_at_start, None);
    assert_eq!(config.test_model, "Qwen/Qwen2.5-7B-Instruct");
    assert!(!config.purge_invalid);
    assert_eq!(config.max_body_bytes, 64 << 20);
    assert_eq!(config.secret, None);
    assert_eq!(config.log_level, "info");
    assert_eq!(config.config_file, None);
    assert_eq!(config.runtime, super::super::RuntimeSettings::default());
    assert!(config.origins.is_empty());
    Ok(())
}

#[test]
fn flag_beats_env_beats_file_beats_default() -> Result<(), ConfigError> {
    let toml = r#"
        max_retries = 2
        key_strategy = "oldest"
        upstream_url = "http://file.example"
        ban_models = ["file/model"]
        log_level = "warn"
        admin_password = "from-file"
        [image]
        max_images_per_request = 2
    "#;
    let vars = env(&[
        ("MAX_RETRIES", "4"),
        ("KEY_STRATEGY", "newest"),
        ("UPSTREAM_URL", "http://env.example/v1"),
        ("BAN_MODELS", "env/model"),
        ("KEYFLOW_LOG", "debug"),
        ("ADMIN_PASSWORD", "from-env"),
        ("MAX_IMAGES_PER_REQUEST", "3"),
    ]);
    let flags = GlobalFlags {
        max_retries: Some(5),
        key_strategy: Some(Strategy::Random),
        upstream_url: Some("http://flag.example".into()),
        ban_models: Some("flag/model".into()),
        log_level: Some("trace".into()),
        admin_password: Some(Secret::new("from-flag")),
        max_images_per_request: Some(1),
        ..no_flags()
    };

    // Default only.
    let config = resolve(&no_flags(), &env(&[]), None)?;
    assert_eq!(config.runtime.max_retries, 3);

    // File beats default.
    let config = resolve(&no_flags(), &env(&[]), Some(file(toml)?))?;
    assert_eq!(config.runtime.max_retries, 2);
    assert_eq!(config.runtime.key_strategy, Strategy::Oldest);
    assert_eq!(config.upstream_url, "http://file.example");
    assert_eq!(config.runtime.ban_models, ["file/model"]);
    assert_eq!(config.log_level, "warn");
    assert_eq!(config.admin_password.expose(), "from-file");
    assert_eq!(config.runtime.image.max_images_per_request, 2);
    assert_eq!(config.origin("max_retries"), Origin::File { path: "test.toml".into(), key: "max_retries" });
    assert_eq!(config.config_file.as_deref(), Some(Path::new("test.toml")));

    // Environment beats file.
    let config = resolve(&no_flags(), &vars, Some(file(toml)?))?;
    assert_eq!(config.runtime.max_retries, 4);
    assert_eq!(config.runtime.key_strategy, Strategy::Newest);
    assert_eq!(config.upstream_url, "http://env.example");
    assert_eq!(config.runtime.ban_models, ["env/model"]);
    assert_eq!(config.log_level, "debug");
    assert_eq!(config.admin_password.expose(), "from-env");
    assert_eq!(config.runtime.image.max_images_per_request, 3);
    assert_eq!(config.origin("max_retries"), Origin::Env("MAX_RETRIES"));

    // Flag beats environment.
    let config = resolve(&flags, &vars, Some(file(toml)?))?;
    assert_eq!(config.runtime.max_retries, 5);
    assert_eq!(config.runtime.key_strategy, Strategy::Random);
    assert_eq!(config.upstream_url, "http://flag.example");
    assert_eq!(config.runtime.ban_models, ["flag/model"]);
    assert_eq!(config.log_level, "trace");
    assert_eq!(config.admin_password.expose(), "from-flag");
    assert_eq!(config.runtime.image.max_images_per_request, 1);
    assert_eq!(config.origin("max_retries"), Origin::Flag("--max-retries"));
    assert_eq!(config.origin("image.max_images_per_request"), Origin::Flag("--max-images-per-request"));
    Ok(())
}

#[test]
fn every_alias_is_read_and_the_canonical_name_wins() -> Result<(), ConfigError> {
    let aliases = env(&[
        ("API_BASE_URL", "https://alias.example/v1/"),
        ("DB_PATH", "data/api_keys.db"),
        ("AUTH_API_KEY", "auth-token"),
        ("API_KEYS", "sk-alias"),
        ("RUST_LOG", "warn"),
        ("TZ", ":Asia/Shanghai"),
    ]);
    let config = resolve(&no_flags(), &aliases, None)?;
    assert_eq!(config.upstream_url, "https://alias.example");
    assert_eq!(config.database_url, "sqlite://data/api_keys.db");
    assert_eq!(config.client_tokens, [Secret::new("auth-token")]);
    assert_eq!(config.keys_at_start.as_ref().map(Secret::expose), Some("sk-alias"));
    assert_eq!(config.log_level, "warn");
    assert_eq!(config.runtime.stats_time_zone.as_deref(), Some("Asia/Shanghai"));
    assert_eq!(config.origin("database_url"), Origin::Env("DB_PATH"));

    let config = resolve(&no_flags(), &env(&[("AUTHORIZATION_KEY", "a,b")]), None)?;
    assert_eq!(config.client_tokens, [Secret::new("a"), Secret::new("b")]);

    let mut both = aliases.clone();
    for (name, value) in [
        ("UPSTREAM_URL", "https://canonical.example"),
        ("DATABASE_URL", "postgres://db/keyflow"),
        ("API_KEY", "canonical-token"),
        ("AUTHORIZATION_KEY", "third-token"),
        ("KEYS", "sk-canonical"),
        ("KEYFLOW_LOG", "error"),
        ("STATS_TZ", "UTC"),
    ] {
        both.insert(name.to_string(), value.to_string());
    }
    let config = resolve(&no_flags(), &both, None)?;
    assert_eq!(config.upstream_url, "https://canonical.example");
    assert_eq!(config.database_url, "postgres://db/keyflow");
    assert_eq!(config.client_tokens, [Secret::new("canonical-token")]);
    assert_eq!(config.keys_at_start.as_ref().map(Secret::expose), Some("sk-canonical"));
    assert_eq!(config.log_level, "error");
    assert_eq!(config.runtime.stats_time_zone.as_deref(), Some("UTC"));
    assert_eq!(config.origin("client_tokens"), Origin::Env("API_KEY"));
    Ok(())
}

#[test]
fn every_environment_name_is_read() -> Result<(), ConfigError> {
    let vars = env(&[
        ("FREE_API_KEY", "free-1, free-2"),
        ("ADMIN_USERNAME", "root"),
        ("TEST_MODEL", "m/test"),
        ("FREE_MODEL_TEST_KEY", "sk-free"),
        ("PURGE_INVALID", "yes"),
        ("MAX_BODY_BYTES", "512k"),
        ("KEYFLOW_SECRET", "encryption-secret"),
        ("KEY_STICKY", "on"),
        ("KEY_RPM_LIMIT", "60"),
        ("CONNECT_TIMEOUT", "5"),
        ("FIRST_BYTE_TIMEOUT", "60"),
        ("IDLE_TIMEOUT", "30"),
        ("AUTO_REFRESH_INTERVAL", "0"),
        ("FREE_MODELS", r#"["f/one", "f/two"]"#),
        ("ACCESS_CONTROL", "restricted"),
        ("GUEST_PASSWORD", "guest"),
        ("PAGE_SIZE", "100"),
        ("LOG_RETENTION_DAYS", "0"),
        ("IMAGE_PROMPT_MODEL", "m/prompt"),
        ("IMAGE_PROMPT_EXPANSION", "false"),
        ("IMAGE_PROMPT_TIMEOUT", "15"),
        ("BANNED_KEYWORDS", "gore, blood"),
        ("USE_LSKY_PRO", "1"),
        ("LSKY_URL", "https://lsky.example/"),
        ("LSKY_TOKEN", "lsky-token"),
        ("USE_SHORTLINK", "TRUE"),
        ("SHORTLINK_URL", "https://s.example"),
        ("ALLOWED_HOSTS", "Keyflow.Example.com, gw.example.org"),
        ("CORS_ORIGINS", "https://chat.example.com, http://localhost:3000"),
        ("METRICS_TOKEN", "scrape-token"),
        ("MAX_CONNECTIONS", "500"),
        ("HEADER_TIMEOUT", "7"),
        ("BODY_TIMEOUT", "9"),
        ("MIN_BODY_RATE", "0"),
    ]);
    let config = resolve(&no_flags(), &vars, None)?;
    assert_eq!(config.free_client_tokens, [Secret::new("free-1"), Secret::new("free-2")]);
    assert_eq!(config.admin_username, "root");
    assert_eq!(config.test_model, "m/test");
    assert_eq!(config.free_model_test_key, Some(Secret::new("sk-free")));
    assert!(config.purge_invalid);
    assert_eq!(config.max_body_bytes, 512 << 10);
    assert_eq!(config.secret, Some(Secret::new("encryption-secret")));
    let rt = &config.runtime;
    assert!(rt.sticky_sessions);
    assert_eq!(rt.key_rpm_limit, Some(60));
    assert_eq!((rt.connect_timeout_secs, rt.first_byte_timeout_secs, rt.idle_timeout_secs), (5, 60, 30));
    assert_eq!(rt.auto_refresh_interval_secs, 0);
    assert_eq!(rt.free_models, ["f/one", "f/two"]);
    assert_eq!(rt.access_control, AccessControl::Restricted);
    assert_eq!(rt.guest_password.as_deref(), Some("guest"));
    assert_eq!(rt.page_size, 100);
    assert_eq!(rt.log_retention_days, 0);
    let image = &rt.image;
    assert_eq!(image.image_prompt_model, "m/prompt");
    assert!(!image.prompt_expansion);
    assert_eq!(image.prompt_expansion_timeout_secs, 15);
    assert_eq!(image.banned_keywords, ["gore", "blood"]);
    assert!(image.use_lsky_pro && image.use_shortlink);
    assert_eq!(image.lsky_url.as_deref(), Some("https://lsky.example"));
    assert_eq!(image.lsky_token.as_deref(), Some("lsky-token"));
    assert_eq!(image.shortlink_url.as_deref(), Some("https://s.example"));
    assert_eq!(config.edge.allowed_hosts, ["keyflow.example.com", "gw.example.org"]);
    assert_eq!(config.edge.metrics_token.as_ref().map(Secret::expose), Some("scrape-token"));
    assert_eq!(config.edge.max_connections, 500);
    assert_eq!(config.edge.cors_origins, ["https://chat.example.com", "http://localhost:3000"]);
    assert_eq!(config.edge.header_timeout, std::time::Duration::from_secs(7));
    assert_eq!(config.edge.body_timeout, std::time::Duration::from_secs(9));
    assert_eq!(config.edge.min_body_rate, 0);

    // Every catalogued variable was exercised by one of these tests.
    let covered = [
        "KEYFLOW_BIND",
        "HOST",
        "PORT",
        "UPSTREAM_URL",
        "API_BASE_URL",
        "DATABASE_URL",
        "DB_PATH",
        "DATABASE_POOL_SIZE",
        "INSTANCE_NAME",
        "LOG_JOURNAL",
        "API_KEY",
        "AUTH_API_KEY",
        "AUTHORIZATION_KEY",
        "ADMIN_PASSWORD",
        "KEYS",
        "API_KEYS",
        "KEYFLOW_LOG",
        "RUST_LOG",
        "KEY_STRATEGY",
        "MAX_RETRIES",
        "BAN_MODELS",
        "STATS_TZ",
        "TZ",
        "MAX_IMAGES_PER_REQUEST",
        "LSKY_PRO_URL",
        "LSKY_PRO_TOKEN",
        "SHORTLINK_BASE_URL",
        "SHORTLINK_API_KEY",
    ];
    for info in super::super::catalog::SETTINGS {
        for name in info.env {
            assert!(vars.contains_key(*name) || covered.contains(name), "{name} untested");
        }
    }
    Ok(())
}

#[test]
fn host_and_port_combine_with_the_lower_layers() -> Result<(), ConfigError> {
    let bind = |flags: &GlobalFlags, pairs: &[(&str, &str)], toml: Option<&str>| -> Result<SocketAddr, ConfigError> {
        let file = toml.map(file).transpose()?;
        Ok(resolve(flags, &env(pairs), file)?.bind)
    };
    let flags = no_flags();
    assert_eq!(bind(&flags, &[("HOST", "0.0.0.0"), ("PORT", "8080")], None)?, addr([0, 0, 0, 0], 8080));
    assert_eq!(bind(&flags, &[("HOST", "0.0.0.0")], None)?, addr([0, 0, 0, 0], 7898));
    assert_eq!(bind(&flags, &[("PORT", "7860")], None)?, addr([127, 0, 0, 1], 7860));
    assert_eq!(bind(&flags, &[("HOST", "::")], None)?, SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 7898));
    assert_eq!(bind(&flags, &[("HOST", "localhost"), ("PORT", "1")], None)?, addr([127, 0, 0, 1], 1));
    // KEYFLOW_BIND is canonical: HOST and PORT are ignored beside it.
    let all = [("KEYFLOW_BIND", "10.0.0.1:9000"), ("HOST", "0.0.0.0"), ("PORT", "8080")];
    assert_eq!(bind(&flags, &all, None)?, addr([10, 0, 0, 1], 9000));
    // PORT alone keeps the file's host.
    let toml = Some("bind = \"0.0.0.0:7000\"");
    assert_eq!(bind(&flags, &[], toml)?, addr([0, 0, 0, 0], 7000));
    assert_eq!(bind(&flags, &[("PORT", "8080")], toml)?, addr([0, 0, 0, 0], 8080));
    assert_eq!(bind(&flags, &[("HOST", "127.0.0.1")], toml)?, addr([127, 0, 0, 1], 7000));
    // The flag beats all of them.
    let flags = GlobalFlags { bind: Some(addr([127, 0, 0, 2], 1)), ..no_flags() };
    assert_eq!(bind(&flags, &all, toml)?, addr([127, 0, 0, 2], 1));
    Ok(())
}

#[test]
fn database_from_db_path_or_url() -> Result<(), ConfigError> {
    let url = |pairs: &[(&str, &str)]| resolve(&no_flags(), &env(pairs), None).map(|c| c.database_url);
    assert_eq!(url(&[("DB_PATH", "data/api_keys.db")])?, "sqlite://data/api_keys.db");
    assert_eq!(url(&[("DB_PATH", "/srv/pool.db")])?, "sqlite:///srv/pool.db");
    assert_eq!(url(&[("DATABASE_URL", "sqlite://x.db"), ("DB_PATH", "y.db")])?, "sqlite://x.db");
    assert_eq!(url(&[("DATABASE_URL", "postgres://u:p@db/keyflow")])?, "postgres://u:p@db/keyflow");
    let config = resolve(&no_flags(), &env(&[]), Some(file("database_url = \"pool.db\"")?))?;
    assert_eq!(config.database_url, "sqlite://pool.db");
    assert_eq!(config.database_pool_size, 10);
    let toml = Some(file("database_pool_size = 4")?);
    assert_eq!(resolve(&no_flags(), &env(&[("DATABASE_POOL_SIZE", "32")]), toml)?.database_pool_size, 32);
    assert_eq!(resolve(&no_flags(), &env(&[]), Some(file("database_pool_size = 4")?))?.database_pool_size, 4);
    let error = error_of(&no_flags(), &env(&[("DATABASE_POOL_SIZE", "0")]), None);
    assert!(error.contains("database_pool_size") && error.contains("DATABASE_POOL_SIZE"), "{error}");
    Ok(())
}

#[test]
fn instance_name_and_its_journal() -> Result<(), ConfigError> {
    let config = resolve(&no_flags(), &env(&[("INSTANCE_NAME", "keyflow-2")]), None)?;
    assert_eq!(config.instance(), "keyflow-2");
    assert_eq!(config.log_journal_path("keyflow-2"), std::path::Path::new("data/log-journal-keyflow-2.jsonl"));
    // Unnamed: the host and port, which no two instances on one machine share.
    let config = resolve(&no_flags(), &env(&[("PORT", "7001")]), None)?;
    assert!(config.instance().ends_with(":7001"), "{}", config.instance());
    assert!(config.log_journal_path(&config.instance()).to_string_lossy().ends_with("-7001.jsonl"));
    let toml = Some(file("instance_name = \"edge-a\"\nlog_journal = \"/var/lib/keyflow/journal.jsonl\"")?);
    let config = resolve(&no_flags(), &env(&[("LOG_JOURNAL", "/tmp/j.jsonl")]), toml)?;
    assert_eq!(config.instance(), "edge-a");
    assert_eq!(config.log_journal_path("edge-a"), std::path::Path::new("/tmp/j.jsonl"));
    let error = error_of(&no_flags(), &env(&[("INSTANCE_NAME", "two words")]), None);
    assert!(error.contains("INSTANCE_NAME"), "{error}");
    Ok(())
}

#[test]
fn model_lists_as_json_or_comma_list() -> Result<(), ConfigError> {
    let banned = |value: &str| resolve(&no_flags(), &env(&[("BAN_MODELS", value)]), None).map(|c| c.runtime.ban_models);
    let want = ["deepseek-ai/DeepSeek-R1", "Qwen/QwQ-32B"];
    assert_eq!(banned(r#"["deepseek-ai/DeepSeek-R1","Qwen/QwQ-32B"]"#)?, want);
    assert_eq!(banned("deepseek-ai/DeepSeek-R1, Qwen/QwQ-32B,")?, want);
    let toml = "ban_models = '[\"a\", \"b\"]'\nfree_models = \"c,d\"";
    let config = resolve(&no_flags(), &env(&[]), Some(file(toml)?))?;
    assert_eq!(config.runtime.ban_models, ["a", "b"]);
    assert_eq!(config.runtime.free_models, ["c", "d"]);
    let err = banned("[\"unclosed").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("ban_models") && err.contains("BAN_MODELS") && err.contains("JSON array"), "{err}");
    Ok(())
}

#[test]
fn bad_values_name_the_setting_the_source_and_what_is_accepted() -> Result<(), ConfigError> {
    let from_env = |pairs: &[(&str, &str)]| error_of(&no_flags(), &env(pairs), None);

    let err = from_env(&[("MAX_RETRIES", "three")]);
    assert!(err.contains("max_retries") && err.contains("MAX_RETRIES") && err.contains("\"three\""), "{err}");
    assert!(err.contains("whole number"), "{err}");
    let err = from_env(&[("PAGE_SIZE", "0")]);
    assert!(err.contains("page_size") && err.contains("PAGE_SIZE") && err.contains("between 1 and 1000"), "{err}");
    let err = from_env(&[("PORT", "eighty")]);
    assert!(err.contains("bind") && err.contains("PORT") && err.contains("0 to 65535"), "{err}");
    let err = from_env(&[("KEYFLOW_BIND", "example.com:80")]);
    assert!(err.contains("KEYFLOW_BIND") && err.contains("IP:PORT"), "{err}");
    let err = from_env(&[("KEY_STRATEGY", "fastest")]);
    assert!(err.contains("key_strategy") && err.contains("round_robin, balance_desc"), "{err}");
    let err = from_env(&[("PURGE_INVALID", "sometimes")]);
    assert!(err.contains("purge_invalid") && err.contains("yes/no"), "{err}");
    let err = from_env(&[("MAX_BODY_BYTES", "64")]);
    assert!(err.contains("max_body_bytes") && err.contains("64MiB"), "{err}");
    let err = from_env(&[("UPSTREAM_URL", "api.siliconflow.cn")]);
    assert!(err.contains("upstream_url") && err.contains("https://"), "{err}");
    let err = from_env(&[("ACCESS_CONTROL", "restricted")]);
    assert!(
        err.contains("access_control") && err.contains("ACCESS_CONTROL") && err.contains("GUEST_PASSWORD"),
        "{err}"
    );
    let err = from_env(&[("USE_LSKY_PRO", "true"), ("LSKY_URL", "https://l.example")]);
    assert!(err.contains("USE_LSKY_PRO") && err.contains("LSKY_TOKEN"), "{err}");
    let err = from_env(&[("MAX_RETRIES", "99")]);
    assert!(err.contains("max_retries") && err.contains("at most 16"), "{err}");

    let err = error_of(&no_flags(), &env(&[]), Some(file("bind = \"anywhere\"")?));
    assert!(err.contains("`bind` in test.toml") && err.contains("IP:PORT"), "{err}");
    let err = error_of(&no_flags(), &env(&[]), Some(file("admin_password = \"\"")?));
    assert!(err.contains("admin_password") && err.contains("value hidden"), "{err}");
    let err = error_of(&no_flags(), &env(&[]), Some(file("[image]\nmax_images_per_request = 0")?));
    assert!(err.contains("image.max_images_per_request") && err.contains("test.toml"), "{err}");

    let flags = GlobalFlags { page_size: Some(5000), ..no_flags() };
    let err = error_of(&flags, &env(&[]), None);
    assert!(err.contains("page_size") && err.contains("flag --page-size"), "{err}");
    let flags = GlobalFlags { ban_models: Some("[1]".into()), ..no_flags() };
    let err = error_of(&flags, &env(&[]), None);
    assert!(err.contains("ban_models") && err.contains("flag --ban-models"), "{err}");
    Ok(())
}

#[test]
fn secrets_never_appear_in_errors() {
    let err = error_of(&no_flags(), &env(&[("GUEST_PASSWORD", " "), ("ACCESS_CONTROL", "restricted")]), None);
    assert!(err.contains("GUEST_PASSWORD"), "{err}");
    let flags = GlobalFlags { admin_password: Some(Secret::new("super-secret-password")), ..no_flags() };
    let debug = format!("{:?}", resolve(&flags, &env(&[]), None));
    assert!(!debug.contains("super-secret-password"), "{debug}");
}

#[test]
fn blank_variables_count_as_unset() -> Result<(), ConfigError> {
    let vars = env(&[("API_KEY", ""), ("AUTH_API_KEY", "second"), ("MAX_RETRIES", "  "), ("KEYS", " ")]);
    let config = resolve(&no_flags(), &vars, None)?;
    assert_eq!(config.client_tokens, [Secret::new("second")]);
    assert_eq!(config.runtime.max_retries, 3);
    assert_eq!(config.keys_at_start, None);
    Ok(())
}

#[test]
fn an_empty_token_flag_opens_the_gateway_and_zero_rpm_means_off() -> Result<(), ConfigError> {
    let flags = GlobalFlags { api_key: Some(Secret::new("")), key_rpm_limit: Some(0), ..no_flags() };
    let config = resolve(&flags, &env(&[("API_KEY", "t"), ("KEY_RPM_LIMIT", "30")]), None)?;
    assert!(config.client_tokens.is_empty());
    assert_eq!(config.runtime.key_rpm_limit, None);
    let config = resolve(&no_flags(), &env(&[("KEY_RPM_LIMIT", "off")]), Some(file("key_rpm_limit = 10")?))?;
    assert_eq!(config.runtime.key_rpm_limit, None);
    let config = resolve(&no_flags(), &env(&[]), Some(file("key_rpm_limit = 10")?))?;
    assert_eq!(config.runtime.key_rpm_limit, Some(10));
    Ok(())
}

#[test]
fn the_image_chat_tools_names_and_value_forms_are_read() -> Result<(), ConfigError> {
    let vars = env(&[
        ("USE_LSKY_PRO", "y # re-host"),
        ("LSKY_PRO_URL", "https://lsky.example"),
        ("LSKY_PRO_TOKEN", "lsky-token"),
        ("USE_SHORTLINK", "t"),
        ("SHORTLINK_BASE_URL", "https://sink.example"),
        ("SHORTLINK_API_KEY", "sink-key"),
        ("KEY_STRATEGY", "low"),
        ("AUTO_REFRESH_INTERVAL", "30"),
    ]);
    let config = resolve(&no_flags(), &vars, None)?;
    let image = &config.runtime.image;
    assert!(image.use_lsky_pro && image.use_shortlink);
    assert_eq!(image.lsky_url.as_deref(), Some("https://lsky.example"));
    assert_eq!(image.lsky_token.as_deref(), Some("lsky-token"));
    assert_eq!(image.shortlink_url.as_deref(), Some("https://sink.example"));
    assert_eq!(image.shortlink_api_key.as_deref(), Some("sink-key"));
    assert_eq!(config.runtime.key_strategy, crate::config::Strategy::BalanceAsc);
    assert_eq!(config.runtime.auto_refresh_interval_secs, 60, "clamped with a notice, not refused");
    assert!(config.notices.iter().any(|n| n.contains("AUTO_REFRESH_INTERVAL=30")), "{:?}", config.notices);
    Ok(())
}
