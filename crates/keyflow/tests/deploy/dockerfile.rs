//! Reads a Dockerfile the way the builder does, as far as these tests need:
//! logical lines (continuations joined, comment lines dropped), stages, and
//! the runtime instructions (`ENV`, `ENTRYPOINT`/`CMD`, `EXPOSE`, `VOLUME`,
//! `USER`, `HEALTHCHECK`).

use std::collections::BTreeMap;
use std::time::Duration;

/// One instruction: its keyword in upper case and the rest of the line.
#[derive(Debug, Clone)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

/// A build stage: `FROM base [AS name]` and what follows it.
#[derive(Debug, Clone)]
pub struct Stage {
    pub base: String,
    pub name: Option<String>,
    pub instructions: Vec<Instruction>,
}

impl Stage {
    pub fn all<'a>(&'a self, keyword: &str) -> impl Iterator<Item = &'a str> + 'a {
        let keyword = keyword.to_string();
        self.instructions.iter().filter(move |i| i.keyword == keyword).map(|i| i.args.as_str())
    }

    /// The last instruction of a kind: the one in force (`CMD`, `USER`...).
    pub fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last()
    }

    /// Every `ENV` of the stage, later ones overriding earlier ones.
    pub fn env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for args in self.all("ENV") {
            for (name, value) in env_assignments(args) {
                env.insert(name, value);
            }
        }
        env
    }

    /// `ENTRYPOINT` followed by `CMD`, each in exec form or `sh -c` for the shell form.
    pub fn command_line(&self) -> Vec<String> {
        let mut line = self.last("ENTRYPOINT").map(command).unwrap_or_default();
        line.extend(self.last("CMD").map(command).unwrap_or_default());
        line
    }
}

/// The file as the builder sees it: a `FROM` starts each stage; `ARG`s
/// before the first `FROM` are returned with their defaults.
pub fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Stage>) {
    let mut global_args = BTreeMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical_lines(text) {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((line.as_str(), ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_string();
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().filter(|w| !w.starts_with("--")).collect();
            let name = match words.as_slice() {
                [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => Some(name.to_string()),
                _ => None,
            };
            stages.push(Stage { base: words.first().unwrap_or(&"").to_string(), name, instructions: Vec::new() });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(Instruction { keyword, args });
        } else if keyword == "ARG" {
            let (name, value) = args.split_once('=').unwrap_or((args.as_str(), ""));
            global_args.insert(name.to_string(), value.to_string());
        }
    }
    (global_args, stages)
}

/// Lines with `\` continuations joined; blank lines and comment lines
/// (also those inside a continuation) dropped, as the builder does.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (part, continues) = match trimmed.strip_suffix('\\') {
            Some(part) => (part.trim(), true),
            None => (trimmed, false),
        };
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(part);
        if !continues {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `ENV A=1 B="two words"` (or the legacy `ENV A value`).
pub fn env_assignments(args: &str) -> Vec<(String, String)> {
    let words = shell_words(args);
    if words.first().is_some_and(|w| !w.contains('=')) {
        let (name, rest) = args.trim().split_once(char::is_whitespace).unwrap_or((args, ""));
        return vec![(name.to_string(), rest.trim().to_string())];
    }
    words.iter().filter_map(|w| w.split_once('=')).map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// Words split on whitespace outside double quotes, quotes removed.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut in_word) = (false, false);
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => (quoted, in_word) = (!quoted, true),
            '\\' => {
                word.extend(chars.next());
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Exec form (a JSON array) as is; shell form as `/bin/sh -c TEXT`.
pub fn command(args: &str) -> Vec<String> {
    let args = args.trim();
    if args.starts_with('[') {
        return serde_json::from_str(args).unwrap_or_else(|e| panic!("exec form {args}: {e}"));
    }
    vec!["/bin/sh".to_string(), "-c".to_string(), args.to_string()]
}

/// `VOLUME ["/a", "/b"]` or `VOLUME /a /b`.
pub fn volumes(args: &str) -> Vec<String> {
    if args.trim().starts_with('[') {
        return command(args);
    }
    args.split_whitespace().map(str::to_string).collect()
}

/// `HEALTHCHECK [--option=value...] CMD ...`.
#[derive(Debug)]
pub struct HealthCheck {
    pub options: BTreeMap<String, String>,
    pub command: Vec<String>,
}

pub fn health_check(args: &str) -> HealthCheck {
    let mut options = BTreeMap::new();
    let mut rest = args.trim();
    while let Some(option) = rest.strip_prefix("--") {
        let (word, tail) = option.split_once(char::is_whitespace).unwrap_or((option, ""));
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        options.insert(name.to_string(), value.to_string());
        rest = tail.trim_start();
    }
    let (keyword, command_text) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    assert!(keyword.eq_ignore_ascii_case("CMD"), "HEALTHCHECK without CMD: {args}");
    HealthCheck { options, command: command(command_text) }
}

/// Docker and Compose durations: `40s`, `1m30s`, `500ms`, `1h`.
pub fn duration(text: &str) -> Duration {
    let mut total = Duration::ZERO;
    let mut number = String::new();
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().unwrap_or_else(|_| panic!("duration {text}"));
        number.clear();
        total += match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                Duration::from_millis(n)
            }
            ('h', _) => Duration::from_secs(n * 3600),
            ('m', _) => Duration::from_secs(n * 60),
            ('s', _) => Duration::from_secs(n),
            _ => panic!("duration {text}: unknown unit {c}"),
        };
    }
    assert!(number.is_empty(), "duration {text} lacks a unit");
    total
}

#[test]
fn reads_instructions_as_the_builder_does() {
    let text = "# syntax=docker/dockerfile:1\nARG V=1\nFROM rust:${V} AS build\nRUN a \\\n  # note\n  && b\n\
                FROM debian\nENV A=1 \\\n    B=\"two words\"\nENV C 3\nENTRYPOINT [\"/bin/k\"]\nCMD [\"serve\"]\n\
                HEALTHCHECK --interval=30s --timeout=5s CMD curl -f http://x/ || exit 1\n";
    let (args, stages) = parse(text);
    assert_eq!(args.get("V").map(String::as_str), Some("1"));
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].name.as_deref(), Some("build"));
    assert_eq!(stages[0].last("RUN"), Some("a && b"));
    let env = stages[1].env();
    assert_eq!(env.get("B").map(String::as_str), Some("two words"));
    assert_eq!(env.get("C").map(String::as_str), Some("3"));
    assert_eq!(stages[1].command_line(), ["/bin/k", "serve"]);
    let check = health_check(stages[1].last("HEALTHCHECK").unwrap());
    assert_eq!(check.options.get("timeout").map(String::as_str), Some("5s"));
    assert_eq!(check.command, ["/bin/sh", "-c", "curl -f http://x/ || exit 1"]);
    assert_eq!(duration("1m30s"), Duration::from_secs(90));
    assert_eq!(duration("250ms"), Duration::from_millis(250));
}
