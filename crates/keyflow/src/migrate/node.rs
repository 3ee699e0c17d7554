//! siliconflow-api-management (Node): `database.sqlite` (`config` and
//! `keys` tables) and `.env`.
//!
//! The tool rewrote its `config` table from the environment (or its
//! defaults) at every start, so `.env` wins over the table. It never wrote
//! balances, so its keys are validated upstream after import.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::Row as _;

use super::pysqlite;
use super::{non_blank, MigrateError, OldKey, OldToken, Setting, Source};
use crate::config::AccessControl;
use crate::secret::Secret;

/// The client token the tool used when `AUTH_API_KEY` was unset.
const DEFAULT_TOKEN: &str = "your-api-key";
/// The guest password the tool wrote when `GUEST_PASSWORD` was unset.
const DEFAULT_GUEST_PASSWORD: &str = "guest_password";

/// Reads `database.sqlite` and `.env` in `dir`.
pub async fn read(dir: &Path) -> Result<Source, MigrateError> {
    let db = dir.join("database.sqlite");
    if !db.is_file() {
        return Err(MigrateError::NotFound(format!(
            "no database.sqlite in {}: is this siliconflow-api-management's directory?",
            dir.display()
        )));
    }
    let pool = pysqlite::open_read_only(&db).await?;
    let failed = |source| MigrateError::OldDatabase { path: db.clone(), source };
    let mut values = BTreeMap::new();
    if !pysqlite::columns(&pool, &db, "config").await?.is_empty() {
        let rows = sqlx::query("SELECT CAST(name AS TEXT) AS name, CAST(value AS TEXT) AS value FROM config")
            .fetch_all(&pool)
            .await
            .map_err(failed)?;
        for row in rows {
            let value = row.try_get::<Option<String>, _>("value");
            if let (Ok(Some(name)), Ok(value)) = (row.try_get::<Option<String>, _>("name"), value) {
                values.insert(name.to_ascii_lowercase(), value.unwrap_or_default());
            }
        }
    }
    let mut source = Source { balances_known: false, ..Source::default() };
    if !pysqlite::columns(&pool, &db, "keys").await?.is_empty() {
        let rows = sqlx::query("SELECT CAST(key AS TEXT) AS key, CAST(created_at AS TEXT) AS created_at FROM keys")
            .fetch_all(&pool)
            .await
            .map_err(failed)?;
        for row in rows {
            let Ok(Some(key)) = row.try_get::<Option<String>, _>("key") else { continue };
            let created = row.try_get::<Option<String>, _>("created_at").ok().flatten();
            source.keys.push(OldKey {
                key: Secret::new(key.trim()),
                // Always 0 in that tool: unknown, not empty.
                balance: None,
                enabled: true,
                created_at: created.as_deref().and_then(parse_time),
                usage_count: 0,
            });
        }
    }
    source.files.push(db);

    let env_path = dir.join(".env");
    match std::fs::read_to_string(&env_path) {
        Ok(text) => {
            for (name, value) in parse_dotenv(&text) {
                values.insert(name.to_ascii_lowercase(), value);
            }
            source.files.push(env_path);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(MigrateError::Io { path: env_path, source: e }),
    }
    take_values(&values, &mut source);
    source.not_carried.push("request logs: that tool kept none".into());
    Ok(source)
}

/// `NAME=value` lines of a `.env` file, as the Node `dotenv` package reads
/// them: `export` prefixes, quotes, and `#` comments after unquoted values.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else { continue };
        let value = value.trim();
        let quoted = ['"', '\'', '`'].into_iter().find_map(|q| {
            let rest = value.strip_prefix(q)?;
            rest.find(q).map(|end| rest[..end].to_string())
        });
        let value = quoted.unwrap_or_else(|| value.split(" #").next().unwrap_or_default().trim().to_string());
        out.push((name.trim().to_string(), value));
    }
    out
}

/// Unix seconds of a `created_at`: the tool wrote `toISOString()`; SQLite's
/// `CURRENT_TIMESTAMP` form and epoch numbers are read too.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(n) = text.parse::<f64>() {
        // Milliseconds from JavaScript's `Date.now()`, seconds otherwise.
        return Some(if n > 1e11 { (n / 1000.0) as i64 } else { n as i64 });
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Some(ts.as_second());
    }
    let civil = text.parse::<jiff::civil::DateTime>().ok()?;
    civil.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp().as_second())
}

/// Takes the merged config values (table, then `.env` over it).
pub fn take_values(values: &BTreeMap<String, String>, source: &mut Source) {
    let get = |name: &str| non_blank(values.get(name).map(String::as_str));
    source.admin_username = get("admin_username").map(str::to_string);
    source.admin_password = get("admin_password").map(Secret::new);
    match get("auth_api_key") {
        Some(DEFAULT_TOKEN) => source.not_carried.push(format!(
            "client token `{DEFAULT_TOKEN}`: the tool's public default (AUTH_API_KEY was unset), so it protected \
             nothing; keyflow without client tokens is open, and clients sending it keep working until you \
             create a token (console, Tokens) or set API_KEY"
        )),
        Some(token) => source.tokens.push(OldToken {
            value: Secret::new(token),
            free_only: false,
            from: "AUTH_API_KEY / auth_api_key".into(),
        }),
        None => {}
    }
    if let Some(size) = get("page_size") {
        match size.parse::<u32>() {
            Ok(n) => source.settings.push((Setting::PageSize(n), format!("PAGE_SIZE {n}"))),
            Err(_) => source.not_carried.push(format!("PAGE_SIZE `{size}`: not a number")),
        }
    }
    let mode = get("access_control").map(|m| (m, m.parse::<AccessControl>()));
    let restricted = matches!(mode, Some((_, Ok(AccessControl::Restricted))));
    // Guest password before the mode: keyflow refuses `restricted` without one.
    match get("guest_password") {
        Some(DEFAULT_GUEST_PASSWORD) if !restricted => source.not_carried.push(format!(
            "guest password: the tool's default `{DEFAULT_GUEST_PASSWORD}`, unused outside restricted mode"
        )),
        Some(password) => {
            let from = "GUEST_PASSWORD / guest_password".to_string();
            source.settings.push((Setting::GuestPassword(Secret::new(password)), from));
        }
        None => {}
    }
    match mode {
        Some((_, Ok(mode))) => source.settings.push((Setting::AccessControl(mode), format!("ACCESS_CONTROL {mode}"))),
        Some((text, Err(_))) => {
            source.not_carried.push(format!("ACCESS_CONTROL `{text}`: not open/restricted/private"))
        }
        None => {}
    }
    if let Some(port) = get("port") {
        source.not_carried.push(format!(
            "PORT {port}: where keyflow listens is read at start (PORT with HOST, or KEYFLOW_BIND); keyflow's \
             default is 127.0.0.1:7898"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn dotenv_lines_read_like_the_node_package() {
        let text = "# comment\nPORT=3000\nexport ADMIN_USERNAME = root \nADMIN_PASSWORD=\"p#ss word\"\n\
                    AUTH_API_KEY=tok-123 # the client token\nGUEST_PASSWORD='g'\nbroken line\n";
        let parsed = parse_dotenv(text);
        let get = |n: &str| parsed.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("PORT"), Some("3000"));
        assert_eq!(get("ADMIN_USERNAME"), Some("root"));
        assert_eq!(get("ADMIN_PASSWORD"), Some("p#ss word"));
        assert_eq!(get("AUTH_API_KEY"), Some("tok-123"));
        assert_eq!(get("GUEST_PASSWORD"), Some("g"));
        assert_eq!(parsed.len(), 5);
    }

    #[test]
    fn created_at_forms() {
        assert_eq!(parse_time("2024-05-01T12:00:00.000Z"), Some(1_714_564_800));
        assert_eq!(parse_time("2024-05-01 12:00:00"), Some(1_714_564_800));
        assert_eq!(parse_time("1714564800000"), Some(1_714_564_800));
        assert_eq!(parse_time("1714564800"), Some(1_714_564_800));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn the_default_token_is_not_taken_and_settings_are() {
        let mut source = Source::default();
        let v = values(&[
            ("auth_api_key", "your-api-key"),
            ("page_size", "12"),
            ("access_control", "restricted"),
            ("guest_password", "guest_password"),
            ("admin_password", "pw"),
            ("port", "3000"),
        ]);
        take_values(&v, &mut source);
        assert!(source.tokens.is_empty());
        assert!(source.not_carried.iter().any(|n| n.contains("your-api-key") && n.contains("open")));
        assert!(source.not_carried.iter().any(|n| n.starts_with("PORT 3000")));
        let keys: Vec<&str> = source.settings.iter().map(|(s, _)| s.key()).collect();
        assert_eq!(keys, ["page_size", "guest_password", "access_control"]);
        assert_eq!(source.admin_password.as_ref().map(|p| p.expose()), Some("pw"));

        let mut source = Source::default();
        let v =
            values(&[("auth_api_key", "real-token"), ("access_control", "open"), ("guest_password", "guest_password")]);
        take_values(&v, &mut source);
        assert_eq!(source.tokens.len(), 1);
        let keys: Vec<&str> = source.settings.iter().map(|(s, _)| s.key()).collect();
        assert_eq!(keys, ["access_control"], "the default guest password is left behind outside restricted mode");
    }
}
