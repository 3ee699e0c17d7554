//! Parsing pasted key lists: finds `sk-` keys in any text, with the balance written beside them.
//!
//! Operators paste whatever their previous tool or seller gave them: one key a
//! line, comma lists, JSON arrays, numbered lists, `key----balance` dumps. So
//! the parser does not split the text into fields; it looks for every `sk-`
//! that starts a word, reads the key that follows, and then looks right after
//! the key for a balance annotation. Everything else is ignored. One pass over
//! the text, one hash lookup per key: 100,000 keys parse in milliseconds.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// The literal every SiliconFlow key starts with.
const KEY_PREFIX: &str = "sk-";
/// Fewest characters a key may carry after `sk-`. Real SiliconFlow keys carry
/// 48; 16 leaves room for other issuers while still catching keys cut short by
/// a bad copy.
pub const MIN_KEY_BODY: usize = 16;
/// Most characters a key may carry after `sk-`; anything longer is pasted
/// garbage, not a key.
pub const MAX_KEY_BODY: usize = 256;
/// Malformed tokens are reported cut to this many characters, so a runaway
/// token cannot blow up the import answer.
const MALFORMED_MAX_CHARS: usize = 64;
/// How far a parenthesised annotation may reach, in bytes, before it is not
/// taken for one.
const ANNOTATION_MAX_BYTES: usize = 96;
/// Longest digit string read as a balance; a longer run is an id, not money.
const NUMBER_MAX_BYTES: usize = 32;

/// A key found in pasted text, with the balance written beside it if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedKey {
    pub key: String,
    pub balance_hint: Option<f64>,
}

/// What one paste contained.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedImport {
    /// Valid keys, each once, in the order they first appear.
    pub keys: Vec<ParsedKey>,
    /// Tokens starting with `sk-` that are not valid keys, each once, cut to
    /// 64 characters.
    pub malformed: Vec<String>,
    /// How many times a valid key appeared again after its first occurrence.
    pub duplicates_in_input: usize,
}

/// Whether `s` is exactly one key: `sk-` then 16 to 256 ASCII letters and
/// digits.
pub fn is_valid_key(s: &str) -> bool {
    s.strip_prefix(KEY_PREFIX).is_some_and(|body| {
        (MIN_KEY_BODY..=MAX_KEY_BODY).contains(&body.len()) && body.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Finds every key in `text`, with its balance annotation when one follows it.
///
/// A key repeated later keeps its first position; if only a later occurrence
/// carries a balance, that balance is kept. Text that does not start with
/// `sk-` is ignored, so prose, headers and numbering never show up as
/// malformed.
pub fn parse_keys(text: &str) -> ParsedImport {
    let mut parsed = ParsedImport::default();
    let mut key_index: HashMap<&str, usize> = HashMap::new();
    let mut seen_malformed: HashSet<&str> = HashSet::new();
    let mut pos = 0;
    while let Some(found) = text.get(pos..).and_then(|rest| rest.find(KEY_PREFIX)) {
        let start = pos + found;
        // `task-force` or `mask-...` contain `sk-` but do not start a key.
        if start > 0 && text.as_bytes().get(start - 1).is_some_and(|&b| is_word_byte(b)) {
            pos = start + 1;
            continue;
        }
        match scan_token(text, start) {
            Token::Key { end, balance_hint } => {
                let key = &text[start..end];
                match key_index.entry(key) {
                    Entry::Occupied(slot) => {
                        parsed.duplicates_in_input += 1;
                        let first = &mut parsed.keys[*slot.get()];
                        if first.balance_hint.is_none() {
                            first.balance_hint = balance_hint;
                        }
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(parsed.keys.len());
                        parsed.keys.push(ParsedKey { key: key.to_owned(), balance_hint });
                    }
                }
                pos = end;
            }
            Token::Malformed { end } => {
                let token = &text[start..end];
                if seen_malformed.insert(token) {
                    parsed.malformed.push(truncate_chars(token, MALFORMED_MAX_CHARS).to_owned());
                }
                pos = end;
            }
        }
    }
    parsed
}

/// One `sk-` token, as byte offsets into the text.
enum Token {
    /// A valid key ending at `end`.
    Key { end: usize, balance_hint: Option<f64> },
    /// Something meant as a key that is not one, ending at `end`.
    Malformed { end: usize },
}

/// Reads the token that starts with `sk-` at `start`.
fn scan_token(text: &str, start: usize) -> Token {
    let body_start = start + KEY_PREFIX.len();
    let body_len = text.as_bytes()[body_start..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
    let body_end = body_start + body_len;
    let tail = &text[body_end..];
    let ends_cleanly = match tail.chars().next() {
        None => true,
        Some('-') => dashed_number(tail).is_some(),
        // A key closing a sentence: `my key is sk-....`
        Some(c @ ('.' | '!' | '?')) => tail[c.len_utf8()..].chars().next().is_none_or(is_delimiter),
        Some(c) => is_delimiter(c),
    };
    if !ends_cleanly {
        let end = body_end + tail.char_indices().find(|&(_, c)| is_delimiter(c)).map_or(tail.len(), |(i, _)| i);
        return Token::Malformed { end };
    }
    if is_valid_key(&text[start..body_end]) {
        Token::Key { end: body_end, balance_hint: read_balance(tail) }
    } else {
        Token::Malformed { end: body_end }
    }
}

/// Reads the balance annotation at the start of `rest`, the text right after a
/// key: `(12.5)`, `（余额: ¥14.00）`, `----14.00`, `|14.00`, `:14.00`, or a bare
/// number in the next column (`sk-... 14.00`, `sk-...,14.00`).
fn read_balance(rest: &str) -> Option<f64> {
    let trimmed = rest.trim_start_matches(is_inline_space);
    let spaced = trimmed.len() < rest.len();
    let first = trimmed.chars().next()?;
    let after = &trimmed[first.len_utf8()..];
    match first {
        '(' => enclosed_number(after, ')'),
        '（' => enclosed_number(after, '）'),
        '-' => dashed_number(trimmed),
        '|' | ':' | '：' | '=' => signed_number(strip_currency(after)).map(|(value, _)| value),
        ',' if !spaced => bare_number(after.trim_start_matches(is_inline_space)),
        _ if spaced => bare_number(trimmed),
        _ => None,
    }
}

/// `----14.00`: two or more dashes, then the number. More than four dashes
/// mean the last one is a minus sign, so that the exporter's `----` followed
/// by a negative balance reads back.
fn dashed_number(s: &str) -> Option<f64> {
    let after = s.trim_start_matches('-');
    let n_dashes = s.len() - after.len();
    if n_dashes < 2 {
        return None;
    }
    let (value, _) = signed_number(strip_currency(after))?;
    Some(if n_dashes > 4 { -value } else { value })
}

/// The first number inside a parenthesis closed on the same line, whatever
/// label or currency comes before it: `(余额: ¥14.00)`, `(balance: 3.2)`.
fn enclosed_number(s: &str, close: char) -> Option<f64> {
    let (close_at, _) =
        s.char_indices().take_while(|&(i, c)| i < ANNOTATION_MAX_BYTES && c != '\n').find(|&(_, c)| c == close)?;
    let content = &s[..close_at];
    // Digits inside another key are not a balance.
    if content.contains(KEY_PREFIX) {
        return None;
    }
    let digit_at = content.find(|c: char| c.is_ascii_digit())?;
    let from = if content[..digit_at].ends_with('-') { digit_at - 1 } else { digit_at };
    signed_number(&content[from..]).map(|(value, _)| value)
}

/// A number standing alone in the column after the key. It must end where
/// the column ends, so that a list marker such as `2.` or `2)` in
/// `sk-a 2. sk-b` is not taken for a balance.
fn bare_number(s: &str) -> Option<f64> {
    let unmarked = strip_currency(s);
    let (value, len) = signed_number(unmarked)?;
    let rest = &unmarked[len..];
    // `14元` or `14 CNY`: a currency mark may close the column instead.
    let after_mark = strip_currency(rest);
    let has_mark = after_mark.len() < rest.trim_start_matches(is_inline_space).len();
    (ends_column(rest) || (has_mark && ends_column(after_mark))).then_some(value)
}

/// Whether `s` starts where a column of pasted text ends.
fn ends_column(s: &str) -> bool {
    s.chars().next().is_none_or(|c| {
        c.is_whitespace()
            || matches!(c, ',' | ';' | '，' | '；' | '、' | '"' | '\'' | '`' | ']' | '}' | '”' | '’' | '」' | '』')
    })
}

/// Parses `-?digits(.digits)?` at the start of `s`, returning the value and
/// the bytes it took.
fn signed_number(s: &str) -> Option<(f64, usize)> {
    let bytes = s.as_bytes();
    let mut len = usize::from(bytes.first() == Some(&b'-'));
    let int_digits = count_digits(&bytes[len..]);
    if int_digits == 0 {
        return None;
    }
    len += int_digits;
    if bytes.get(len) == Some(&b'.') {
        let frac_digits = count_digits(&bytes[len + 1..]);
        if frac_digits > 0 {
            len += 1 + frac_digits;
        }
    }
    if len > NUMBER_MAX_BYTES {
        return None;
    }
    let value: f64 = s[..len].parse().ok()?;
    value.is_finite().then_some((value, len))
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

/// Drops inline spaces and one currency mark (`¥`, `￥`, `$`, `CNY`, `RMB`,
/// `元`) from the start of `s`, so `¥14.00`, `CNY 14` and `元` suffixes read
/// as plain numbers.
fn strip_currency(s: &str) -> &str {
    let s = s.trim_start_matches(is_inline_space);
    let rest = ["¥", "￥", "$", "元"]
        .iter()
        .find_map(|mark| s.strip_prefix(mark))
        .or_else(|| {
            ["cny", "rmb"].iter().find_map(|mark| {
                s.get(..mark.len()).filter(|head| head.eq_ignore_ascii_case(mark)).map(|_| &s[mark.len()..])
            })
        })
        .unwrap_or(s);
    rest.trim_start_matches(is_inline_space)
}

/// Bytes that glue `sk-` to a preceding word.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Spaces that may sit between a key and its annotation on the same line.
fn is_inline_space(c: char) -> bool {
    c != '\n' && c != '\r' && c.is_whitespace()
}

/// Characters that end a token: separators, quotes, brackets and the marks
/// that open a balance annotation.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{feff}'
                | '\u{200b}'
                | ','
                | ';'
                | '，'
                | '；'
                | '、'
                | '"'
                | '\''
                | '`'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '('
                | ')'
                | '（'
                | '）'
                | '|'
                | ':'
                | '：'
                | '='
                | '“'
                | '”'
                | '‘'
                | '’'
                | '「'
                | '」'
                | '『'
                | '』'
                | '【'
                | '】'
                | '《'
                | '》'
                | '。'
                | '！'
                | '？'
        )
}

/// The first `max` characters of `s`.
fn truncate_chars(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests;
