//! The key import (`pool::import::parse_keys`) on pasted text of any shape:
//! it finds only valid keys, each once, and reads them back the same.

use std::collections::HashSet;
use std::time::Instant;

use keyflow::pool::import::{is_valid_key, parse_keys};
use proptest::prelude::*;

use super::{assert_linear, cases, corpus, grown, text_of, timing_cases};

fn check_import(text: &str) {
    let parsed = parse_keys(text);
    let mut seen = HashSet::new();
    for key in &parsed.keys {
        assert!(is_valid_key(&key.key), "{:?} is no key", key.key);
        assert!(text.contains(&key.key), "{:?} is not in the text", key.key);
        assert!(seen.insert(&key.key), "{:?} twice", key.key);
        assert!(key.balance_hint.is_none_or(f64::is_finite), "{key:?}");
    }
    for token in &parsed.malformed {
        assert!(token.starts_with("sk-") && token.chars().count() <= 64, "{token:?}");
    }
    // What was found reads back the same from a plain list.
    let listed: Vec<&str> = parsed.keys.iter().map(|k| k.key.as_str()).collect();
    let again: Vec<String> = parse_keys(&listed.join("\n")).keys.into_iter().map(|k| k.key).collect();
    assert_eq!(again, listed);
}

fn import_text() -> impl Strategy<Value = String> {
    text_of(
        vec![
            "sk-",
            "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL",
            "sk-abcdefghijklmnop",
            "abcdefghijklmnop",
            "task-",
            "-",
            "----",
            "-----",
            "12.5",
            "-3",
            "99999999999999999999999999999999999",
            "(",
            ")",
            "（余额: ¥",
            "）",
            ":",
            "：",
            "|",
            "=",
            "$",
            "元",
            " ",
            "\t",
            "\n",
            "\r\n",
            ",",
            "，",
            ".",
            "!",
            "\"",
            "[",
            "]",
            "\u{feff}",
            "你好",
        ],
        40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn import_never_panics_and_finds_only_keys(text in import_text()) {
        check_import(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(timing_cases()))]

    #[test]
    fn import_is_linear(unit in import_text()) {
        let text = String::from_utf8(grown(unit.as_bytes())).unwrap();
        let started = Instant::now();
        parse_keys(&text);
        assert_linear("import", text.len(), started.elapsed());
    }
}

#[test]
fn import_corpus() {
    for (name, seed) in corpus("import") {
        let text = String::from_utf8_lossy(&seed);
        check_import(&text);
        let big = String::from_utf8_lossy(&grown(&seed)).into_owned();
        let started = Instant::now();
        parse_keys(&big);
        assert_linear(&format!("import/{name}"), big.len(), started.elapsed());
    }
}
