//! Reads complete JSON bodies: usage and image counts from upstream answers,
//! and the few request fields the gateway acts on.
//!
//! Bodies can be large (embeddings, base64 images), so fields are found with
//! the top-level member scan and only their own bytes are parsed.

use std::ops::Range;

use bytes::Bytes;

use super::{count_array_items, members, Usage, UsageWire};

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
        match key {
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
                if key == b"include_usage" {
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

/// Reads `model`, `stream` and `user` of a JSON request body without parsing
/// the rest (messages may hold megabytes of base64 images). A body that is not
/// a JSON object gives the defaults.
pub fn request_facts(body: &[u8]) -> RequestFacts {
    let mut facts = RequestFacts::default();
    let mut metadata = None;
    for (key, value) in members(body) {
        let json = &body[value.clone()];
        match key {
            b"model" => facts.model = json_string(json),
            b"stream" => facts.stream = json == b"true",
            b"user" => facts.user = json_string(json),
            b"metadata" => metadata = Some(json),
            _ => {}
        }
    }
    if facts.user.is_none() {
        facts.user = metadata.and_then(|metadata| {
            let (_, range) = members(metadata).filter(|(key, _)| *key == b"user_id").last()?;
            json_string(&metadata[range])
        });
    }
    facts
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
            RequestFacts { model: Some("deepseek-ai/DeepSeek-V3".into()), stream: true, user: Some("u-42".into()) }
        );
        let anthropic = br#"{"model":"Pro\/moonshotai\/Kimi-K2","max_tokens":10,"metadata":{"user_id":"abc"}}"#;
        assert_eq!(
            request_facts(anthropic),
            RequestFacts { model: Some("Pro/moonshotai/Kimi-K2".into()), stream: false, user: Some("abc".into()) }
        );
        assert_eq!(request_facts(br#"{"model":7}"#), RequestFacts::default());
        assert_eq!(request_facts(b"model=x"), RequestFacts::default());
    }
}
