//! silicon-pool: `pool.db` (keys, logs) and `config.json` (strategy, client
//! tokens, console login, refresh interval in minutes, per-key limits).

use std::path::Path;

use serde_json::Value;

use super::pysqlite;
use super::{non_blank, MigrateError, OldToken, Setting, Source, Tool};
use crate::config::Strategy;
use crate::secret::Secret;

/// Reads `pool.db` and, when present, `config.json` in `dir`.
pub async fn read(dir: &Path) -> Result<Source, MigrateError> {
    let db = dir.join("pool.db");
    if !db.is_file() {
        return Err(MigrateError::NotFound(format!(
            "no pool.db in {}: is this silicon-pool's directory?",
            dir.display()
        )));
    }
    let mut source = pysqlite::read_source(&db, Tool::SiliconPool).await?;
    if source.logs.is_none() {
        source.notes.push("pool.db has no logs table: no request log to take".into());
    }

    let config = dir.join("config.json");
    match std::fs::read_to_string(&config) {
        Ok(text) => {
            let json: Value = serde_json::from_str(&text)
                .map_err(|e| MigrateError::Parse { path: config.clone(), message: e.to_string() })?;
            take_config(&json, &mut source);
            source.files.push(config);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            source.notes.push("no config.json: silicon-pool ran with its defaults, nothing to take".into());
        }
        Err(source_error) => return Err(MigrateError::Io { path: config, source: source_error }),
    }
    Ok(source)
}

/// keyflow's strategy for a silicon-pool `call_strategy`.
pub fn strategy(name: &str) -> Option<Strategy> {
    match name.trim().to_ascii_lowercase().as_str() {
        "high" => Some(Strategy::BalanceDesc),
        "low" => Some(Strategy::BalanceAsc),
        // The other names are keyflow's own: random, least_used, most_used,
        // oldest, newest, round_robin.
        other => other.parse().ok(),
    }
}

/// A number field, also when the settings page saved it as a string.
fn number(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Takes what `config.json` holds into `source`.
pub fn take_config(json: &Value, source: &mut Source) {
    let Some(fields) = json.as_object() else {
        source.not_carried.push("config.json: not a JSON object".into());
        return;
    };
    for (name, value) in fields {
        let text = value.as_str();
        match name.as_str() {
            "call_strategy" => match text.and_then(strategy) {
                Some(s) => source.settings.push((Setting::Strategy(s), format!("call_strategy {value}"))),
                None => source.not_carried.push(format!("call_strategy {value}: not a strategy keyflow knows")),
            },
            "custom_api_key" => {
                if let Some(token) = non_blank(text) {
                    let from = "custom_api_key in config.json".to_string();
                    source.tokens.push(OldToken { value: Secret::new(token), free_only: false, from });
                }
            }
            "free_model_api_key" => {
                if let Some(token) = non_blank(text) {
                    let from = "free_model_api_key in config.json".to_string();
                    source.tokens.push(OldToken { value: Secret::new(token), free_only: true, from });
                }
            }
            "admin_username" => source.admin_username = non_blank(text).map(str::to_string),
            "admin_password" => source.admin_password = non_blank(text).map(Secret::new),
            // Minutes in silicon-pool, seconds in keyflow; 0 is off in both.
            "refresh_interval" => match number(value).filter(|m| m.is_finite() && *m >= 0.0) {
                Some(minutes) => {
                    let secs = (minutes * 60.0).round() as u64;
                    let from = format!("refresh_interval {value} minutes");
                    source.settings.push((Setting::RefreshIntervalSecs(secs), from));
                }
                None => source.not_carried.push(format!("refresh_interval {value}: not a number of minutes")),
            },
            // silicon-pool counted requests per key per minute, as keyflow's cap does.
            "rpm_limit" => match number(value).filter(|n| n.is_finite() && *n >= 0.0) {
                Some(n) => {
                    let limit = (n >= 1.0).then(|| n.min(f64::from(u32::MAX)) as u32);
                    source.settings.push((Setting::KeyRpmLimit(limit), format!("rpm_limit {value}")));
                }
                None => source.not_carried.push(format!("rpm_limit {value}: not a number")),
            },
            "tpm_limit" => {
                if number(value).is_some_and(|n| n > 0.0) {
                    source.not_carried.push(format!(
                        "tpm_limit {value}: keyflow has no per-key tokens-per-minute cap (upstream's own TPM \
                         limits still cool a key down when hit)"
                    ));
                }
            }
            other => source.not_carried.push(format!("config.json field `{other}`: keyflow has no equivalent")),
        }
    }
    let free_only = source.tokens.iter().all(|t| t.free_only);
    if !source.tokens.is_empty() && free_only {
        source.notes.push(
            "silicon-pool had no custom_api_key (its gateway was open) but a free-models token: keyflow is \
             open only while no client token exists, so after this callers need a token — create one for \
             them in the console (Tokens) or set API_KEY"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(text: &str) -> Source {
        let mut source = Source::default();
        let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        take_config(&json, &mut source);
        source
    }

    fn setting<'a>(source: &'a Source, key: &str) -> Option<&'a Setting> {
        source.settings.iter().map(|(s, _)| s).find(|s| s.key() == key)
    }

    #[test]
    fn strategy_names_map_to_keyflow() {
        assert_eq!(strategy("high"), Some(Strategy::BalanceDesc));
        assert_eq!(strategy("low"), Some(Strategy::BalanceAsc));
        for name in ["random", "least_used", "most_used", "oldest", "newest", "round_robin"] {
            assert_eq!(strategy(name).map(Strategy::as_str), Some(name));
        }
        assert_eq!(strategy("HIGH"), Some(Strategy::BalanceDesc));
        assert_eq!(strategy("fastest"), None);
    }

    #[test]
    fn a_full_config_is_taken() {
        let source = take(
            r#"{"call_strategy": "low", "custom_api_key": "sk-client-token-123456", "free_model_api_key": " ",
                "admin_username": "root", "admin_password": "s3cret", "refresh_interval": 30,
                "rpm_limit": 60, "tpm_limit": 0}"#,
        );
        assert!(matches!(setting(&source, "key_strategy"), Some(Setting::Strategy(Strategy::BalanceAsc))));
        assert!(matches!(setting(&source, "auto_refresh_interval_secs"), Some(Setting::RefreshIntervalSecs(1800))));
        assert!(matches!(setting(&source, "key_rpm_limit"), Some(Setting::KeyRpmLimit(Some(60)))));
        assert_eq!(source.tokens.len(), 1, "a blank free token is no token");
        assert!(!source.tokens[0].free_only);
        assert_eq!(source.admin_username.as_deref(), Some("root"));
        assert_eq!(source.admin_password.as_ref().map(|p| p.expose()), Some("s3cret"));
        assert!(source.not_carried.is_empty(), "{:?}", source.not_carried);
        assert!(source.notes.is_empty());
    }

    #[test]
    fn minutes_become_seconds_and_zero_stays_off() {
        let secs = |text: &str| match setting(&take(text), "auto_refresh_interval_secs") {
            Some(Setting::RefreshIntervalSecs(s)) => Some(*s),
            _ => None,
        };
        assert_eq!(secs(r#"{"refresh_interval": 0}"#), Some(0));
        assert_eq!(secs(r#"{"refresh_interval": 5}"#), Some(300));
        assert_eq!(secs(r#"{"refresh_interval": "90"}"#), Some(5400));
        assert_eq!(secs(r#"{"refresh_interval": 1.5}"#), Some(90));
        assert_eq!(secs(r#"{"refresh_interval": -1}"#), None);
        assert_eq!(secs(r#"{}"#), None);
    }

    #[test]
    fn older_and_odd_configs() {
        // The oldest versions kept only the strategy and one token.
        let source = take(r#"{"call_strategy": "random", "custom_api_key": ""}"#);
        assert_eq!(source.settings.len(), 1);
        assert!(source.tokens.is_empty());
        assert_eq!(source.admin_password.as_ref().map(|p| p.expose()), None);

        let source = take(r#"{"call_strategy": "fastest", "tpm_limit": 5000, "rpm_limit": 0, "theme": "dark"}"#);
        assert!(source.not_carried.iter().any(|n| n.contains("call_strategy") && n.contains("fastest")));
        assert!(source.not_carried.iter().any(|n| n.contains("tpm_limit 5000")));
        assert!(source.not_carried.iter().any(|n| n.contains("`theme`")));
        assert!(matches!(setting(&source, "key_rpm_limit"), Some(Setting::KeyRpmLimit(None))));

        let source = take(r#"{"free_model_api_key": "free-token-0123456789"}"#);
        assert!(source.tokens[0].free_only);
        assert!(source.notes.iter().any(|n| n.contains("open")), "{:?}", source.notes);

        let source = take("[1, 2]");
        assert!(source.not_carried.iter().any(|n| n.contains("not a JSON object")));
    }
}
