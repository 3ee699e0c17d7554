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
pub mod live;
pub mod meters;
pub mod metrics;
pub mod prices;
pub mod recorder;
pub mod tap;

use std::ops::Range;

pub use body::{image_count, request_facts, request_include_usage, usage_from_body, RequestFacts};
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
    let start = skip_ws(json, 0);
    let state = if json.get(start) == Some(&b'{') { MembersState::First } else { MembersState::Broken };
    Members { json, pos: start + 1, state }
}

/// A member of a JSON object: its raw key and the byte range of its value.
pub(crate) type Member<'a> = (&'a [u8], Range<usize>);

pub(crate) struct Members<'a> {
    json: &'a [u8],
    pos: usize,
    state: MembersState,
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

    fn step(&mut self) -> Result<Option<Member<'a>>, ()> {
        let json = self.json;
        let mut i = skip_ws(json, self.pos);
        match (self.state, json.get(i)) {
            (MembersState::First | MembersState::Next, Some(b'}')) => return Ok(None),
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
        let end = skip_value(json, i).ok_or(())?;
        self.pos = end;
        Ok(Some((key, i..end)))
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
