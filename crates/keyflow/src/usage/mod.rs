//! Token usage read from upstream answers, streamed or not, and what
//! becomes of it: `recorder` (the request path's only touch), `ingest`
//! (live rates, metrics, cost, log rows in batches), `prices`.
//!
//! `tap` reads an SSE stream in passing (and can remove the usage-only chunk
//! the gateway asked for on the client's behalf); `body` reads complete JSON
//! bodies, both answers and requests. Both lean on the small JSON member
//! scanner below, which finds a top-level field without building the document:
//! that is what keeps the per-chunk cost of streaming low.

pub mod body;
pub mod ingest;
pub mod journal;
pub mod live;
pub mod meters;
pub mod metrics;
pub mod outcome;
pub mod prices;
pub mod recorder;
pub mod tap;

use std::ops::Range;

pub use body::{image_count, request_facts, request_include_usage, usage_from_body, FactsError, RequestFacts};
pub use outcome::{ErrorCounts, Outcome};
pub use tap::SseTap;

/// Tokens billed for one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// Which wire format a stream or body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `chat.completion(.chunk)` and `text_completion`: `data: {json}` frames ending with `data: [DONE]`.
    OpenAi,
    /// `/v1/messages`: `event: message_start` … `event: message_stop`.
    Anthropic,
}

/// Every spelling of a usage object upstream sends: OpenAI's
/// `prompt/completion/total_tokens`, Anthropic's and rerank's `input/output_tokens`.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct UsageWire {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl UsageWire {
    /// Parses a usage object; `None` when it is not one or carries no count at all.
    pub(crate) fn parse(json: &[u8]) -> Option<Usage> {
        serde_json::from_slice::<UsageWire>(json).ok()?.into_usage()
    }

    pub(crate) fn into_usage(self) -> Option<Usage> {
        let prompt = self.prompt_tokens.or(self.input_tokens);
        let completion = self.completion_tokens.or(self.output_tokens);
        if prompt.is_none() && completion.is_none() && self.total_tokens.is_none() {
            return None;
        }
        let prompt_tokens = prompt.unwrap_or(0);
        let completion_tokens = completion.unwrap_or(0);
        Some(Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: self.total_tokens.unwrap_or(prompt_tokens.saturating_add(completion_tokens)),
        })
    }
}

/// Iterates the members of the JSON object at the start of `json`, yielding
/// each key (as written between its quotes, escapes untouched) and the byte
/// range of its value. It checks only the structure it walks, so callers that
/// must not act on malformed JSON validate separately.
pub(crate) fn members(json: &[u8]) -> Members<'_> {
    walk(json, false)
}

/// `members`, but every value is checked against the JSON grammar as it is
/// skipped (see `skip_value_strict`), so a walk that ends `closed()` has read
/// a well-formed object: one whose keys every JSON parser finds where this
/// walk found them. Strings are only delimited, not checked inside.
pub(crate) fn members_strict(json: &[u8]) -> Members<'_> {
    walk(json, true)
}

fn walk(json: &[u8], strict: bool) -> Members<'_> {
    let start = skip_ws(json, 0);
    let state = if json.get(start) == Some(&b'{') { MembersState::First } else { MembersState::Broken };
    Members { json, pos: start + 1, state, strict }
}

/// A member of a JSON object: its raw key and the byte range of its value.
pub(crate) type Member<'a> = (&'a [u8], Range<usize>);

pub(crate) struct Members<'a> {
    json: &'a [u8],
    /// Where the next member is read; once closed, just past the `}`; once
    /// broken, the start of the member that broke the walk.
    pos: usize,
    state: MembersState,
    strict: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MembersState {
    First,
    Next,
    Closed,
    Broken,
}

impl<'a> Members<'a> {
    /// True once the walk reached the object's closing brace.
    pub(crate) fn closed(&self) -> bool {
        self.state == MembersState::Closed
    }

    /// Once closed, the offset just past the object's `}`; once broken,
    /// about where the walk broke (for messages).
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    fn step(&mut self) -> Result<Option<Member<'a>>, ()> {
        let json = self.json;
        let mut i = skip_ws(json, self.pos);
        match (self.state, json.get(i)) {
            (MembersState::First | MembersState::Next, Some(b'}')) => {
                self.pos = i + 1;
                return Ok(None);
            }
            (MembersState::Next, Some(b',')) => i = skip_ws(json, i + 1),
            (MembersState::First, _) => {}
            _ => return Err(()),
        }
        if json.get(i) != Some(&b'"') {
            return Err(());
        }
        let key_end = string_end(json, i).ok_or(())?;
        let key = &json[i + 1..key_end];
        i = skip_ws(json, key_end + 1);
        if json.get(i) != Some(&b':') {
            return Err(());
        }
        i = skip_ws(json, i + 1);
        let end = if self.strict { skip_value_strict(json, i) } else { skip_value(json, i) };
        self.pos = end.ok_or(())?;
        Ok(Some((key, i..self.pos)))
    }
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if matches!(self.state, MembersState::Closed | MembersState::Broken) {
            return None;
        }
        match self.step() {
            Ok(Some(member)) => {
                self.state = MembersState::Next;
                Some(member)
            }
            Ok(None) => {
                self.state = MembersState::Closed;
                None
            }
            Err(()) => {
                self.state = MembersState::Broken;
                None
            }
        }
    }
}

/// Number of elements of the JSON array `json` (0 if it is not one).
pub(crate) fn count_array_items(json: &[u8]) -> u32 {
    let mut i = skip_ws(json, 0);
    if json.get(i) != Some(&b'[') {
        return 0;
    }
    let mut n_items = 0u32;
    i = skip_ws(json, i + 1);
    while let Some(&b) = json.get(i) {
        match b {
            b']' => break,
            b',' => i = skip_ws(json, i + 1),
            _ => match skip_value(json, i) {
                Some(end) => {
                    n_items = n_items.saturating_add(1);
                    i = skip_ws(json, end);
                }
                None => break,
            },
        }
    }
    n_items
}

fn skip_ws(json: &[u8], from: usize) -> usize {
    let rest = json.get(from..).unwrap_or_default();
    from + rest.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')).unwrap_or(rest.len())
}

/// Index of the first byte of `hay` equal to `a` or `b`.
///
/// This is the scanner's inner loop (line ends in SSE, quotes in JSON), so it
/// looks at eight bytes per step: a plain `position` runs a byte at a time.
pub(crate) fn find_either(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let (pattern_a, pattern_b) = (ONES * u64::from(a), ONES * u64::from(b));
    // A zero byte in `x` sets its high bit here; the lowest flag is exact.
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = hay.chunks_exact(8);
    let mut offset = 0;
    for word in words.by_ref() {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(word);
        let word = u64::from_le_bytes(buf);
        let found = zero_bytes(word ^ pattern_a) | zero_bytes(word ^ pattern_b);
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let rest = words.remainder();
    rest.iter().position(|&c| c == a || c == b).map(|i| offset + i)
}

/// Index of the quote closing the string that opens at `start`.
fn string_end(json: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        i += find_either(json.get(i..)?, b'"', b'\\')?;
        if json[i] == b'\\' {
            i += 2;
        } else {
            return Some(i);
        }
    }
}

/// End (exclusive) of the JSON value starting at `start`.
fn skip_value(json: &[u8], start: usize) -> Option<usize> {
    match json.get(start)? {
        b'"' => string_end(json, start).map(|end| end + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while let Some(&b) = json.get(i) {
                match b {
                    b'"' => {
                        i = string_end(json, i)? + 1;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let rest = &json[start..];
            let len = rest
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(rest.len());
            (len > 0).then_some(start + len)
        }
    }
}

/// How deep `skip_value_strict` follows nested arrays and objects. Deeper
/// input is refused: no request needs it, and a fixed bound keeps the walk
/// free of allocation.
pub(crate) const MAX_DEPTH: usize = 256;

/// The open arrays and objects of a strict walk, one bit each (set: object).
#[derive(Default)]
struct Nesting {
    bits: [u64; MAX_DEPTH / 64],
    depth: usize,
}

impl Nesting {
    fn push(&mut self, object: bool) -> Option<()> {
        let word = self.bits.get_mut(self.depth / 64)?;
        let bit = 1u64 << (self.depth % 64);
        *word = if object { *word | bit } else { *word & !bit };
        self.depth += 1;
        Some(())
    }

    /// Whether the innermost open value is an object; `None` at top level.
    fn top(&self) -> Option<bool> {
        let at = self.depth.checked_sub(1)?;
        Some(self.bits[at / 64] & (1u64 << (at % 64)) != 0)
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

/// End (exclusive) of the JSON value starting at `start`, or `None` when it
/// is not one by the JSON grammar (RFC 8259): brackets matched by kind,
/// keys quoted, commas between items only, numbers in JSON's form and only
/// `true`, `false` and `null` as words. Lenient parsers disagree on what
/// anything else means (`NaN`, comments, single quotes, trailing commas), so
/// the request path must not guess. String contents are not checked: no
/// byte inside a string can move where it ends.
fn skip_value_strict(json: &[u8], start: usize) -> Option<usize> {
    let mut nesting = Nesting::default();
    let mut i = start;
    loop {
        // A value starts at `i`.
        i = skip_ws(json, i);
        match *json.get(i)? {
            open @ (b'{' | b'[') => {
                nesting.push(open == b'{')?;
                i = skip_ws(json, i + 1);
                match (open, json.get(i)) {
                    (b'{', Some(b'}')) | (b'[', Some(b']')) => {
                        nesting.pop();
                        i += 1;
                    }
                    (b'{', _) => {
                        i = key_colon(json, i)?;
                        continue;
                    }
                    _ => continue,
                }
            }
            b'"' => i = string_end(json, i)? + 1,
            b't' => i = word_end(json, i, b"true")?,
            b'f' => i = word_end(json, i, b"false")?,
            b'n' => i = word_end(json, i, b"null")?,
            _ => i = number_end(json, i)?,
        }
        // A value ended at `i`: close what it completes, then find the next.
        loop {
            let Some(object) = nesting.top() else { return Some(i) };
            i = skip_ws(json, i);
            match (*json.get(i)?, object) {
                (b',', true) => {
                    i = key_colon(json, skip_ws(json, i + 1))?;
                    break;
                }
                (b',', false) => {
                    i += 1;
                    break;
                }
                (b'}', true) | (b']', false) => {
                    nesting.pop();
                    i += 1;
                }
                _ => return None,
            }
        }
    }
}

/// Past `"key" :` starting at `i`.
fn key_colon(json: &[u8], i: usize) -> Option<usize> {
    if json.get(i) != Some(&b'"') {
        return None;
    }
    let i = skip_ws(json, string_end(json, i)? + 1);
    (json.get(i) == Some(&b':')).then_some(i + 1)
}

/// Past the literal `word` at `i`.
fn word_end(json: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    json.get(i..)?.starts_with(word).then_some(i + word.len())
}

/// Past the JSON number at `i`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_end(json: &[u8], i: usize) -> Option<usize> {
    let digits =
        |from: usize| json.get(from..).map_or(0, |rest| rest.iter().take_while(|b| b.is_ascii_digit()).count());
    let mut i = i + usize::from(json.get(i) == Some(&b'-'));
    match json.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i += digits(i),
        _ => return None,
    }
    if json.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    if matches!(json.get(i), Some(b'e' | b'E')) {
        i += 1;
        i += usize::from(matches!(json.get(i), Some(b'+' | b'-')));
        let n = digits(i);
        if n == 0 {
            return None;
        }
        i += n;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(json: &str) -> Vec<(String, String)> {
        members(json.as_bytes()).map(|(k, r)| (String::from_utf8_lossy(k).into_owned(), json[r].to_owned())).collect()
    }

    #[test]
    fn members_walks_top_level_only() {
        let json = r#" { "a" : 1 , "b":{"usage":{"x":[1,"]"]}}, "c":"q\"}", "d":[{},[]] ,"e":null} "#;
        assert_eq!(
            keys(json),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), r#"{"usage":{"x":[1,"]"]}}"#.into()),
                ("c".into(), r#""q\"}""#.into()),
                ("d".into(), "[{},[]]".into()),
                ("e".into(), "null".into()),
            ]
        );
        let mut it = members(json.as_bytes());
        it.by_ref().for_each(drop);
        assert!(it.closed());
    }

    #[test]
    fn members_stops_on_broken_json() {
        assert!(keys("[1,2]").is_empty());
        assert!(keys("").is_empty());
        assert_eq!(keys(r#"{"a":1,"b""#), vec![("a".into(), "1".into())]);
        let mut it = members(br#"{"a":1 "b":2}"#);
        it.by_ref().for_each(drop);
        assert!(!it.closed());
        let mut empty = members(b"{ }");
        assert!(empty.next().is_none());
        assert!(empty.closed());
    }

    #[test]
    fn find_either_matches_position() {
        let hay = b"0123456789abcdef\"ghij\\klmnopq\n\r";
        for start in 0..hay.len() {
            for (a, b) in [(b'"', b'\\'), (b'\n', b'\r'), (b'x', b'y'), (b'0', b'q')] {
                let expected = hay[start..].iter().position(|&c| c == a || c == b);
                assert_eq!(find_either(&hay[start..], a, b), expected);
            }
        }
        // Bytes above 0x80 must not be mistaken for a match.
        assert_eq!(find_either("你好你好你好\n".as_bytes(), b'\n', b'\r'), Some(18));
    }

    #[test]
    fn counts_array_items() {
        assert_eq!(count_array_items(br#"[{"url":"a,]"}, {"url":"b"}]"#), 2);
        assert_eq!(count_array_items(b"[ ]"), 0);
        assert_eq!(count_array_items(b"{}"), 0);
    }

    #[test]
    fn usage_wire_normalises_both_spellings() {
        let openai = br#"{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}"#;
        let anthropic = br#"{"input_tokens":12,"output_tokens":3}"#;
        let expected = Usage { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 };
        assert_eq!(UsageWire::parse(openai), Some(expected));
        assert_eq!(UsageWire::parse(anthropic), Some(expected));
        assert_eq!(UsageWire::parse(b"{}"), None);
        assert_eq!(UsageWire::parse(b"null"), None);
    }
}
