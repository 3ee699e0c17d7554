//! Tests of the key import parser: every accepted text shape, malformed tokens, balance hints, and proptest round trips through export.

use super::*;
use crate::pool::export::{render_export, ExportOptions, ExportRow, ExportSort, Separator, SortOrder};
use proptest::prelude::*;

/// A valid 48-character key, distinct for each `n`.
fn key(n: usize) -> String {
    format!("sk-{:a>48}", format!("k{n}"))
}

fn keys_of(parsed: &ParsedImport) -> Vec<&str> {
    parsed.keys.iter().map(|k| k.key.as_str()).collect()
}

fn hints_of(parsed: &ParsedImport) -> Vec<Option<f64>> {
    parsed.keys.iter().map(|k| k.balance_hint).collect()
}

#[test]
fn valid_key_bounds() {
    assert!(is_valid_key(&format!("sk-{}", "a".repeat(MIN_KEY_BODY))));
    assert!(!is_valid_key(&format!("sk-{}", "a".repeat(MIN_KEY_BODY - 1))));
    assert!(is_valid_key(&format!("sk-{}", "A1".repeat(MAX_KEY_BODY / 2))));
    assert!(!is_valid_key(&format!("sk-{}", "a".repeat(MAX_KEY_BODY + 1))));
    assert!(!is_valid_key(&format!("sk-{}_", "a".repeat(20))));
    assert!(!is_valid_key(&format!("SK-{}", "a".repeat(20))));
    assert!(!is_valid_key(&format!(" sk-{}", "a".repeat(20))));
}

#[test]
fn every_separator_splits_keys() {
    let (a, b, c) = (key(1), key(2), key(3));
    for sep in ["\n", "\r\n", ",", ", ", " ", "\t", ";", "，", "；", "\u{3000}", "、", "\n\n\n"] {
        let parsed = parse_keys(&format!("{a}{sep}{b}{sep}{c}"));
        assert_eq!(keys_of(&parsed), [a.as_str(), b.as_str(), c.as_str()], "sep {sep:?}");
        assert_eq!(hints_of(&parsed), [None, None, None], "sep {sep:?}");
        assert!(parsed.malformed.is_empty());
    }
}

#[test]
fn mixed_separators_blank_lines_and_crlf() {
    let (a, b, c, d) = (key(1), key(2), key(3), key(4));
    let text = format!("\r\n\r\n{a}，{b}\r\n\r\n  {c};{d}\u{3000}\r\n");
    assert_eq!(keys_of(&parse_keys(&text)), [a.as_str(), b.as_str(), c.as_str(), d.as_str()]);
}

#[test]
fn prefixes_are_ignored() {
    let a = key(1);
    for prefix in ["key:", "Key: ", "key=", "1. ", "- ", "* ", "KEY：", "密钥", "42) "] {
        let parsed = parse_keys(&format!("{prefix}{a}"));
        assert_eq!(keys_of(&parsed), [a.as_str()], "prefix {prefix:?}");
        assert!(parsed.malformed.is_empty(), "prefix {prefix:?}");
    }
}

#[test]
fn quotes_and_json_arrays() {
    let (a, b) = (key(1), key(2));
    for (open, close) in [("\"", "\""), ("'", "'"), ("`", "`"), ("[", "]"), ("“", "”"), ("「", "」")] {
        let parsed = parse_keys(&format!("{open}{a}{close} {open}{b}{close}"));
        assert_eq!(keys_of(&parsed), [a.as_str(), b.as_str()], "quote {open}");
    }
    let parsed = parse_keys(&format!("[\"{a}\",\"{b}\"]"));
    assert_eq!(keys_of(&parsed), [a.as_str(), b.as_str()]);
    let parsed = parse_keys(&format!("{{\"keys\": [\n  \"{a}\",\n  \"{b}\"\n]}}"));
    assert_eq!(keys_of(&parsed), [a.as_str(), b.as_str()]);
}

#[test]
fn every_suffix_style_gives_the_balance() {
    let a = key(1);
    let cases = [
        ("(12.5)", 12.5),
        (" (12.5)", 12.5),
        ("（12.5）", 12.5),
        (" （余额：12.5元）", 12.5),
        ("(余额: ¥14.00)", 14.0),
        (" (余额: ￥14.00)", 14.0),
        ("(balance: 3.2)", 3.2),
        ("(Balance: CNY 3.2)", 3.2),
        ("(-1.5)", -1.5),
        ("----14.00", 14.0),
        ("---- 14.00", 14.0),
        ("--14", 14.0),
        ("----¥14.00", 14.0),
        ("-----1.50", -1.5),
        ("|14.00", 14.0),
        (" | 14.00", 14.0),
        (":14.00", 14.0),
        ("：14.00", 14.0),
        ("=14", 14.0),
        (":cny14", 14.0),
        (" 14.00", 14.0),
        ("\t14.00", 14.0),
        ("\t¥14.00", 14.0),
        (" 14 CNY", 14.0),
        (" 14元", 14.0),
        (",14.00", 14.0),
    ];
    for (suffix, balance) in cases {
        for end in ["", "\n", "\r\n", ",", " "] {
            let parsed = parse_keys(&format!("{a}{suffix}{end}"));
            assert_eq!(keys_of(&parsed), [a.as_str()], "suffix {suffix:?}{end:?}");
            assert_eq!(hints_of(&parsed), [Some(balance)], "suffix {suffix:?}{end:?}");
            assert!(parsed.malformed.is_empty(), "suffix {suffix:?}{end:?}");
        }
    }
}

#[test]
fn suffixes_work_inside_lists() {
    let (a, b, c) = (key(1), key(2), key(3));
    let text = format!("1. {a}(余额: ¥14.00)\n2. {b}----3.20\r\n3. {c}");
    let parsed = parse_keys(&text);
    assert_eq!(keys_of(&parsed), [a.as_str(), b.as_str(), c.as_str()]);
    assert_eq!(hints_of(&parsed), [Some(14.0), Some(3.2), None]);
    let text = format!("{a}|1,{b}:2；{c}（3）");
    assert_eq!(hints_of(&parse_keys(&text)), [Some(1.0), Some(2.0), Some(3.0)]);
}

#[test]
fn list_markers_on_one_line_are_not_balances() {
    let (a, b) = (key(1), key(2));
    for text in [format!("{a} 2. {b}"), format!("{a} 2) {b}"), format!("{a}, 2. {b}"), format!("{a} - {b}")] {
        let parsed = parse_keys(&text);
        assert_eq!(keys_of(&parsed), [a.as_str(), b.as_str()], "{text}");
        assert_eq!(hints_of(&parsed), [None, None], "{text}");
    }
}

#[test]
fn parenthesis_without_number_or_holding_a_key_gives_no_balance() {
    let (a, b) = (key(1), key(2));
    assert_eq!(hints_of(&parse_keys(&format!("{a} (main account)"))), [None]);
    assert_eq!(hints_of(&parse_keys(&format!("{a} (12.5"))), [None]);
    let parsed = parse_keys(&format!("{a} ({b})"));
    assert_eq!(keys_of(&parsed), [a.as_str(), b.as_str()]);
    assert_eq!(hints_of(&parsed), [None, None]);
}

#[test]
fn duplicates_count_once_and_keep_first_position() {
    let (a, b) = (key(1), key(2));
    let parsed = parse_keys(&format!("{a}\n{b}\n{a}\n{a},{b}"));
    assert_eq!(keys_of(&parsed), [a.as_str(), b.as_str()]);
    assert_eq!(parsed.duplicates_in_input, 3);
}

#[test]
fn a_later_duplicate_supplies_a_missing_balance() {
    let a = key(1);
    let parsed = parse_keys(&format!("{a}\n{a}----5.00\n{a}----7.00"));
    assert_eq!(hints_of(&parsed), [Some(5.0)]);
    assert_eq!(parsed.duplicates_in_input, 2);
}

#[test]
fn bom_is_skipped() {
    let (a, b) = (key(1), key(2));
    let parsed = parse_keys(&format!("\u{feff}{a}\r\n{b}\r\n"));
    assert_eq!(keys_of(&parsed), [a.as_str(), b.as_str()]);
}

#[test]
fn plain_words_are_ignored_not_malformed() {
    let a = key(1);
    let text = format!("hello\nAPI keys below:\n{a}\ntask-force mask-{} done.", "x".repeat(30));
    let parsed = parse_keys(&text);
    assert_eq!(keys_of(&parsed), [a.as_str()]);
    assert!(parsed.malformed.is_empty());
}

#[test]
fn key_at_the_end_of_a_sentence() {
    let a = key(1);
    assert_eq!(keys_of(&parse_keys(&format!("my key is {a}."))), [a.as_str()]);
    assert_eq!(keys_of(&parse_keys(&format!("{a}。{}", key(2)))).len(), 2);
}

#[test]
fn sk_tokens_that_are_not_keys_are_malformed() {
    let a = key(1);
    let long = format!("sk-{}", "b".repeat(MAX_KEY_BODY + 10));
    let text = format!(
        "sk-abc#def\nsk-short\nsk-\n{a}\nsk-{}_x\n{long}\nsk-abc#def\nsk-abcdefghijklmnopq.rst",
        "c".repeat(20)
    );
    let parsed = parse_keys(&text);
    assert_eq!(keys_of(&parsed), [a.as_str()]);
    let expected_long: String = long.chars().take(64).collect();
    assert_eq!(
        parsed.malformed,
        [
            "sk-abc#def".to_owned(),
            "sk-short".to_owned(),
            "sk-".to_owned(),
            format!("sk-{}_x", "c".repeat(20)),
            expected_long,
            "sk-abcdefghijklmnopq.rst".to_owned(),
        ]
    );
}

#[test]
fn malformed_token_stops_at_a_delimiter() {
    let a = key(1);
    let parsed = parse_keys(&format!("\"sk-ab#cd\",\"{a}\""));
    assert_eq!(parsed.malformed, ["sk-ab#cd"]);
    assert_eq!(keys_of(&parsed), [a.as_str()]);
    let parsed = parse_keys(&format!("{a}-oops"));
    assert_eq!(parsed.malformed.len(), 1);
    assert!(parsed.keys.is_empty());
}

#[test]
fn non_ascii_letters_make_a_key_malformed() {
    let parsed = parse_keys("sk-abcdefghijklmnopqrsé");
    assert!(parsed.keys.is_empty());
    assert_eq!(parsed.malformed, ["sk-abcdefghijklmnopqrsé"]);
}

#[test]
fn empty_and_whitespace_only_input() {
    assert_eq!(parse_keys(""), ParsedImport::default());
    assert_eq!(parse_keys(" \r\n\t\u{3000}\u{feff}"), ParsedImport::default());
}

#[test]
fn hundred_thousand_keys_parse_in_linear_time() {
    let n_keys = 100_000;
    let mut text = String::with_capacity(n_keys * 60);
    for n in 0..n_keys {
        text.push_str(&key(n));
        text.push_str("----1.00\n");
    }
    // Every key twice: the dedupe must stay a hash lookup.
    let doubled = format!("{text}{text}");
    let started = std::time::Instant::now();
    let parsed = parse_keys(&doubled);
    let elapsed = started.elapsed();
    assert_eq!(parsed.keys.len(), n_keys);
    assert_eq!(parsed.duplicates_in_input, n_keys);
    // Generous for debug builds on a slow machine; a quadratic parser takes minutes.
    assert!(elapsed.as_secs() < 10, "took {elapsed:?}");
}

const SEPARATORS: &[&str] = &["\n", "\r\n", "\n\n", ",", ", ", " ", "\t", ";", " ; ", "，", "；", "\u{3000}", "、"];
const PREFIXES: &[&str] = &["", "key:", "Key: ", "key=", "1. ", "- ", "* "];
const QUOTES: &[(&str, &str)] = &[("", ""), ("\"", "\""), ("'", "'"), ("`", "`"), ("[", "]")];
const SUFFIXES: &[(&str, Option<f64>)] = &[
    ("", None),
    ("(12.5)", Some(12.5)),
    (" (12.5)", Some(12.5)),
    ("（12.5）", Some(12.5)),
    ("(余额: ¥14.00)", Some(14.0)),
    (" (balance: 3.2)", Some(3.2)),
    ("----14.00", Some(14.0)),
    ("|14.00", Some(14.0)),
    (":14.00", Some(14.0)),
    ("：￥0.5", Some(0.5)),
    (" 7.25", Some(7.25)),
    ("\t¥9", Some(9.0)),
];

/// How one occurrence of a key is written: prefix, quotes, suffix, separator.
#[derive(Debug, Clone)]
struct Decoration {
    prefix: &'static str,
    quotes: (&'static str, &'static str),
    suffix: (&'static str, Option<f64>),
    separator: &'static str,
}

fn decoration() -> impl Strategy<Value = Decoration> {
    (
        prop::sample::select(PREFIXES),
        prop::sample::select(QUOTES),
        prop::sample::select(SUFFIXES),
        prop::sample::select(SEPARATORS),
    )
        .prop_map(|(prefix, quotes, suffix, separator)| Decoration { prefix, quotes, suffix, separator })
}

/// Distinct valid keys, then a sequence of decorated occurrences of them
/// (indices may repeat, so duplicates are exercised too).
fn paste() -> impl Strategy<Value = (Vec<String>, Vec<(usize, Decoration)>, bool)> {
    prop::collection::hash_set("[A-Za-z0-9]{16,64}", 1..20).prop_flat_map(|bodies| {
        let keys: Vec<String> = bodies.into_iter().map(|b| format!("sk-{b}")).collect();
        let n_keys = keys.len();
        (Just(keys), prop::collection::vec((0..n_keys, decoration()), 1..40), any::<bool>())
    })
}

fn rows() -> impl Strategy<Value = Vec<ExportRow>> {
    prop::collection::hash_map("[A-Za-z0-9]{16,64}", prop::option::of(-1000.0..1.0e7f64), 0..40).prop_map(|map| {
        map.into_iter().map(|(body, balance)| ExportRow { key: format!("sk-{body}"), balance }).collect()
    })
}

/// Fragments that steer random text into the parser's corners.
const FRAGMENTS: &[&str] = &[
    "sk-",
    "sk-",
    "a",
    "Z",
    "0",
    "9",
    "abcdefghijklmnop",
    "-",
    "--",
    "----",
    "-----",
    ".",
    "(",
    ")",
    "（",
    "）",
    "¥",
    "CNY",
    " ",
    "\t",
    "\n",
    "\r\n",
    ",",
    "，",
    "、",
    "é",
    "\u{feff}",
    "|",
    ":",
    "：",
    "余额",
    "1.5",
    "\"",
    "[",
    "]",
    "#",
    "_",
    "\u{3000}",
    "元",
];

proptest! {
    #[test]
    fn decorated_keys_come_back_in_order_each_once((keys, items, bom) in paste()) {
        let mut text = String::from(if bom { "\u{feff}" } else { "" });
        let mut expected: Vec<(String, Option<f64>)> = Vec::new();
        for (index, deco) in &items {
            let key = &keys[*index];
            text.push_str(deco.prefix);
            text.push_str(deco.quotes.0);
            text.push_str(key);
            text.push_str(deco.suffix.0);
            text.push_str(deco.quotes.1);
            text.push_str(deco.separator);
            match expected.iter_mut().find(|(k, _)| k == key) {
                Some(seen) => {
                    if seen.1.is_none() {
                        seen.1 = deco.suffix.1;
                    }
                }
                None => expected.push((key.clone(), deco.suffix.1)),
            }
        }
        let parsed = parse_keys(&text);
        let got: Vec<(String, Option<f64>)> =
            parsed.keys.iter().map(|k| (k.key.clone(), k.balance_hint)).collect();
        prop_assert_eq!(got, expected.clone(), "text {:?}", text);
        prop_assert!(parsed.malformed.is_empty(), "malformed {:?} in {:?}", parsed.malformed, text);
        prop_assert_eq!(parsed.duplicates_in_input, items.len() - expected.len());
    }

    #[test]
    fn json_arrays_come_back_in_order(bodies in prop::collection::vec("[A-Za-z0-9]{16,64}", 0..30)) {
        let keys: Vec<String> = bodies.iter().map(|b| format!("sk-{b}")).collect();
        let mut expected: Vec<&str> = Vec::new();
        for key in &keys {
            if !expected.contains(&key.as_str()) {
                expected.push(key);
            }
        }
        let text = serde_json::to_string_pretty(&keys).unwrap_or_default();
        let parsed = parse_keys(&text);
        prop_assert_eq!(keys_of(&parsed), expected);
    }

    #[test]
    fn export_with_balance_reads_back(
        rows in rows(),
        by_key in any::<bool>(),
        order in prop::sample::select(vec![None, Some(SortOrder::Asc), Some(SortOrder::Desc)]),
        comma in any::<bool>(),
    ) {
        let options = ExportOptions {
            sort: if by_key { ExportSort::Key } else { ExportSort::Balance },
            order,
            sep: if comma { Separator::Comma } else { Separator::Newline },
            with_balance: true,
            ..ExportOptions::default()
        };
        let text = render_export(rows.clone(), &options);
        let parsed = parse_keys(&text);
        prop_assert!(parsed.malformed.is_empty());
        prop_assert_eq!(parsed.duplicates_in_input, 0);
        prop_assert_eq!(parsed.keys.len(), rows.len());
        let rendered_order: Vec<&str> = text
            .split([',', '\n'])
            .filter(|line| !line.is_empty())
            .map(|line| line.split("----").next().unwrap_or(line))
            .collect();
        prop_assert_eq!(keys_of(&parsed), rendered_order);
        for parsed_key in &parsed.keys {
            let row = rows.iter().find(|r| r.key == parsed_key.key);
            prop_assert!(row.is_some());
            let written = row
                .and_then(|r| r.balance)
                .and_then(|b| format!("{b:.2}").parse::<f64>().ok());
            prop_assert_eq!(parsed_key.balance_hint, written, "text {:?}", text);
        }
    }

    #[test]
    fn arbitrary_unicode_never_panics(text in any::<String>()) {
        let parsed = parse_keys(&text);
        for key in &parsed.keys {
            prop_assert!(is_valid_key(&key.key));
        }
    }

    #[test]
    fn adversarial_fragments_keep_the_invariants(
        parts in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..200),
    ) {
        let text = parts.concat();
        let parsed = parse_keys(&text);
        let mut unique = HashSet::new();
        for key in &parsed.keys {
            prop_assert!(is_valid_key(&key.key), "{:?}", key);
            prop_assert!(unique.insert(key.key.as_str()));
            prop_assert!(key.balance_hint.is_none_or(f64::is_finite));
        }
        for token in &parsed.malformed {
            prop_assert!(token.starts_with(KEY_PREFIX));
            prop_assert!(token.chars().count() <= MALFORMED_MAX_CHARS);
            prop_assert!(!is_valid_key(token));
        }
    }
}
