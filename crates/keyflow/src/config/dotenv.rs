//! `.env` in the working directory, the Node and Python tools' habit: read
//! as a layer under the real environment (a variable set in the process
//! wins). Parsed like python-dotenv and dotenv: `KEY=value`, optional
//! `export `, single or double quotes, `#` comments on their own line or
//! after an unquoted value.

use std::collections::HashMap;
use std::path::Path;

use super::env::EnvSource;

/// The variables of an env file.
pub fn parse(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else { continue };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        vars.insert(key.to_string(), value_of(value.trim()));
    }
    vars
}

/// A value: quoted (the quotes removed; `\n`, `\"` and `\\` decoded in
/// double quotes), or bare up to a ` #` comment.
fn value_of(raw: &str) -> String {
    let mut chars = raw.chars();
    match chars.next() {
        Some(quote @ ('"' | '\'')) => {
            let mut out = String::new();
            let mut escaped = false;
            for c in chars {
                match (quote, escaped, c) {
                    ('"', false, '\\') => escaped = true,
                    ('"', true, 'n') => {
                        out.push('\n');
                        escaped = false;
                    }
                    (_, true, c) => {
                        out.push(c);
                        escaped = false;
                    }
                    (q, false, c) if c == q => return out,
                    (_, false, c) => out.push(c),
                }
            }
            // No closing quote: take the text as written.
            raw.to_string()
        }
        _ => super::parse::without_comment(raw).trim().to_string(),
    }
}

/// The process environment over a `.env` file's variables.
pub struct WithDotEnv<'a> {
    process: &'a dyn EnvSource,
    file: HashMap<String, String>,
}

impl<'a> WithDotEnv<'a> {
    /// Reads `path` if it exists; an unreadable file is reported, a missing
    /// one is no file.
    pub fn read(process: &'a dyn EnvSource, path: &Path) -> Result<WithDotEnv<'a>, std::io::Error> {
        let file = match std::fs::read_to_string(path) {
            Ok(text) => parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(e),
        };
        Ok(WithDotEnv { process, file })
    }

    /// How many variables the file held.
    pub fn len(&self) -> usize {
        self.file.len()
    }

    pub fn is_empty(&self) -> bool {
        self.file.is_empty()
    }
}

impl EnvSource for WithDotEnv<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.process.get(name).or_else(|| self.file.get(name).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_env_files_use() {
        let vars = parse(
            "# the Node tool's .env\n\
             PORT=3000\n\
             export ADMIN_USERNAME = root\n\
             ADMIN_PASSWORD=\"p#ss word\"\n\
             GUEST_PASSWORD='single quoted'\n\
             USE_LSKY_PRO=y  # re-host on our Lsky\n\
             MULTI=\"a\\nb\"\n\
             EMPTY=\n\
             not a line\n",
        );
        assert_eq!(vars["PORT"], "3000");
        assert_eq!(vars["ADMIN_USERNAME"], "root");
        assert_eq!(vars["ADMIN_PASSWORD"], "p#ss word");
        assert_eq!(vars["GUEST_PASSWORD"], "single quoted");
        assert_eq!(vars["USE_LSKY_PRO"], "y");
        assert_eq!(vars["MULTI"], "a\nb");
        assert_eq!(vars["EMPTY"], "");
        assert_eq!(vars.len(), 7);
    }

    #[test]
    fn the_process_environment_wins() {
        let process: HashMap<String, String> = [("PORT".to_string(), "8080".to_string())].into_iter().collect();
        let layered = WithDotEnv { process: &process, file: parse("PORT=3000\nPAGE_SIZE=12\n") };
        assert_eq!(layered.get("PORT").as_deref(), Some("8080"));
        assert_eq!(layered.get("PAGE_SIZE").as_deref(), Some("12"));
        assert_eq!(layered.get("NOPE"), None);
    }
}
