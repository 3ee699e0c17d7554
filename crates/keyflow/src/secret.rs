//! Secrets (pool keys, client tokens, passwords) that never print raw.
//!
//! `Debug` and `Display` show a masked form such as `sk-abcd…wxyz`; the raw
//! value is reachable only through the greppable [`Secret::expose`].

use std::fmt;
use std::sync::Arc;

/// A secret string. Cheap to clone (shared allocation).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Self(value.into())
    }

    /// The raw value. Call it only where the secret must leave the process
    /// (an upstream `Authorization` header, an export, a constant-time compare).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form used everywhere a secret is shown.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks a secret: the first 7 and last 4 characters stay when the value is
/// long enough for that to hide most of it; shorter values hide entirely.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 16 {
        return "****".to_string();
    }
    let head: String = chars[..7].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Characters of a pool key after `sk-` that make text look like one.
const KEY_SHAPE_MIN: usize = 20;

/// Masks everything shaped like a pool key (`sk-` and at least 20 letters
/// or digits) in text keyflow relays or writes down: upstream may echo the
/// credential in an error. Linear in the text; borrows when nothing matched.
pub fn mask_keys(text: &str) -> std::borrow::Cow<'_, str> {
    match mask_key_bytes(text.as_bytes()) {
        // Masks replace ASCII runs with ASCII and `…`, so the text stays UTF-8.
        Some(masked) => std::borrow::Cow::Owned(String::from_utf8_lossy(&masked).into_owned()),
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// [`mask_keys`] over bytes; `None` when nothing looked like a key.
pub fn mask_key_bytes(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i + 3 <= bytes.len() {
        if &bytes[i..i + 3] != b"sk-" || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let run = bytes[i + 3..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        if run < KEY_SHAPE_MIN {
            i += 3 + run;
            continue;
        }
        let end = i + 3 + run;
        let out = out.get_or_insert_with(|| Vec::with_capacity(bytes.len()));
        out.extend_from_slice(&bytes[copied..i]);
        // The masked form shows as much as `Secret` does: `sk-abcd…wxyz`.
        let key = std::str::from_utf8(&bytes[i..end]).unwrap_or_default();
        out.extend_from_slice(mask(key).as_bytes());
        copied = end;
        i = end;
    }
    let mut out = out?;
    out.extend_from_slice(&bytes[copied..]);
    Some(out)
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_long_keys_and_hides_short_ones() {
        let key = Secret::new("sk-abcdefghijklmnopqrstuvwxyz");
        assert_eq!(key.masked(), "sk-abcd…wxyz");
        assert_eq!(format!("{key}"), "sk-abcd…wxyz");
        assert_eq!(format!("{key:?}"), "Secret(sk-abcd…wxyz)");
        assert_eq!(mask("short"), "****");
    }

    #[test]
    fn masks_key_shaped_text_anywhere() {
        let key = "sk-abcdefghijklmnopqrstuvwxyz0123";
        let text = format!("{{\"message\":\"Api key {key} is invalid\",\"again\":\"{key}\"}}");
        let masked = mask_keys(&text);
        assert!(!masked.contains(key), "{masked}");
        assert_eq!(masked.matches("sk-abcd…0123").count(), 2, "{masked}");
        assert_eq!(
            mask_keys("sk-short and task-abcdefghijklmnopqrstuvwxyz"),
            "sk-short and task-abcdefghijklmnopqrstuvwxyz"
        );
        assert!(matches!(mask_keys("nothing here"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(mask_keys("你好 sk-abcdefghijklmnopqrstuvwx 好"), "你好 sk-abcd…uvwx 好");
    }

    proptest::proptest! {
        #[test]
        fn masking_never_leaves_a_key_shape(prefix in ".{0,40}", key in "[a-zA-Z0-9]{20,60}", suffix in ".{0,40}") {
            let text = format!("{prefix} sk-{key}{}", if suffix.starts_with(|c: char| c.is_ascii_alphanumeric()) { format!(" {suffix}") } else { suffix.clone() });
            let masked = mask_keys(&text);
            let raw = format!("sk-{key}");
            proptest::prop_assert!(!masked.contains(&raw));
        }
    }

    #[test]
    fn constant_time_eq_matches_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
