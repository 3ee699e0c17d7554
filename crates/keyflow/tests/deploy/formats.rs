//! The small file formats around the deployment: Compose's `${...}`
//! interpolation and YAML merge keys, env files (systemd `EnvironmentFile=`,
//! Compose `env_file`), systemd unit files, and `.dockerignore` patterns.

use std::collections::BTreeMap;

use yaml_rust2::Yaml;

/// Compose interpolation: `$$`, `${NAME}`, `${NAME:-default}`,
/// `${NAME-default}`, `${NAME:?message}`, `${NAME?message}`. The error is
/// the message Compose stops with.
pub fn interpolate(text: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(tail) = rest.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let Some(inner_start) = rest.strip_prefix('{') else {
            return Err(format!("unsupported interpolation in {text:?}: use ${{NAME}}"));
        };
        let end = inner_start.find('}').ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
        let expr = &inner_start[..end];
        rest = &inner_start[end + 1..];
        let name_end = expr.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expr.len());
        let (name, op) = expr.split_at(name_end);
        let value = env.get(name);
        let blank = value.is_none_or(|v| v.is_empty());
        let resolved = match op {
            "" => value.cloned().unwrap_or_default(),
            _ if op.starts_with(":?") => match blank {
                true => return Err(format!("required variable {name} is missing a value: {}", &op[2..])),
                false => value.cloned().unwrap_or_default(),
            },
            _ if op.starts_with('?') => match value {
                None => return Err(format!("required variable {name} is missing a value: {}", &op[1..])),
                Some(v) => v.clone(),
            },
            _ if op.starts_with(":-") => {
                if blank {
                    op[2..].to_string()
                } else {
                    value.cloned().unwrap_or_default()
                }
            }
            _ if op.starts_with('-') => value.cloned().unwrap_or_else(|| op[1..].to_string()),
            _ => return Err(format!("unsupported interpolation ${{{expr}}}")),
        };
        out.push_str(&resolved);
    }
    out.push_str(rest);
    Ok(out)
}

/// YAML merge keys resolved, as Compose reads them: in a mapping, `<<: *x`
/// (or a list of aliases) brings in the keys the mapping does not set
/// itself; nested mappings are not merged. The loader has already replaced
/// aliases by what they name.
pub fn merge_keys(yaml: &Yaml) -> Yaml {
    match yaml {
        Yaml::Hash(hash) => {
            let merge = Yaml::String("<<".into());
            let mut out = yaml_rust2::yaml::Hash::new();
            for (key, value) in hash.iter().filter(|(key, _)| **key != merge) {
                out.insert(key.clone(), merge_keys(value));
            }
            let sources = match hash.get(&merge) {
                Some(Yaml::Array(list)) => list.clone(),
                Some(one) => vec![one.clone()],
                None => Vec::new(),
            };
            for source in &sources {
                let Yaml::Hash(source) = merge_keys(source) else { panic!("<< must name a mapping: {source:?}") };
                for (key, value) in source {
                    out.entry(key).or_insert(value);
                }
            }
            Yaml::Hash(out)
        }
        Yaml::Array(list) => Yaml::Array(list.iter().map(merge_keys).collect()),
        other => other.clone(),
    }
}

/// One `NAME=value` line of an env file, active or commented out (`#NAME=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvLine {
    pub name: String,
    pub value: String,
    pub active: bool,
}

/// The assignments of an env file as both systemd and Compose read it
/// (plain `NAME=value`, comments on their own lines). Commented-out
/// assignments are returned too, inactive, so their names can be checked.
pub fn env_file(text: &str) -> Vec<EnvLine> {
    let mut lines = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        let (body, active) = match line.strip_prefix('#') {
            Some(body) => (body.trim_start(), false),
            None => (line, true),
        };
        let Some((name, value)) = body.split_once('=') else {
            assert!(!active || line.is_empty(), "not NAME=value: {raw:?}");
            continue;
        };
        let is_name =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if is_name {
            lines.push(EnvLine { name: name.to_string(), value: value.to_string(), active });
        } else {
            assert!(!active, "not NAME=value: {raw:?}");
        }
    }
    lines
}

/// A systemd unit: `(section, key, value)` in file order (keys repeat).
pub fn unit_file(text: &str) -> Vec<(String, String, String)> {
    let mut entries = Vec::new();
    let mut section = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        assert!(!line.ends_with('\\'), "continuation lines are not expected: {raw:?}");
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("not Key=Value: {raw:?}"));
        assert!(!section.is_empty(), "{key} outside a section");
        entries.push((section.clone(), key.trim().to_string(), value.trim().to_string()));
    }
    entries
}

/// `.dockerignore` as the builder applies it: patterns in order, the last
/// one matching the path or one of its parent directories decides, `!`
/// re-includes; `*` matches within a path segment, `**` any segments.
pub fn docker_ignored(patterns: &str, path: &str) -> bool {
    let mut ignored = false;
    for raw in patterns.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, pattern) = match line.strip_prefix('!') {
            Some(p) => (true, p.trim()),
            None => (false, line),
        };
        let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
        let segments: Vec<&str> = path.split('/').collect();
        let matches = (1..=segments.len()).any(|n| glob_path(&pattern, &segments[..n]));
        if matches {
            ignored = !negated;
        }
    }
    ignored
}

fn glob_path(pattern: &[&str], path: &[&str]) -> bool {
    match (pattern.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => glob_path(&pattern[1..], path) || (!path.is_empty() && glob_path(pattern, &path[1..])),
        (Some(p), Some(s)) => glob_segment(p.as_bytes(), s.as_bytes()) && glob_path(&pattern[1..], &path[1..]),
        _ => false,
    }
}

fn glob_segment(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob_segment(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob_segment(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob_segment(rest, &text[1..]),
    }
}

#[test]
fn interpolation_follows_compose() {
    let env: BTreeMap<String, String> =
        [("SET".to_string(), "v".to_string()), ("EMPTY".to_string(), String::new())].into();
    assert_eq!(interpolate("a${SET}b$$", &env), Ok("avb$".to_string()));
    assert_eq!(interpolate("${EMPTY:-d}/${EMPTY-d}/${NONE-d}", &env), Ok("d//d".to_string()));
    assert!(interpolate("${EMPTY:?say it}", &env).is_err_and(|e| e.contains("say it")));
    assert_eq!(interpolate("${EMPTY?say it}", &env), Ok(String::new()));
    assert!(interpolate("${NONE?say it}", &env).is_err());
}

#[test]
fn merge_keys_fill_in_what_a_mapping_does_not_set() {
    let text = "base: &b {a: 1, env: {X: 1}}\nother: &o {c: 3}\nuse: {<<: [*b, *o], a: 2, env: {Y: 2}}\n";
    let doc = &yaml_rust2::YamlLoader::load_from_str(text).expect("YAML")[0];
    let merged = merge_keys(doc);
    let used = &merged["use"];
    assert_eq!(used["a"].as_i64(), Some(2), "the mapping's own key wins");
    assert_eq!(used["c"].as_i64(), Some(3), "every listed source is merged");
    assert!(used["env"]["X"].is_badvalue() && used["env"]["Y"].as_i64() == Some(2), "nested mappings are replaced");
    assert!(used["<<"].is_badvalue());
}

#[test]
fn env_files_and_units_and_ignore_patterns() {
    let lines = env_file("# about\nA=1\n#B=2\n# not an assignment: x=y\n\nC=\n");
    let names: Vec<(&str, bool)> = lines.iter().map(|l| (l.name.as_str(), l.active)).collect();
    assert_eq!(names, [("A", true), ("B", false), ("C", true)]);
    let unit = unit_file("[Unit]\nA=1\n# c\n[Service]\nB = 2\nB=3\n");
    assert_eq!(unit.len(), 3);
    assert_eq!(unit[2], ("Service".to_string(), "B".to_string(), "3".to_string()));
    let ignore = "*\n!Cargo.toml\n!crates/\n**/target\n**/*.db\n";
    assert!(docker_ignored(ignore, "README.md"));
    assert!(docker_ignored(ignore, ".git/config"));
    assert!(!docker_ignored(ignore, "Cargo.toml"));
    assert!(!docker_ignored(ignore, "crates/keyflow/src/main.rs"));
    assert!(docker_ignored(ignore, "crates/keyflow/target/x"));
    assert!(docker_ignored(ignore, "crates/a.db"));
}
