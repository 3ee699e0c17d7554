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
mod tests;
