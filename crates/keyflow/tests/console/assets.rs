//! The embedded files over HTTP (types, caching, the page policy), and the
//! two dictionaries: the same keys in English and Chinese, and every key
//! the pages name present.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::helpers::spawn_app;

#[tokio::test]
async fn pages_and_assets_are_served_with_types_and_validators() {
    let mut app = spawn_app().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/admin", "text/html"),
        ("/dashboard", "text/html"),
        ("/assets/console.js", "text/javascript"),
        ("/assets/console.css", "text/css"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let response = app.http.get(format!("{}{path}", app.url)).send().await.expect("get");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert_eq!(headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-cache"), "{path}");
        let etag = headers.get("etag").expect("etag").clone();
        if kind == "text/html" {
            let policy = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert!(policy.contains("script-src 'self'"), "{path}: {policy}");
        }
        let again = app.http.get(format!("{}{path}", app.url)).header("if-none-match", etag).send().await.expect("get");
        assert_eq!(again.status(), 304, "{path} revalidated");
    }
    let missing = app.http.get(format!("{}/assets/nope.js", app.url)).send().await.expect("get");
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

fn assets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets")
}

/// The keys of the object literal `const {name} = { ... };` in i18n.js.
fn dictionary(source: &str, name: &str) -> BTreeSet<String> {
    let start = source.find(&format!("const {name} = {{")).unwrap_or_else(|| panic!("dictionary {name}"));
    let body = &source[start..];
    let end = body.find("\n};").expect("end of dictionary");
    let body = &body[..end];
    let mut keys = BTreeSet::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            continue;
        }
        // A quoted string; it is a key when a colon follows.
        let mut text = String::new();
        let mut closed = i;
        for (j, d) in chars.by_ref() {
            if d == '\'' {
                closed = j;
                break;
            }
            text.push(d);
        }
        if body[closed + 1..].trim_start().starts_with(':') {
            keys.insert(text);
        }
    }
    keys
}

/// Every `t('literal')` and `data-i18n="..."` in the pages.
fn used_keys() -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for entry in std::fs::read_dir(assets_dir()).expect("assets") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        for (pattern, end) in [("t('", '\''), ("data-i18n=\"", '"'), ("data-i18n-aria-label=\"", '"')] {
            for (at, _) in text.match_indices(pattern) {
                // `t(` itself, not the end of `split(` or `set(`.
                let before = text[..at].chars().next_back().unwrap_or(' ');
                if pattern == "t('" && (before.is_alphanumeric() || before == '_' || before == '.') {
                    continue;
                }
                let rest = &text[at + pattern.len()..];
                let key: String = rest.chars().take_while(|c| *c != end).collect();
                if key.contains('.') && !key.contains(' ') {
                    used.insert(key);
                }
            }
        }
    }
    used
}

#[test]
fn both_languages_know_every_key() {
    let source = std::fs::read_to_string(assets_dir().join("i18n.js")).expect("i18n.js");
    let en = dictionary(&source, "en");
    let zh = dictionary(&source, "zh");
    assert!(en.len() > 300, "parsed {} English keys", en.len());
    let only_en: Vec<_> = en.difference(&zh).collect();
    let only_zh: Vec<_> = zh.difference(&en).collect();
    assert!(only_en.is_empty() && only_zh.is_empty(), "only in English: {only_en:?}; only in Chinese: {only_zh:?}");
    let missing: Vec<_> = used_keys().into_iter().filter(|k| !en.contains(k)).collect();
    assert!(missing.is_empty(), "keys used but not translated: {missing:?}");
}
