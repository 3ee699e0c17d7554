//! Reads token usage out of an SSE stream while its bytes pass to the client.
//!
//! The tap finds event boundaries in place and only copies the unfinished
//! trailing event of a read (events split across reads are the norm, not the
//! exception). It does not parse events as JSON: a top-level member scan finds
//! `usage`, `choices`, `error` and `type`, and only the bytes of the last usage
//! object are kept, to be parsed once when `usage()` is asked.

use std::ops::Range;

use bytes::Bytes;

use super::{find_either, members, Dialect, Usage, UsageWire};

/// Past this size an unfinished event is no longer held: its bytes are passed
/// on (and not inspected) so a stream without blank lines cannot grow memory.
const MAX_HELD_EVENT: usize = 1 << 20;

/// Longest `stream_error()` text, in characters.
const MAX_ERROR_CHARS: usize = 300;

/// Reads usage from an SSE stream in passing.
#[derive(Debug)]
pub struct SseTap {
    dialect: Dialect,
    strip_usage_chunk: bool,
    /// Raw bytes of an event begun in an earlier read and not finished yet.
    partial: Vec<u8>,
    /// The event in progress outgrew `MAX_HELD_EVENT`; it is forwarded, not held.
    oversized: bool,
    /// Scanner state: the current line has no bytes yet.
    line_empty: bool,
    /// Scanner state: the last byte was a `\r`, so a `\n` next ends the same line.
    after_cr: bool,
    /// The last event ended on a bare `\r` at the end of a read: a `\n` opening
    /// the next read belongs to it. `Some(true)` if that event was stripped.
    cr_tail: Option<bool>,
    /// Chunk ranges to forward, reused across reads (stripping only).
    kept: Vec<Range<usize>>,
    /// OpenAI: the last top-level `usage` object seen, parsed lazily.
    last_usage: Vec<u8>,
    /// Anthropic: `input_tokens` of `message_start` (or a later `message_delta`).
    input_tokens: Option<u64>,
    /// Anthropic: `output_tokens` of the last event carrying them.
    output_tokens: Option<u64>,
    saw_done: bool,
    n_events: u64,
    stream_error: Option<String>,
}

/// What the member scan of one event's data found.
#[derive(Default)]
struct EventFacts {
    usage: Option<Range<usize>>,
    message: Option<Range<usize>>,
    kind: Option<Range<usize>>,
    has_choices: bool,
    choices_empty: bool,
    error: bool,
}

impl SseTap {
    /// `strip_usage_chunk`: the gateway injected `stream_options.include_usage`, so the
    /// OpenAI-style usage-only chunk (`"choices":[]` + usage) must be removed from what
    /// the client receives. Ignored for `Dialect::Anthropic`, which has no such chunk.
    pub fn new(dialect: Dialect, strip_usage_chunk: bool) -> Self {
        Self {
            dialect,
            strip_usage_chunk: strip_usage_chunk && dialect == Dialect::OpenAi,
            partial: Vec::new(),
            oversized: false,
            line_empty: true,
            after_cr: false,
            cr_tail: None,
            kept: Vec::new(),
            last_usage: Vec::new(),
            input_tokens: None,
            output_tokens: None,
            saw_done: false,
            n_events: 0,
            stream_error: None,
        }
    }

    /// Feed bytes as read from upstream; returns the bytes to send to the client now.
    /// When not stripping this returns `chunk` itself and never holds bytes back.
    /// When stripping, complete events are forwarded at once; only an unfinished
    /// trailing event is held until the rest arrives.
    pub fn feed(&mut self, chunk: Bytes) -> Bytes {
        self.kept.clear();
        // Held bytes released ahead of this read's own (stripping only).
        let mut head = Vec::new();
        let bytes = &chunk[..];
        let mut pos = 0;
        // An empty read must not lose the pending `\r`.
        let cr_tail = if bytes.is_empty() { None } else { self.cr_tail.take() };
        if let Some(prev_stripped) = cr_tail {
            if bytes.first() == Some(&b'\n') {
                if !prev_stripped {
                    self.keep(0..1);
                }
                pos = 1;
            }
        }
        while pos < bytes.len() {
            let Some(mut end) = self.find_event_end(bytes, pos) else {
                self.hold(bytes, pos, &mut head);
                break;
            };
            let ends_on_cr = bytes[end - 1] == b'\r';
            if ends_on_cr && bytes.get(end) == Some(&b'\n') {
                end += 1;
            }
            let stripped = self.complete_event(&bytes[pos..end], &mut head);
            if !stripped {
                self.keep(pos..end);
            }
            if ends_on_cr && end == bytes.len() {
                self.cr_tail = Some(stripped);
            }
            pos = end;
        }
        if !self.strip_usage_chunk {
            return chunk;
        }
        if head.is_empty() {
            match self.kept.as_slice() {
                [] => return Bytes::new(),
                [range] => return chunk.slice(range.clone()),
                _ => {}
            }
        }
        let mut out = head;
        out.reserve(self.kept.iter().map(|r| r.len()).sum());
        for range in &self.kept {
            out.extend_from_slice(&bytes[range.clone()]);
        }
        Bytes::from(out)
    }

    /// End of stream: whatever is still held back. An event cut off without its
    /// closing blank line is still read for usage, as upstreams often end that way.
    pub fn finish(&mut self) -> Bytes {
        self.cr_tail = None;
        self.line_empty = true;
        self.after_cr = false;
        if self.oversized {
            self.oversized = false;
            self.partial.clear();
            return Bytes::new();
        }
        let held = std::mem::take(&mut self.partial);
        if held.is_empty() {
            return Bytes::new();
        }
        let stripped = self.on_event(&held);
        if stripped || !self.strip_usage_chunk {
            Bytes::new()
        } else {
            Bytes::from(held)
        }
    }

    /// Usage seen so far: the last running total for OpenAI; for Anthropic
    /// `input_tokens` of `message_start` plus `output_tokens` of the last
    /// `message_delta`. `None` if no usage was seen.
    pub fn usage(&self) -> Option<Usage> {
        match self.dialect {
            Dialect::OpenAi if self.last_usage.is_empty() => None,
            Dialect::OpenAi => UsageWire::parse(&self.last_usage),
            Dialect::Anthropic => {
                if self.input_tokens.is_none() && self.output_tokens.is_none() {
                    return None;
                }
                let prompt_tokens = self.input_tokens.unwrap_or(0);
                let completion_tokens = self.output_tokens.unwrap_or(0);
                Some(Usage {
                    prompt_tokens,
                    completion_tokens,
                    total_tokens: prompt_tokens.saturating_add(completion_tokens),
                })
            }
        }
    }

    /// `data: [DONE]` (either dialect) or `message_stop` (Anthropic) seen.
    pub fn saw_done(&self) -> bool {
        self.saw_done
    }

    /// Events dispatched so far: those with at least one `data:` line, as SSE defines them.
    pub fn n_events(&self) -> u64 {
        self.n_events
    }

    /// The first upstream error event seen inside the stream, if any, as a short string.
    pub fn stream_error(&self) -> Option<&str> {
        self.stream_error.as_deref()
    }

    fn keep(&mut self, range: Range<usize>) {
        if !self.strip_usage_chunk {
            return;
        }
        match self.kept.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => self.kept.push(range),
        }
    }

    /// Finds the end (exclusive) of the event in progress: the terminator of
    /// the first empty line at or after `from`. The scanner state carries over
    /// reads, so a blank line split between two reads is still found.
    fn find_event_end(&mut self, bytes: &[u8], from: usize) -> Option<usize> {
        let mut i = from;
        while let Some(&b) = bytes.get(i) {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    i += 1;
                    continue;
                }
            }
            if b == b'\n' || b == b'\r' {
                if self.line_empty {
                    return Some(i + 1);
                }
                self.line_empty = true;
                self.after_cr = b == b'\r';
                i += 1;
            } else {
                self.line_empty = false;
                let rest = &bytes[i..];
                i += find_either(rest, b'\n', b'\r').unwrap_or(rest.len());
            }
        }
        None
    }

    /// Keeps the unfinished event at `bytes[from..]` for the next read.
    fn hold(&mut self, bytes: &[u8], from: usize, head: &mut Vec<u8>) {
        let rest = &bytes[from..];
        if !self.oversized && self.partial.len() + rest.len() <= MAX_HELD_EVENT {
            self.partial.extend_from_slice(rest);
            return;
        }
        // Held bytes from earlier reads can only precede this read's own: had
        // an event ended in this read, it would have taken them.
        if !self.oversized && self.strip_usage_chunk {
            head.extend_from_slice(&self.partial);
        }
        self.partial.clear();
        self.oversized = true;
        self.keep(from..bytes.len());
    }

    /// Handles an event whose last bytes are `tail`; returns whether to strip it.
    fn complete_event(&mut self, tail: &[u8], head: &mut Vec<u8>) -> bool {
        self.line_empty = true;
        self.after_cr = false;
        if self.oversized {
            self.oversized = false;
            self.n_events += 1;
            return false;
        }
        if self.partial.is_empty() {
            return self.on_event(tail);
        }
        let mut raw = std::mem::take(&mut self.partial);
        raw.extend_from_slice(tail);
        let stripped = self.on_event(&raw);
        if !stripped && self.strip_usage_chunk {
            head.extend_from_slice(&raw[..raw.len() - tail.len()]);
        }
        raw.clear();
        self.partial = raw;
        stripped
    }

    /// Reads one complete event; returns whether it is the usage-only chunk to strip.
    fn on_event(&mut self, raw: &[u8]) -> bool {
        let mut name: &[u8] = b"";
        let mut data: Option<&[u8]> = None;
        // Only events with several `data:` lines need their data joined.
        let mut joined: Option<Vec<u8>> = None;
        for line in Lines(raw) {
            let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
            if line.first().is_none_or(|&b| b == b':') {
                continue;
            }
            let (field, value) = match line.iter().position(|&b| b == b':') {
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &b""[..]),
            };
            match field {
                b"data" => match (data, joined.as_mut()) {
                    (None, _) => data = Some(value),
                    (Some(_), Some(buf)) => {
                        buf.push(b'\n');
                        buf.extend_from_slice(value);
                    }
                    (Some(first), None) => {
                        let mut buf = first.to_vec();
                        buf.push(b'\n');
                        buf.extend_from_slice(value);
                        joined = Some(buf);
                    }
                },
                b"event" => name = value,
                _ => {}
            }
        }
        let Some(data) = joined.as_deref().or(data) else {
            return false;
        };
        self.n_events += 1;
        let data = data.trim_ascii();
        if data == b"[DONE]" {
            self.saw_done = true;
            return false;
        }
        let facts = scan_event(data);
        match self.dialect {
            Dialect::OpenAi => self.on_openai_event(name, data, &facts),
            Dialect::Anthropic => {
                self.on_anthropic_event(name, data, &facts);
                false
            }
        }
    }

    fn on_openai_event(&mut self, name: &[u8], data: &[u8], facts: &EventFacts) -> bool {
        if let Some(range) = &facts.usage {
            self.last_usage.clear();
            self.last_usage.extend_from_slice(&data[range.clone()]);
        }
        // SiliconFlow's own error shape is `{"code":..,"message":..}`: a data
        // object with `message` and no `choices` is no chunk.
        if name == b"error" || facts.error || (!facts.has_choices && facts.message.is_some()) {
            self.note_error(data);
        }
        self.strip_usage_chunk && facts.choices_empty && facts.usage.is_some()
    }

    fn on_anthropic_event(&mut self, name: &[u8], data: &[u8], facts: &EventFacts) {
        let kind = match &facts.kind {
            _ if !name.is_empty() => name,
            Some(range) => &data[range.clone()],
            None => b"",
        };
        match kind {
            b"message_start" => {
                let usage = facts.message.as_ref().and_then(|range| nested_usage(&data[range.clone()]));
                if let Some(usage) = usage {
                    self.input_tokens = Some(usage.prompt_tokens);
                    self.output_tokens = Some(usage.completion_tokens);
                }
                return;
            }
            b"message_stop" => self.saw_done = true,
            b"error" => self.note_error(data),
            _ => {}
        }
        if facts.error && kind != b"error" {
            self.note_error(data);
        }
        // `message_delta` carries cumulative `output_tokens`; newer upstreams
        // repeat `input_tokens` there too, which then supersede the start's.
        let usage = facts.usage.as_ref().and_then(|range| UsageWire::parse(&data[range.clone()]));
        if let Some(usage) = usage {
            self.output_tokens = Some(usage.completion_tokens);
            if usage.prompt_tokens > 0 {
                self.input_tokens = Some(usage.prompt_tokens);
            }
        }
    }

    fn note_error(&mut self, data: &[u8]) {
        if self.stream_error.is_none() {
            self.stream_error = Some(error_text(data));
        }
    }
}

/// Scans the top-level members of an event's data for the few that matter.
fn scan_event(data: &[u8]) -> EventFacts {
    let mut facts = EventFacts::default();
    for (key, value) in members(data) {
        let json = &data[value.clone()];
        match key {
            b"usage" if json.first() == Some(&b'{') => facts.usage = Some(value),
            b"choices" => {
                facts.has_choices = true;
                facts.choices_empty =
                    json.len() >= 2 && json[0] == b'[' && json[1..json.len() - 1].trim_ascii().is_empty();
            }
            b"error" => facts.error = json != b"null",
            b"message" => facts.message = Some(value),
            // The quotes are dropped: the type names are plain ASCII.
            b"type" if json.len() >= 2 && json[0] == b'"' => {
                facts.kind = Some(value.start + 1..value.end - 1);
            }
            _ => {}
        }
    }
    facts
}

/// The `usage` of an Anthropic `message` object.
fn nested_usage(message: &[u8]) -> Option<Usage> {
    members(message).filter(|(key, _)| *key == b"usage").last().and_then(|(_, range)| UsageWire::parse(&message[range]))
}

/// A short human-readable text for an error event's data.
fn error_text(data: &[u8]) -> String {
    let value: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    let message = value.as_ref().and_then(|v| {
        let error = v.get("error");
        error
            .and_then(|e| e.get("message"))
            .or(error.filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .and_then(|m| m.as_str())
    });
    let text = match message {
        Some(text) => text.to_owned(),
        None => String::from_utf8_lossy(data).into_owned(),
    };
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Lines of a complete event, split on `\r\n`, `\r` or `\n` as SSE allows.
struct Lines<'a>(&'a [u8]);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.0.is_empty() {
            return None;
        }
        let rest = self.0;
        match find_either(rest, b'\n', b'\r') {
            Some(end) => {
                let skip = if rest[end..].starts_with(b"\r\n") { 2 } else { 1 };
                self.0 = &rest[end + skip..];
                Some(&rest[..end])
            }
            None => {
                self.0 = &[];
                Some(rest)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";

    /// A SiliconFlow chat chunk: running usage in every chunk.
    fn chat_chunk(content: &str, finish: Option<&str>, prompt: u64, completion: u64) -> String {
        let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
        format!(
            r#"{{"id":"019a1b2c3d4e5f","object":"chat.completion.chunk","created":1761900000,"model":"{MODEL}","choices":[{{"index":0,"delta":{{"content":"{content}","reasoning_content":null}},"finish_reason":{finish}}}],"system_fingerprint":"","usage":{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}}}}}"#,
            prompt + completion
        )
    }

    /// The OpenAI-style trailing chunk `stream_options.include_usage` asks for.
    fn usage_only_chunk(prompt: u64, completion: u64) -> String {
        format!(
            r#"{{"id":"019a1b2c3d4e5f","object":"chat.completion.chunk","created":1761900000,"model":"{MODEL}","choices":[],"usage":{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}}}}}"#,
            prompt + completion
        )
    }

    fn usage(prompt: u64, completion: u64) -> Usage {
        Usage { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
    }

    fn siliconflow_stream() -> String {
        [
            format!("data: {}\n\n", chat_chunk("", None, 12, 0)),
            format!("data: {}\n\n", chat_chunk("你好", None, 12, 1)),
            ": keep-alive\n\n".to_owned(),
            format!("data: {}\n\n", chat_chunk("！有什么可以帮你？", None, 12, 3)),
            format!("data: {}\n\n", chat_chunk("", Some("stop"), 12, 3)),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat()
    }

    /// Feeds `input` cut at `cuts` and returns everything the client got.
    fn run(tap: &mut SseTap, input: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            out.extend_from_slice(&tap.feed(Bytes::copy_from_slice(&input[start..cut])));
            start = cut;
        }
        out.extend_from_slice(&tap.finish());
        out
    }

    #[test]
    fn reads_running_usage_from_siliconflow_chunks() {
        let input = siliconflow_stream();
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        assert_eq!(run(&mut tap, input.as_bytes(), &[]), input.as_bytes());
        assert_eq!(tap.usage(), Some(usage(12, 3)));
        assert!(tap.saw_done());
        assert_eq!(tap.n_events(), 5);
        assert_eq!(tap.stream_error(), None);
    }

    #[test]
    fn returns_the_same_bytes_when_not_stripping() {
        let input = Bytes::from(siliconflow_stream());
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        let first = input.slice(..100);
        let out = tap.feed(first.clone());
        assert_eq!(out.as_ptr(), first.as_ptr());
        assert_eq!(out.len(), first.len());
        assert_eq!(tap.feed(input.slice(100..)).len(), input.len() - 100);
        assert!(tap.finish().is_empty());
    }

    #[test]
    fn any_two_way_split_reads_the_same() {
        let input = siliconflow_stream();
        for cut in 0..=input.len() {
            let mut tap = SseTap::new(Dialect::OpenAi, false);
            assert_eq!(run(&mut tap, input.as_bytes(), &[cut]), input.as_bytes());
            assert_eq!(tap.usage(), Some(usage(12, 3)), "cut at {cut}");
            assert!(tap.saw_done());
            assert_eq!(tap.n_events(), 5);
        }
    }

    #[test]
    fn splits_inside_a_multibyte_character() {
        let input = siliconflow_stream();
        let at = input.find("你").unwrap_or_default() + 1;
        let mut tap = SseTap::new(Dialect::OpenAi, true);
        assert_eq!(run(&mut tap, input.as_bytes(), &[at, at + 1]), input.as_bytes());
        assert_eq!(tap.usage(), Some(usage(12, 3)));
    }

    #[test]
    fn byte_at_a_time_with_crlf_and_no_space_after_data() {
        let input = siliconflow_stream().replace("\n", "\r\n").replace("data: ", "data:");
        let cuts: Vec<usize> = (1..input.len()).collect();
        for strip in [false, true] {
            let mut tap = SseTap::new(Dialect::OpenAi, strip);
            assert_eq!(run(&mut tap, input.as_bytes(), &cuts), input.as_bytes());
            assert_eq!(tap.usage(), Some(usage(12, 3)));
            assert!(tap.saw_done());
            assert_eq!(tap.n_events(), 5);
        }
    }

    #[test]
    fn bare_cr_line_endings() {
        let input = siliconflow_stream().replace("\n", "\r");
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        run(&mut tap, input.as_bytes(), &[]);
        assert_eq!(tap.usage(), Some(usage(12, 3)));
        assert_eq!(tap.n_events(), 5);
    }

    #[test]
    fn comments_and_unknown_fields_are_not_events() {
        let input =
            format!(": keep-alive\n\nid: 7\nretry: 1000\n: note\ndata: {}\n\n:\n\n", chat_chunk("hi", None, 5, 1));
        let mut tap = SseTap::new(Dialect::OpenAi, true);
        assert_eq!(run(&mut tap, input.as_bytes(), &[3]), input.as_bytes());
        assert_eq!(tap.n_events(), 1);
        assert_eq!(tap.usage(), Some(usage(5, 1)));
        assert!(!tap.saw_done());
    }

    #[test]
    fn null_usage_chunks_do_not_hide_the_trailing_usage() {
        // OpenAI's own shape with include_usage: `"usage":null` until the end.
        let content = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"usage"},"finish_reason":null}],"usage":null}"#;
        let input =
            format!("data: {content}\n\ndata: {}\n\ndata: {content}\n\ndata: [DONE]\n\n", usage_only_chunk(9, 4));
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        run(&mut tap, input.as_bytes(), &[]);
        assert_eq!(tap.usage(), Some(usage(9, 4)));
    }

    #[test]
    fn no_usage_seen() {
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        run(&mut tap, b"data: {\"choices\":[]}\n\ndata: [DONE]\n\n", &[]);
        assert_eq!(tap.usage(), None);
        assert!(tap.saw_done());
        assert_eq!(SseTap::new(Dialect::Anthropic, false).usage(), None);
    }

    #[test]
    fn multiline_data_is_joined() {
        let input = "data: {\"choices\":[{\"delta\":{}}],\ndata: \"usage\":{\"prompt_tokens\":2,\ndata: \"completion_tokens\":1}}\n\n";
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        run(&mut tap, input.as_bytes(), &[]);
        assert_eq!(tap.usage(), Some(usage(2, 1)));
        assert_eq!(tap.n_events(), 1);
    }

    #[test]
    fn strips_the_usage_only_chunk_and_nothing_else() {
        let before =
            format!("data: {}\n\ndata: {}\n\n", chat_chunk("你好", None, 12, 1), chat_chunk("", Some("stop"), 12, 2));
        let usage_event = format!("data: {}\n\n", usage_only_chunk(12, 2));
        let input = format!("{before}{usage_event}data: [DONE]\n\n");
        let expected = format!("{before}data: [DONE]\n\n");

        let mut tap = SseTap::new(Dialect::OpenAi, true);
        assert_eq!(run(&mut tap, input.as_bytes(), &[]), expected.as_bytes());
        assert_eq!(tap.usage(), Some(usage(12, 2)));
        assert!(tap.saw_done());

        // Not asked to strip: the client gets it, as it asked for it itself.
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        assert_eq!(run(&mut tap, input.as_bytes(), &[]), input.as_bytes());

        for cut in 0..=input.len() {
            let mut tap = SseTap::new(Dialect::OpenAi, true);
            let out = run(&mut tap, input.as_bytes(), &[cut]);
            assert_eq!(out, expected.as_bytes(), "cut at {cut}");
            assert_eq!(tap.usage(), Some(usage(12, 2)));
        }
    }

    #[test]
    fn stripping_forwards_complete_events_at_once() {
        let first = format!("data: {}\n\n", chat_chunk("a", None, 3, 1));
        let second = format!("data: {}\n\n", chat_chunk("b", None, 3, 2));
        let mut tap = SseTap::new(Dialect::OpenAi, true);
        let input = Bytes::from(format!("{first}{}", &second[..40]));
        let out = tap.feed(input.clone());
        assert_eq!(out, first.as_bytes());
        // A slice of the read, not a copy.
        assert_eq!(out.as_ptr(), input.as_ptr());
        assert_eq!(tap.feed(Bytes::from(second[40..].to_owned())), second.as_bytes());
        assert!(tap.finish().is_empty());
        assert_eq!(tap.usage(), Some(usage(3, 2)));
    }

    #[test]
    fn stripping_across_a_split_crlf_boundary() {
        let usage_event = format!("data: {}\r\n\r\n", usage_only_chunk(4, 4));
        let input = format!("{usage_event}data: [DONE]\r\n\r\n");
        let mut tap = SseTap::new(Dialect::OpenAi, true);
        let cut = usage_event.len() - 1;
        // The empty read in between must not lose track of the split `\r\n`.
        assert_eq!(run(&mut tap, input.as_bytes(), &[cut, cut]), b"data: [DONE]\r\n\r\n");
        assert_eq!(tap.usage(), Some(usage(4, 4)));
        assert!(tap.saw_done());
    }

    #[test]
    fn an_unterminated_last_event_still_counts() {
        let input = format!("data: {}\n\ndata: [DONE]", chat_chunk("x", None, 1, 1));
        let mut tap = SseTap::new(Dialect::OpenAi, true);
        assert_eq!(run(&mut tap, input.as_bytes(), &[]), input.as_bytes());
        assert!(tap.saw_done());

        let input = format!("data: {}", usage_only_chunk(3, 3));
        let mut tap = SseTap::new(Dialect::OpenAi, true);
        assert!(run(&mut tap, input.as_bytes(), &[]).is_empty());
        assert_eq!(tap.usage(), Some(usage(3, 3)));
    }

    #[test]
    fn anthropic_event_sequence() {
        let input = concat!(
            "event: message_start\n",
            r#"data: {"type":"message_start","message":{"id":"msg_019a","type":"message","role":"assistant","content":[],"model":"deepseek-ai/DeepSeek-V3.2","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
            "\n\n",
            "event: content_block_start\n",
            r#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            "\n\n",
            "event: ping\ndata: {\"type\": \"ping\"}\n\n",
            "event: content_block_delta\n",
            r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"你好，\"usage\":{"}}"#,
            "\n\n",
            "event: content_block_stop\n",
            r#"data: {"type":"content_block_stop","index":0}"#,
            "\n\n",
            "event: message_delta\n",
            r#"data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
            "\n\n",
            "event: message_stop\n",
            r#"data: {"type":"message_stop"}"#,
            "\n\n",
        );
        for cut in 0..=input.len() {
            let mut tap = SseTap::new(Dialect::Anthropic, true);
            assert_eq!(run(&mut tap, input.as_bytes(), &[cut]), input.as_bytes());
            assert_eq!(tap.usage(), Some(usage(25, 15)), "cut at {cut}");
            assert!(tap.saw_done());
            assert_eq!(tap.n_events(), 7);
            assert_eq!(tap.stream_error(), None);
        }
    }

    #[test]
    fn anthropic_without_event_lines_uses_the_type_field() {
        let input = concat!(
            r#"data: {"type":"message_start","message":{"usage":{"input_tokens":7,"output_tokens":1}}}"#,
            "\n\n",
            r#"data: {"type":"message_delta","delta":{},"usage":{"output_tokens":3}}"#,
            "\n\n",
            r#"data: {"type":"message_stop"}"#,
            "\n\n",
        );
        let mut tap = SseTap::new(Dialect::Anthropic, false);
        run(&mut tap, input.as_bytes(), &[]);
        assert_eq!(tap.usage(), Some(usage(7, 3)));
        assert!(tap.saw_done());
    }

    #[test]
    fn reports_the_first_stream_error() {
        let input = format!(
            "data: {}\n\ndata: {}\n\ndata: {}\n\n",
            chat_chunk("a", None, 1, 1),
            r#"{"error":{"message":"upstream overloaded","type":"server_error","code":50505}}"#,
            r#"{"code":50505,"message":"Model service overloaded. Please try again later.","data":null}"#,
        );
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        run(&mut tap, input.as_bytes(), &[]);
        assert_eq!(tap.stream_error(), Some("upstream overloaded"));
        assert_eq!(tap.usage(), Some(usage(1, 1)));

        let mut tap = SseTap::new(Dialect::OpenAi, false);
        run(&mut tap, input.as_bytes().split_at(input.find("data: {\"error").unwrap_or(0)).0, &[]);
        assert_eq!(tap.stream_error(), None);

        let siliconflow = "data: {\"code\":50505,\"message\":\"Model service overloaded.\",\"data\":null}\n\n";
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        run(&mut tap, siliconflow.as_bytes(), &[]);
        assert_eq!(tap.stream_error(), Some("Model service overloaded."));

        let anthropic = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        let mut tap = SseTap::new(Dialect::Anthropic, false);
        run(&mut tap, anthropic.as_bytes(), &[]);
        assert_eq!(tap.stream_error(), Some("Overloaded"));

        let long = format!("event: error\ndata: {}\n\n", "x".repeat(1000));
        let mut tap = SseTap::new(Dialect::OpenAi, false);
        run(&mut tap, long.as_bytes(), &[]);
        assert_eq!(tap.stream_error().map(|e| e.chars().count()), Some(MAX_ERROR_CHARS + 1));
    }

    #[test]
    fn an_endless_event_is_passed_on_not_held() {
        let mut tap = SseTap::new(Dialect::OpenAi, true);
        let piece = Bytes::from(vec![b'x'; MAX_HELD_EVENT / 2]);
        let mut out = tap.feed(Bytes::from_static(b"data: ")).len();
        for _ in 0..4 {
            out += tap.feed(piece.clone()).len();
        }
        assert!(tap.partial.capacity() <= MAX_HELD_EVENT * 2);
        out += tap.feed(Bytes::from_static(b"\n\ndata: [DONE]\n\n")).len();
        out += tap.finish().len();
        assert_eq!(out, 6 + 4 * piece.len() + 16);
        assert!(tap.saw_done());
        assert_eq!(tap.n_events(), 2);
    }

    /// Builds a realistic stream; returns it, the usage-only event (if any) and the last usage.
    fn build_stream(
        contents: &[&str],
        crlf: bool,
        space: bool,
        keep_alive: bool,
        usage_event: bool,
    ) -> (String, Option<String>, Usage) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let data = if space { "data: " } else { "data:" };
        let mut stream = String::new();
        let mut completion = 0;
        for (i, content) in contents.iter().enumerate() {
            completion += 1;
            let finish = (i + 1 == contents.len()).then_some("stop");
            stream += &format!("{data}{}{nl}{nl}", chat_chunk(content, finish, 20, completion));
            if keep_alive && i % 2 == 0 {
                stream += &format!(": keep-alive{nl}{nl}");
            }
        }
        let mut last = usage(20, completion);
        let usage_only = usage_event.then(|| {
            last = usage(20, completion + 1);
            format!("{data}{}{nl}{nl}", usage_only_chunk(20, completion + 1))
        });
        stream += usage_only.as_deref().unwrap_or_default();
        stream += &format!("{data}[DONE]{nl}{nl}");
        (stream, usage_only, last)
    }

    proptest! {
        #[test]
        fn arbitrary_splits(
            contents in prop::collection::vec(
                prop::sample::select(vec!["", "你好", "！", "hello", "naïve 😀", "\\\"usage\\\":{}", "a\\nb"]),
                1..6,
            ),
            crlf in any::<bool>(),
            space in any::<bool>(),
            keep_alive in any::<bool>(),
            usage_event in any::<bool>(),
            cuts in prop::collection::vec(any::<usize>(), 0..16),
        ) {
            let (input, usage_only, last) = build_stream(&contents, crlf, space, keep_alive, usage_event);

            let mut tap = SseTap::new(Dialect::OpenAi, false);
            prop_assert_eq!(run(&mut tap, input.as_bytes(), &cuts), input.as_bytes());
            prop_assert_eq!(tap.usage(), Some(last));
            prop_assert!(tap.saw_done());

            let mut tap = SseTap::new(Dialect::OpenAi, true);
            let expected = match &usage_only {
                Some(event) => input.replacen(event.as_str(), "", 1),
                None => input.clone(),
            };
            prop_assert_eq!(run(&mut tap, input.as_bytes(), &cuts), expected.as_bytes());
            prop_assert_eq!(tap.usage(), Some(last));
            prop_assert!(tap.saw_done());
        }
    }
}
