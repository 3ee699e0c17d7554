//! The request facts (`usage::request_facts`) against serde_json: the same
//! `model`, `stream` and `user` for every body serde_json reads as an
//! object, a refusal for every body it refuses, whatever the bytes.

use std::fmt;
use std::time::Instant;

use keyflow::usage::{request_facts, FactsError, RequestFacts};
use proptest::prelude::*;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::{assert_linear, cases, corpus, grown, timing_cases};

/// The top-level members of a JSON object as serde_json reads them, in
/// order and with duplicates: the reference for `request_facts`.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

/// What upstream reads from a body serde_json accepts: the last of each
/// key, and `Err` when `model` comes twice (keyflow refuses those).
fn facts_of(entries: &[(String, Value)]) -> Result<RequestFacts, FactsError> {
    if entries.iter().filter(|(key, _)| key == "model").count() > 1 {
        return Err(FactsError::DuplicateModel);
    }
    let last = |name: &str| entries.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value);
    let string = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_string);
    let metadata_user = || string(last("metadata").and_then(|m| m.get("user_id")));
    Ok(RequestFacts {
        model: string(last("model")),
        stream: last("stream") == Some(&Value::Bool(true)),
        user: string(last("user")).or_else(metadata_user),
    })
}

/// Whether the first byte after JSON whitespace opens an object.
fn opens_object(body: &[u8]) -> bool {
    body.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b'{')
}

/// Checks `request_facts` on any bytes: no panic, and where serde_json reads
/// the body as an object, the same facts (or the duplicate `model` error).
/// `exact`: the body holds no string serde_json refuses for its contents
/// (bad escapes, control characters), so serde_json refusing it means it is
/// malformed and keyflow must refuse it too.
fn check_facts(body: &[u8], exact: bool) {
    let facts = request_facts(body);
    if !opens_object(body) || body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return;
    }
    match serde_json::from_slice::<Entries>(body) {
        Ok(Entries(entries)) => assert_eq!(facts, facts_of(&entries), "{}", String::from_utf8_lossy(body)),
        Err(e) if exact => {
            assert!(facts.is_err(), "serde_json: {e}; keyflow: {facts:?}; {}", String::from_utf8_lossy(body))
        }
        Err(_) => {}
    }
}

/// JSON-ish token soup: mostly malformed, sometimes an object.
fn token_body() -> impl Strategy<Value = String> {
    let tokens = vec![
        "{",
        "{",
        "}",
        "}",
        "[",
        "]",
        ",",
        ",",
        ":",
        ":",
        " ",
        "\n",
        r#""model""#,
        r#""model""#,
        r#""stream""#,
        r#""user""#,
        r#""metadata""#,
        r#""user_id""#,
        r#""mod\u0065l""#,
        r#""us\u0065r""#,
        r#""x""#,
        r#""a\"b""#,
        r#""\\""#,
        r#""猫""#,
        r#""\ud83d\ude00""#,
        r#""}{""#,
        "true",
        "false",
        "null",
        "0",
        "-1.5e3",
        "12",
        "NaN",
        "Infinity",
        "01",
        "1.",
        "-",
        "tru",
        "'a'",
        "/**/",
    ];
    (prop::collection::vec(prop::sample::select(tokens), 0..24)).prop_map(|t| format!("{{{}", t.concat()))
}

/// A JSON value with duplicate keys allowed, written out by `write_json`.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    Number(&'static str),
    Text(&'static str),
    Array(Vec<Json>),
    Object(Vec<(&'static str, Json)>),
    /// Written as is: what lenient parsers accept and JSON does not.
    Flaw(&'static str),
}

/// Values that are not JSON, each where a value goes.
fn flaw() -> impl Strategy<Value = Json> {
    let flaws = vec![
        "NaN",
        "Infinity",
        "-Infinity",
        "'a'",
        "01",
        "1.",
        "+1",
        ".5",
        "tru",
        "nul",
        "[1,]",
        "{\"a\":1,}",
        "/**/1",
        "[}",
        "{]",
        "\"x\" \"y\"",
        "1 2",
        "[1 2]",
        "{\"a\" 1}",
        "{a:1}",
        "\"open",
        "[",
        "{",
        "}",
        "",
        "0x10",
        "1e",
    ];
    prop::sample::select(flaws).prop_map(Json::Flaw)
}

fn json_value() -> impl Strategy<Value = Json> {
    json_value_with(Just(Json::Null))
}

/// `json_value`, with `extra` among the leaves.
fn json_value_with(extra: impl Strategy<Value = Json> + 'static) -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        1 => extra,
        1 => Just(Json::Null),
        1 => any::<bool>().prop_map(Json::Bool),
        1 => prop::sample::select(vec!["0", "-1", "1.5", "2e10", "-0.0", "1E-3"]).prop_map(Json::Number),
        2 => prop::sample::select(vec!["", "m", "Qwen/Qwen3-8B", "a\"b", "back\\slash", "猫", "😀", "}{", "\n"])
            .prop_map(Json::Text),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((json_key(), inner), 0..4).prop_map(Json::Object),
        ]
    })
}

fn json_key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["model", "stream", "user", "metadata", "user_id", "messages", "x", "模型"])
}

/// A request-like object: members drawn from the interesting keys.
fn json_object() -> impl Strategy<Value = Json> {
    prop::collection::vec((json_key(), json_value()), 0..6).prop_map(Json::Object)
}

/// A request-like object with flaws somewhere (or, by chance, none).
fn flawed_object() -> impl Strategy<Value = Json> {
    prop::collection::vec((json_key(), json_value_with(flaw())), 1..6).prop_map(Json::Object)
}

/// Writes `json` with whitespace and escapes chosen by `choices` (cycled).
fn write_json(json: &Json, choices: &[u8], at: &mut usize, out: &mut String) {
    let mut choose = |n: u8| {
        let choice = choices.get(*at % choices.len().max(1)).copied().unwrap_or(0) % n;
        *at += 1;
        choice
    };
    let space = [" ", "", "\n", "\t", "\r\n", ""][usize::from(choose(6))];
    out.push_str(space);
    match json {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) | Json::Flaw(n) => out.push_str(n),
        Json::Text(text) => write_string(text, choose(2) == 0, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, choices, at, out);
            }
            out.push(']');
        }
        Json::Object(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let escape = choices.get(*at % choices.len().max(1)).is_some_and(|c| c % 3 == 0);
                *at += 1;
                write_string(key, escape, out);
                out.push(':');
                write_json(value, choices, at, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string; with `escape_all`, every character as `\uXXXX`.
fn write_string(text: &str, escape_all: bool, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            _ if escape_all => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn facts_never_panic_on_any_bytes(body in prop::collection::vec(any::<u8>(), 0..64)) {
        check_facts(&body, false);
    }

    #[test]
    fn facts_agree_with_serde_on_token_soup(body in token_body()) {
        check_facts(body.as_bytes(), true);
    }

    #[test]
    fn facts_read_generated_objects_like_serde(
        json in json_object(),
        choices in prop::collection::vec(any::<u8>(), 1..32),
    ) {
        let mut body = String::new();
        write_json(&json, &choices, &mut 0, &mut body);
        prop_assert!(serde_json::from_str::<Entries>(&body).is_ok(), "the writer wrote bad JSON: {}", body);
        check_facts(body.as_bytes(), true);
    }

    #[test]
    fn facts_refuse_what_serde_refuses(
        json in flawed_object(),
        choices in prop::collection::vec(any::<u8>(), 1..32),
    ) {
        let mut body = String::new();
        write_json(&json, &choices, &mut 0, &mut body);
        check_facts(body.as_bytes(), true);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(timing_cases()))]

    #[test]
    fn facts_are_linear(unit in token_body()) {
        // As one huge member value, and as the soup itself repeated.
        let inner = grown(unit.as_bytes());
        let mut wrapped = br#"{"messages":["#.to_vec();
        wrapped.extend_from_slice(&inner);
        wrapped.extend_from_slice(br#"],"model":"m"}"#);
        for body in [inner, wrapped] {
            let started = Instant::now();
            let _ = request_facts(&body);
            assert_linear("request_facts", body.len(), started.elapsed());
        }
    }
}

#[test]
fn facts_corpus() {
    for (name, seed) in corpus("request_facts") {
        check_facts(&seed, false);
        let big = grown(&seed);
        let started = Instant::now();
        let _ = request_facts(&big);
        assert_linear(&format!("request_facts/{name}"), big.len(), started.elapsed());
    }
}
