//! Reads complete JSON bodies: usage and image counts from upstream answers,
//! and the few request fields the gateway acts on.
//!
//! Bodies can be large (embeddings, base64 images), so fields are found with
//! the top-level member scan and only their own bytes are parsed.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use super::{count_array_items, members, members_strict, Usage, UsageWire, MAX_DEPTH};

/// Usage from a complete non-stream JSON body: `chat.completion`,
/// `text_completion`, Anthropic `message` (`input/output_tokens`), embeddings,
/// rerank (`tokens` or `meta.tokens`). `None` for bodies without usage, such
/// as images, which are counted with `image_count` instead.
pub fn usage_from_body(body: &[u8]) -> Option<Usage> {
    let mut usage = None;
    let mut tokens = None;
    let mut meta = None;
    for (key, value) in members(body) {
        match key {
            b"usage" => usage = Some(value),
            b"tokens" => tokens = Some(value),
            b"meta" => meta = Some(value),
            _ => {}
        }
    }
    let parse = |range: Range<usize>| UsageWire::parse(&body[range]);
    usage.and_then(parse).or_else(|| tokens.and_then(parse)).or_else(|| {
        let meta = &body[meta?];
        let (_, range) = members(meta).filter(|(key, _)| *key == b"tokens").last()?;
        UsageWire::parse(&meta[range])
    })
}

/// Images in an image-generation answer: the `images` array, or OpenAI's
/// `data` when there is no `images`. SiliconFlow may send both, mirrored, so
/// they are never added together.
pub fn image_count(body: &[u8]) -> u32 {
    let mut images = None;
    let mut data = None;
    for (key, value) in members(body) {
        match key {
            b"images" => images = Some(value),
            b"data" => data = Some(value),
            _ => {}
        }
    }
    images.or(data).map_or(0, |range| count_array_items(&body[range]))
}

/// For a streamed OpenAI-dialect request: if the JSON body has `"stream": true`
/// and does not already set `stream_options.include_usage: true`, returns the
/// body with it set. `Some` also means the gateway asked for the usage-only
/// chunk on its own, so `SseTap` must strip it (`strip_usage_chunk = true`).
///
/// The edit is a byte-level insertion (or a replacement of a `false`/`null`
/// value): every other byte of the client's body, order and spacing included,
/// is kept. `None` when nothing needs to change or the body is not a valid
/// JSON object.
pub fn request_include_usage(body: &[u8]) -> Option<Bytes> {
    let mut stream = false;
    let mut options = None;
    let mut last_end = None;
    let mut top = members(body);
    for (key, value) in top.by_ref() {
        // Keys as upstream reads them: `"str\u0065am":true` streams too.
        match &*decoded_key(key).ok()? {
            b"stream" => stream = &body[value.clone()] == b"true",
            b"stream_options" => options = Some(value.clone()),
            _ => {}
        }
        last_end = Some(value.end);
    }
    if !stream || !top.closed() {
        return None;
    }
    // The member scan is lenient; never edit what upstream would reject as
    // malformed, so that the client sees upstream's own answer to it.
    serde_json::from_slice::<serde::de::IgnoredAny>(body).ok()?;

    let edit = match options {
        None => Edit::insert(last_end?, br#","stream_options":{"include_usage":true}"#),
        Some(range) if &body[range.clone()] == b"null" => Edit::replace(range, br#"{"include_usage":true}"#),
        Some(range) if body[range.start] == b'{' => {
            let object = &body[range.clone()];
            let mut include = None;
            let mut inner_end = None;
            for (key, value) in members(object) {
                if &*decoded_key(key).ok()? == b"include_usage" {
                    include = Some(value.clone());
                }
                inner_end = Some(value.end);
            }
            let at = |offset: usize| range.start + offset;
            match (include, inner_end) {
                (Some(value), _) if &object[value.clone()] == b"true" => return None,
                (Some(value), _) => Edit::replace(at(value.start)..at(value.end), b"true"),
                (None, Some(end)) => Edit::insert(at(end), br#","include_usage":true"#),
                (None, None) => Edit::insert(at(1), br#""include_usage":true"#),
            }
        }
        // Not an object: a bad request that upstream answers better than we can.
        Some(_) => return None,
    };
    Some(edit.apply(body))
}

/// One splice of a request body.
struct Edit {
    range: Range<usize>,
    text: &'static [u8],
}

impl Edit {
    fn insert(at: usize, text: &'static [u8]) -> Self {
        Self { range: at..at, text }
    }

    fn replace(range: Range<usize>, text: &'static [u8]) -> Self {
        Self { range, text }
    }

    fn apply(&self, body: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(body.len() + self.text.len());
        out.extend_from_slice(&body[..self.range.start]);
        out.extend_from_slice(self.text);
        out.extend_from_slice(&body[self.range.end..]);
        Bytes::from(out)
    }
}

/// The request fields the gateway routes, logs and meters by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    pub model: Option<String>,
    pub stream: bool,
    /// OpenAI's `user`, else Anthropic's `metadata.user_id`.
    pub user: Option<String>,
}

/// Why a JSON request body is refused before anything reads it further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactsError {
    #[error(
        "the request body is not one well-formed JSON object (it breaks near byte {0}, \
         or nests deeper than {MAX_DEPTH} levels); send valid JSON"
    )]
    Malformed(usize),
    #[error("the request body has more after its JSON object (from byte {0}); send one JSON object")]
    Trailing(usize),
    #[error("the request body names `model` twice; send it once")]
    DuplicateModel,
    #[error("the request body has a key with an invalid escape; write the key plainly")]
    BadKey,
    #[error("the request body is JSON in UTF-16 or UTF-32; send it as UTF-8")]
    NotUtf8,
}

/// Reads `model`, `stream` and `user` of a JSON request body as upstream
/// will read them, without parsing the rest (messages may hold megabytes of
/// base64 images): keys with escapes are decoded, the last `stream` and
/// `user` count, and a body that starts like a JSON object must be one,
/// with `model` named once. Otherwise a body could show keyflow one model
/// and upstream another (`{"model":"a","mod\u0065l":"b"}`), past
/// `BAN_MODELS` and free-only tokens. A body that is no JSON object at all
/// (multipart, empty) gives the defaults.
pub fn request_facts(body: &[u8]) -> Result<RequestFacts, FactsError> {
    let mut facts = RequestFacts::default();
    let Some(json) = json_object(body)? else { return Ok(facts) };
    let mut n_models = 0;
    let mut metadata = None;
    let mut walk = members_strict(json);
    for (key, value) in walk.by_ref() {
        let value = &json[value];
        match &*decoded_key(key)? {
            b"model" => {
                n_models += 1;
                if n_models > 1 {
                    return Err(FactsError::DuplicateModel);
                }
                facts.model = json_string(value);
            }
            b"stream" => facts.stream = value == b"true",
            b"user" => facts.user = json_string(value),
            b"metadata" => metadata = Some(value),
            _ => {}
        }
    }
    if !walk.closed() {
        return Err(FactsError::Malformed(offset_in(body, json, walk.offset())));
    }
    let end = walk.offset();
    if let Some(extra) = json[end..].iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
        return Err(FactsError::Trailing(offset_in(body, json, end + extra)));
    }
    if facts.user.is_none() {
        if let Some(metadata) = metadata {
            // Already checked as part of the body; only keys need decoding.
            for (key, value) in members_strict(metadata) {
                if &*decoded_key(key)? == b"user_id" {
                    facts.user = json_string(&metadata[value]);
                }
            }
        }
    }
    Ok(facts)
}

/// The JSON object a request body holds, after a UTF-8 byte order mark
/// (which Python's `json.loads` skips); `None` for a body that is no JSON
/// object. JSON in UTF-16 or UTF-32 is an error rather than "no object":
/// Python reads it, keyflow's byte scan cannot.
fn json_object(body: &[u8]) -> Result<Option<&[u8]>, FactsError> {
    let json = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = json.iter().position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    match start.map(|i| json[i]) {
        // `{\0"\0` is UTF-16 too.
        _ if is_wide_json_object(body) => Err(FactsError::NotUtf8),
        Some(b'{') => Ok(Some(json)),
        _ => Ok(None),
    }
}

/// Whether `body` is a JSON object in UTF-16 or UTF-32 by the rules of
/// Python's `json.detect_encoding`: a byte order mark, or zero bytes among
/// the first four.
fn is_wide_json_object(body: &[u8]) -> bool {
    let (width, big_endian, text) = match body {
        [0, 0, 0xFE, 0xFF, rest @ ..] => (4, true, rest),
        [0xFF, 0xFE, 0, 0, rest @ ..] => (4, false, rest),
        [0xFE, 0xFF, rest @ ..] => (2, true, rest),
        [0xFF, 0xFE, rest @ ..] => (2, false, rest),
        [0, 0, _, _, ..] => (4, true, body),
        [0, _, _, _, ..] => (2, true, body),
        [_, 0, 0, 0, ..] => (4, false, body),
        [_, 0, _, _, ..] => (2, false, body),
        _ => return false,
    };
    let unit = |chunk: &[u8]| {
        chunk.iter().enumerate().fold(0u32, |unit, (i, b)| {
            let shift = if big_endian { 8 * (width - 1 - i) } else { 8 * i };
            unit | u32::from(*b) << shift
        })
    };
    let first = text.chunks(width).map(unit).find(|u| !matches!(u, 0x20 | 0x09 | 0x0A | 0x0D));
    first == Some(u32::from(b'{'))
}

/// `at` (an offset in `json`, a tail of `body`) as an offset in `body`.
fn offset_in(body: &[u8], json: &[u8], at: usize) -> usize {
    body.len() - json.len() + at
}

/// A member's key as upstream reads it. Only a key with a backslash is
/// decoded (and allocated); any other is its own bytes.
fn decoded_key(raw: &[u8]) -> Result<Cow<'_, [u8]>, FactsError> {
    if !raw.contains(&b'\\') {
        return Ok(Cow::Borrowed(raw));
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    let key = serde_json::from_slice::<String>(&quoted).map_err(|_| FactsError::BadKey)?;
    Ok(Cow::Owned(key.into_bytes()))
}

/// A JSON string value, unescaped; `None` for any other value.
fn json_string(json: &[u8]) -> Option<String> {
    if json.first() != Some(&b'"') {
        return None;
    }
    serde_json::from_slice(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn usage(prompt: u64, completion: u64, total: u64) -> Option<Usage> {
        Some(Usage { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total })
    }

    #[test]
    fn chat_completion() {
        let body = br#"{"id":"019bdaa5","object":"chat.completion","created":1768899826,"model":"Pro/zai-org/GLM-4.7",
 "choices":[{"index":0,"message":{"role":"assistant","content":"usage","reasoning_content":"..."},"finish_reason":"stop"}],
 "usage":{"prompt_tokens":15,"completion_tokens":1540,"total_tokens":1555,
          "completion_tokens_details":{"reasoning_tokens":1190},"prompt_tokens_details":{"cached_tokens":0},
          "prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":15},
 "system_fingerprint":""}"#;
        assert_eq!(usage_from_body(body), usage(15, 1540, 1555));
    }

    #[test]
    fn text_completion() {
        let body = br#"{"id":"c1","object":"text_completion","created":1,"model":"Qwen/Qwen2.5-Coder-7B-Instruct","choices":[{"text":"return a + b","finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":20,"completion_tokens":5,"total_tokens":25}}"#;
        assert_eq!(usage_from_body(body), usage(20, 5, 25));
    }

    #[test]
    fn anthropic_message() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"hi"}],"model":"deepseek-ai/DeepSeek-V3.2","stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":30,"output_tokens":7}}"#;
        assert_eq!(usage_from_body(body), usage(30, 7, 37));
    }

    #[test]
    fn embeddings() {
        let body = br#"{"object":"list","model":"BAAI/bge-m3","data":[{"object":"embedding","embedding":[0.0123,-0.456e-2,1],"index":0}],"usage":{"prompt_tokens":8,"completion_tokens":0,"total_tokens":8}}"#;
        assert_eq!(usage_from_body(body), usage(8, 0, 8));
    }

    #[test]
    fn rerank_documented_tokens() {
        let body = br#"{"id":"r1","results":[{"document":{"text":"apple"},"index":0,"relevance_score":0.98}],"tokens":{"input_tokens":12,"output_tokens":0}}"#;
        assert_eq!(usage_from_body(body), usage(12, 0, 12));
    }

    #[test]
    fn rerank_observed_meta_tokens() {
        let body = br#"{"id":"019a20ac","results":[{"index":1,"relevance_score":0.9853}],
  "meta":{"billed_units":{"input_tokens":9,"output_tokens":0,"search_units":0,"classifications":0},
          "tokens":{"input_tokens":9,"output_tokens":0}}}"#;
        assert_eq!(usage_from_body(body), usage(9, 0, 9));
    }

    #[test]
    fn images_have_no_usage_but_a_count() {
        let body = br#"{"images":[{"url":"https://sc-maas.oss/1.png"},{"url":"https://sc-maas.oss/2.png"}],"timings":{"inference":1.2},"seed":42,"data":[{"url":"https://sc-maas.oss/1.png"},{"url":"https://sc-maas.oss/2.png"}]}"#;
        assert_eq!(usage_from_body(body), None);
        assert_eq!(image_count(body), 2);
        assert_eq!(image_count(br#"{"created":1,"data":[{"b64_json":"iVBOR]"}]}"#), 1);
        assert_eq!(image_count(br#"{"images":[]}"#), 0);
        assert_eq!(image_count(b"not json"), 0);
    }

    #[test]
    fn no_usage() {
        assert_eq!(usage_from_body(br#"{"usage":null}"#), None);
        assert_eq!(usage_from_body(br#"{"usage":{}}"#), None);
        assert_eq!(usage_from_body(br#"{"choices":[{"usage":{"prompt_tokens":1}}]}"#), None);
        assert_eq!(usage_from_body(b"Api key is invalid"), None);
        assert_eq!(usage_from_body(br#""Invalid token""#), None);
        assert_eq!(usage_from_body(b""), None);
    }

    /// The edited body parses, equals the original apart from `stream_options`,
    /// and keeps the original bytes around the edit.
    fn assert_injected(original: &str, edited: &Bytes) -> Value {
        let edited_value: Value = serde_json::from_slice(edited).unwrap_or_default();
        let mut original_value: Value = serde_json::from_str(original).unwrap_or_default();
        assert_eq!(edited_value["stream_options"]["include_usage"], Value::Bool(true));
        let mut without = edited_value.clone();
        if let (Some(a), Some(b)) = (without.as_object_mut(), original_value.as_object_mut()) {
            a.remove("stream_options");
            b.remove("stream_options");
        }
        assert_eq!(without, original_value);
        edited_value
    }

    #[test]
    fn injects_stream_options_at_the_end() {
        let body = r#"{"model":"Qwen/Qwen2.5-7B-Instruct","messages":[{"role":"user","content":"}{"}],"stream":true,"temperature":0.7}"#;
        let edited = request_include_usage(body.as_bytes());
        let edited = edited.unwrap_or_default();
        assert_eq!(
            &edited[..],
            br#"{"model":"Qwen/Qwen2.5-7B-Instruct","messages":[{"role":"user","content":"}{"}],"stream":true,"temperature":0.7,"stream_options":{"include_usage":true}}"#
        );
        assert_injected(body, &edited);
    }

    #[test]
    fn keeps_pretty_printed_bodies_intact() {
        let body = "{\n  \"stream\" : true ,\n  \"model\": \"m\"\n}\n";
        let edited = request_include_usage(body.as_bytes()).unwrap_or_default();
        assert_eq!(
            &edited[..],
            b"{\n  \"stream\" : true ,\n  \"model\": \"m\",\"stream_options\":{\"include_usage\":true}\n}\n"
        );
        assert_injected(body, &edited);
    }

    #[test]
    fn completes_existing_stream_options() {
        let cases = [
            (r#"{"stream":true,"stream_options":{}}"#, r#"{"stream":true,"stream_options":{"include_usage":true}}"#),
            (
                r#"{"stream":true,"stream_options":{ "chunk":1 },"n":1}"#,
                r#"{"stream":true,"stream_options":{ "chunk":1,"include_usage":true },"n":1}"#,
            ),
            (
                r#"{"stream":true,"stream_options":{"include_usage":false}}"#,
                r#"{"stream":true,"stream_options":{"include_usage":true}}"#,
            ),
            (r#"{"stream":true,"stream_options":null}"#, r#"{"stream":true,"stream_options":{"include_usage":true}}"#),
        ];
        for (body, expected) in cases {
            let edited = request_include_usage(body.as_bytes()).unwrap_or_default();
            assert_eq!(std::str::from_utf8(&edited).ok(), Some(expected), "{body}");
            assert_injected(body, &edited);
        }
    }

    #[test]
    fn escaped_keys_are_read_when_asking_for_usage() {
        // Upstream streams `"str\u0065am":true` and sees `stream_options` however spelled.
        let body = r#"{"str\u0065am":true,"stream_\u006fptions":{"include\u005fusage":false}}"#;
        let edited = request_include_usage(body.as_bytes()).unwrap_or_default();
        assert_eq!(&edited[..], br#"{"str\u0065am":true,"stream_\u006fptions":{"include\u005fusage":true}}"#);
        assert_eq!(
            request_include_usage(br#"{"str\u0065am":true,"stream_options":{"include\u005fusage":true}}"#),
            None
        );
    }

    #[test]
    fn leaves_bodies_that_need_nothing() {
        let cases: [&[u8]; 9] = [
            br#"{"stream":true,"stream_options":{"include_usage":true}}"#,
            br#"{"stream":true,"stream_options":{"include_usage": true ,"x":1}}"#,
            br#"{"model":"m","stream":false}"#,
            br#"{"model":"m"}"#,
            br#"{"stream":"true"}"#,
            br#"{"stream":true,"stream_options":"yes"}"#,
            br#"{"stream":true,"messages":[}"#,
            br#"{"stream":true} trailing"#,
            br#"[{"stream":true}]"#,
        ];
        for body in cases {
            assert_eq!(request_include_usage(body), None, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn reads_request_facts() {
        let body = br#"{"model":"deepseek-ai/DeepSeek-V3","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}}]}],"stream":true,"user":"u-42"}"#;
        assert_eq!(
            request_facts(body),
            Ok(RequestFacts { model: Some("deepseek-ai/DeepSeek-V3".into()), stream: true, user: Some("u-42".into()) })
        );
        let anthropic = br#"{"model":"Pro\/moonshotai\/Kimi-K2","max_tokens":10,"metadata":{"user_id":"abc"}}"#;
        assert_eq!(
            request_facts(anthropic),
            Ok(RequestFacts { model: Some("Pro/moonshotai/Kimi-K2".into()), stream: false, user: Some("abc".into()) })
        );
        assert_eq!(request_facts(br#"{"model":7}"#), Ok(RequestFacts::default()));
        assert_eq!(request_facts(b"model=x"), Ok(RequestFacts::default()));
        assert_eq!(request_facts(b""), Ok(RequestFacts::default()));
        assert_eq!(request_facts(b"--boundary\r\nContent-Disposition: form-data"), Ok(RequestFacts::default()));
    }

    fn model_of(body: &str) -> Result<Option<String>, FactsError> {
        request_facts(body.as_bytes()).map(|facts| facts.model)
    }

    #[test]
    fn keys_are_read_as_upstream_reads_them() {
        // Escaped keys count as what they spell.
        assert_eq!(model_of(r#"{"mod\u0065l":"banned"}"#), Ok(Some("banned".into())));
        assert_eq!(model_of(r#"{"model":"allowed","mod\u0065l":"banned"}"#), Err(FactsError::DuplicateModel));
        assert_eq!(model_of(r#"{"model":"a","model":"b"}"#), Err(FactsError::DuplicateModel));
        assert_eq!(model_of(r#"{"mod\el":"banned"}"#), Err(FactsError::BadKey));
        // `model` inside other values is not the model.
        assert_eq!(model_of(r#"{"x":{"model":"b"},"model":"a"}"#), Ok(Some("a".into())));
        // The last `stream` and `user` count, as upstream takes the last duplicate.
        let facts = request_facts(br#"{"stream":true,"str\u0065am":false,"user":"a","us\u0065r":"b"}"#);
        assert_eq!(facts, Ok(RequestFacts { model: None, stream: false, user: Some("b".into()) }));
        let facts = request_facts(br#"{"metadata":{"user_id":"a","user\u005fid":"b"}}"#);
        assert_eq!(facts.map(|f| f.user), Ok(Some("b".into())));
    }

    #[test]
    fn bodies_that_start_as_objects_must_be_one() {
        for body in [
            r#"{"model":"a","temperature":NaN}"#,
            r#"{"model":"a","x":[Infinity]}"#,
            r#"{"model":"a"} trailing"#,
            r#"{"model":"a"}{"model":"b"}"#,
            r#"{"model":"a","#,
            r#"{"model":"a",}"#,
            r#"{"x":[1,],"model":"a"}"#,
            r#"{"x":[1}],"model":"a"}"#,
            r#"{"x":'a',"model":"a"}"#,
            r#"{"x":01,"model":"a"}"#,
            r#"{"x":1 /* c */,"model":"a"}"#,
            r#"{"x":tru,"model":"a"}"#,
            r#"{"model":"a" "stream":true}"#,
            r#"{"model":"a"#,
        ] {
            assert!(model_of(body).is_err(), "{body}");
        }
        let deep = format!("{{\"x\":{}{},\"model\":\"a\"}}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(model_of(&deep).is_err());
        let fine = format!("{{\"x\":{}{},\"model\":\"a\"}}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(model_of(&fine), Ok(Some("a".into())));
        let numbers = r#" {"a":-0.5e+3,"b":[0,1.25,1E9,-7,true,false,null,{},[]],"c":"\"}{","model":"m"}"#;
        assert_eq!(model_of(&format!("{numbers} \r\n")), Ok(Some("m".into())));
        assert_eq!(model_of(r#"{"model":"a"} x"#), Err(FactsError::Trailing(14)));
    }

    #[test]
    fn other_encodings_are_read_or_refused() {
        // Python skips a UTF-8 byte order mark, so keyflow does too.
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice(br#"{"model":"banned"}"#);
        assert_eq!(request_facts(&body).map(|f| f.model), Ok(Some("banned".into())));
        // UTF-16 and UTF-32, with or without a byte order mark.
        let utf16le: Vec<u8> = " {\"model\":\"banned\"}".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let utf16be: Vec<u8> = "{\"model\":\"banned\"}".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let utf32le: Vec<u8> = "{\"model\":\"banned\"}".chars().flat_map(|c| u32::from(c).to_le_bytes()).collect();
        let with_bom = [&[0xFF, 0xFE][..], &utf16le].concat();
        for body in [&utf16le, &utf16be, &utf32le, &with_bom] {
            assert_eq!(request_facts(body), Err(FactsError::NotUtf8), "{body:?}");
        }
        assert_eq!(request_facts(b"\0\0\0\0binary"), Ok(RequestFacts::default()));
    }
}
