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
    fn constant_time_eq_matches_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
