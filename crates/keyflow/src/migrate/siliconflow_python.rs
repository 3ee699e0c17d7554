//! The FastAPI proxy (siliconflow-python): `data/pool.db` (or `pool.db`)
//! with keys and logs, and the literal values of its `config.py`.
//!
//! That tool read `API_KEY`, `ADMIN_USERNAME`, `ADMIN_PASSWORD` and
//! `AUTO_REFRESH_INTERVAL` from the environment first, then `config.py`.
//! keyflow reads the same environment names, so only `config.py` needs
//! migrating; it is Python, so only plain `NAME = literal` lines are read.

use std::path::Path;

use super::pysqlite;
use super::{non_blank, MigrateError, OldToken, Setting, Source, Tool};
use crate::secret::Secret;

/// Reads the database and `config.py` in `dir`.
pub async fn read(dir: &Path) -> Result<Source, MigrateError> {
    // The code wrote `data/pool.db`; some versions `pool.db` beside main.py.
    let Some(db) = [dir.join("data").join("pool.db"), dir.join("pool.db")].into_iter().find(|p| p.is_file()) else {
        return Err(MigrateError::NotFound(format!(
            "neither data/pool.db nor pool.db in {}: is this the FastAPI proxy's directory?",
            dir.display()
        )));
    };
    let mut source = pysqlite::read_source(&db, Tool::SiliconflowPython).await?;

    let config = dir.join("config.py");
    match std::fs::read_to_string(&config) {
        Ok(text) => {
            take_config(&text, &mut source);
            source.files.push(config);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(MigrateError::Io { path: config, source: e }),
    }
    source.notes.push(
        "the environment of that tool (API_KEY, ADMIN_USERNAME, ADMIN_PASSWORD, AUTO_REFRESH_INTERVAL) \
         works unchanged for keyflow: keep it set where keyflow runs"
            .into(),
    );
    Ok(source)
}

/// A literal on the right of `NAME = …`, comment removed.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Number(f64),
    None,
    /// Anything else (`os.getenv(…)`, an expression).
    Other,
}

/// Every top-level `NAME = literal` assignment, in order.
pub fn assignments(text: &str) -> Vec<(String, Literal)> {
    let mut out = Vec::new();
    for line in text.lines() {
        // Indented lines belong to a block, not to the module's settings.
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else { continue };
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            continue;
        }
        out.push((name.to_string(), literal(value.trim())));
    }
    out
}

fn literal(value: &str) -> Literal {
    for quote in ['"', '\''] {
        if let Some(rest) = value.strip_prefix(quote) {
            return match rest.find(quote) {
                Some(end) if !rest[..end].contains('\\') => Literal::Text(rest[..end].to_string()),
                _ => Literal::Other,
            };
        }
    }
    let value = value.split('#').next().unwrap_or_default().trim();
    if value == "None" {
        return Literal::None;
    }
    value.replace('_', "").parse().map(Literal::Number).unwrap_or(Literal::Other)
}

/// Takes the settings `config.py` assigns literally.
pub fn take_config(text: &str, source: &mut Source) {
    for (name, value) in assignments(text) {
        let known = ["API_KEY", "ADMIN_USERNAME", "ADMIN_PASSWORD", "AUTO_REFRESH_INTERVAL"];
        if !known.contains(&name.as_str()) {
            continue;
        }
        let text = match &value {
            Literal::Text(t) => non_blank(Some(t)),
            _ => None,
        };
        match (name.as_str(), &value) {
            (_, Literal::Other) => source.not_carried.push(format!(
                "{name} in config.py: not a plain value; if it came from the environment, keyflow reads {name} too"
            )),
            ("API_KEY", _) => {
                if let Some(token) = text {
                    let from = "API_KEY in config.py".to_string();
                    source.tokens.push(OldToken { value: Secret::new(token), free_only: false, from });
                }
            }
            ("ADMIN_USERNAME", _) => source.admin_username = text.map(str::to_string),
            ("ADMIN_PASSWORD", _) => source.admin_password = text.map(Secret::new),
            ("AUTO_REFRESH_INTERVAL", Literal::Number(secs)) if *secs >= 0.0 => {
                let from = format!("AUTO_REFRESH_INTERVAL = {secs} in config.py");
                source.settings.push((Setting::RefreshIntervalSecs(secs.round() as u64), from));
            }
            (_, _) => source.not_carried.push(format!("{name} in config.py: not a usable value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_assignments_are_read_and_the_rest_is_said() {
        let text = "import os\n\
                    # API 访问密钥\n\
                    API_KEY = \"client-token-0123456789\"  # 可选\n\
                    ADMIN_USERNAME = 'boss'\n\
                    ADMIN_PASSWORD = os.getenv(\"ADMIN_PASSWORD\", \"x\")\n\
                    AUTO_REFRESH_INTERVAL = 1_800  # 秒\n\
                    DB_PATH = \"data/api_keys.db\"\n\
                    def f():\n    API_KEY = 'inner'\n";
        let mut source = Source::default();
        take_config(text, &mut source);
        assert_eq!(source.tokens.len(), 1);
        assert_eq!(source.tokens[0].value.expose(), "client-token-0123456789");
        assert_eq!(source.admin_username.as_deref(), Some("boss"));
        assert!(source.admin_password.is_none());
        assert!(source.not_carried.iter().any(|n| n.starts_with("ADMIN_PASSWORD")), "{:?}", source.not_carried);
        assert!(matches!(source.settings.as_slice(), [(Setting::RefreshIntervalSecs(1800), _)]));
    }

    #[test]
    fn none_and_blank_mean_unset() {
        let mut source = Source::default();
        take_config("API_KEY = None\nADMIN_PASSWORD = \"\"\n", &mut source);
        assert!(source.tokens.is_empty() && source.admin_password.is_none() && source.not_carried.is_empty());
        assert_eq!(literal("3600 # s"), Literal::Number(3600.0));
        assert_eq!(literal("'a#b'"), Literal::Text("a#b".into()));
        assert_eq!(literal("int(x)"), Literal::Other);
    }
}
