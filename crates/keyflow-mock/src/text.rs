//! Deterministic text, token counts, ids and hashes shared by the routes.
//!
//! Token counts follow one rule everywhere so tests can predict them:
//! `ceil(chars / 4)`, at least 1.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::distr::Alphanumeric;
use rand::Rng;

/// Tokens of `text`: a quarter of its characters, rounded up, at least 1.
pub fn tokens(text: &str) -> u64 {
    tokens_of_chars(text.chars().count() as u64)
}

/// Tokens of a text of `chars` characters.
pub fn tokens_of_chars(chars: u64) -> u64 {
    chars.div_ceil(4).max(1)
}

/// Seconds since the epoch, for `created` fields.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0)
}

/// A 32-hex-character id whose first 12 digits are the time in milliseconds,
/// like SiliconFlow's time-ordered chat ids.
pub fn hex_id() -> String {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_millis()).unwrap_or(0);
    let random: u128 = rand::rng().random();
    format!("{:012x}{:020x}", millis & 0xffff_ffff_ffff, random >> 48)
}

/// `n` random lowercase ASCII letters (file, batch and image ids).
pub fn lowercase(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(b'a' + rng.random_range(0..26u8))).collect()
}

/// `n` random letters and digits.
pub fn alphanumeric(n: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(n).map(char::from).collect()
}

/// FNV-1a, 64 bit: a stable fingerprint of request bytes for test assertions.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The reply to a prompt: fixed Chinese and English text echoing the prompt's
/// start, so answers are deterministic and exercise multi-byte UTF-8.
pub fn reply_to(prompt: &str) -> String {
    let echo: String = prompt.trim().chars().take(24).collect();
    let echo = if echo.is_empty() { "你好" } else { &echo };
    format!("你好！这是模拟的硅基流动回答。You said: {echo}")
}

/// `text` cut to roughly `max_tokens` tokens; `true` when it was cut.
pub fn limit_tokens(text: &str, max_tokens: Option<u64>) -> (String, bool) {
    match max_tokens {
        Some(max) if tokens(text) > max.max(1) => {
            let keep = usize::try_from(max.max(1).saturating_mul(4)).unwrap_or(usize::MAX);
            (text.chars().take(keep).collect(), true)
        }
        _ => (text.to_owned(), false),
    }
}

/// Splits `text` into `n` non-empty pieces on character boundaries, padding
/// with `。` when it is shorter than `n` characters.
pub fn split_pieces(text: &str, n: usize) -> Vec<String> {
    let n = n.max(1);
    let mut chars: Vec<char> = text.chars().collect();
    while chars.len() < n {
        chars.push('。');
    }
    let base = chars.len() / n;
    let extra = chars.len() % n;
    let mut pieces = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let len = base + usize::from(i < extra);
        pieces.push(chars[start..start + len].iter().collect());
        start += len;
    }
    pieces
}

/// Completion tokens of streamed pieces: each piece counts on its own.
pub fn piece_tokens(pieces: &[String]) -> u64 {
    pieces.iter().map(|piece| tokens(piece)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rule() {
        assert_eq!(tokens(""), 1);
        assert_eq!(tokens("abcd"), 1);
        assert_eq!(tokens("abcde"), 2);
        assert_eq!(tokens("你好你好你"), 2);
    }

    #[test]
    fn ids_have_the_upstream_shape() {
        let id = hex_id();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        let letters = lowercase(10);
        assert!(letters.chars().all(|c| c.is_ascii_lowercase()));
    }

    #[test]
    fn pieces_cover_the_text() {
        let text = reply_to("hello");
        let pieces = split_pieces(&text, 5);
        assert_eq!(pieces.len(), 5);
        assert_eq!(pieces.concat(), text);
        assert_eq!(split_pieces("ab", 4).concat(), "ab。。");
    }

    #[test]
    fn max_tokens_cuts() {
        let (text, cut) = limit_tokens(&reply_to("x"), Some(2));
        assert!(cut);
        assert_eq!(text.chars().count(), 8);
    }
}
