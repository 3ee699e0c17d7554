//! The answer to an images-through-chat request, written as it happens:
//! one `chat.completion` at the end, or `chat.completion.chunk` SSE frames
//! sent the moment each line exists.
//!
//! Both shapes come from one [`Transcript`], so the streamed text and the
//! whole answer can never disagree.

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::generate::Generated;
use crate::usage::Usage;

/// Where the text goes: accumulated always, streamed when a sink is set.
pub struct Transcript {
    id: String,
    created: u64,
    model: String,
    content: String,
    sink: Option<mpsc::Sender<Bytes>>,
    /// The streaming client went away; the work goes on and is recorded.
    aborted: bool,
}

impl Transcript {
    pub fn new(model: &str, sink: Option<mpsc::Sender<Bytes>>) -> Transcript {
        Transcript {
            id: format!("chatcmpl-{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>()),
            created: crate::clock::now_secs().max(0) as u64,
            model: model.to_string(),
            content: String::new(),
            sink,
            aborted: false,
        }
    }

    pub fn aborted(&self) -> bool {
        self.aborted
    }

    /// The opening chunk of a stream: the assistant role, no text yet.
    pub async fn start(&mut self) {
        let chunk = self.chunk(json!({"role": "assistant", "content": ""}), None, None);
        self.send(chunk).await;
    }

    /// Appends text to the answer (and streams it).
    pub async fn push(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        self.content.push_str(text);
        let chunk = self.chunk(json!({"content": text}), None, None);
        self.send(chunk).await;
    }

    /// Ends a stream: the `stop` chunk with the usage, then `[DONE]`.
    pub async fn finish(&mut self, usage: Usage) {
        let chunk = self.chunk(json!({}), Some("stop"), Some(usage));
        self.send(chunk).await;
        self.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
        self.sink = None;
    }

    /// The whole answer as a non-stream `chat.completion`.
    pub fn completion(&self, usage: Usage) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": self.content},
                "finish_reason": "stop",
            }],
            "usage": usage,
        })
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<Usage>) -> Bytes {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if let Some(usage) = usage {
            chunk["usage"] = json!(usage);
        }
        Bytes::from(format!("data: {chunk}\n\n"))
    }

    async fn send(&mut self, frame: Bytes) {
        let Some(sink) = &self.sink else { return };
        if sink.send(frame).await.is_err() {
            self.aborted = true;
            self.sink = None;
        }
    }
}

/// The prompt actually sent, and the user's words when they were expanded.
pub fn prompt_lines(used: &str, original: &str) -> String {
    if used == original {
        format!("🎨 Prompt: {used}\n\n")
    } else {
        format!("🎨 Prompt: {used}\n(expanded from: {original})\n\n")
    }
}

/// The "generating" status, saying why fewer images than asked are made.
pub fn generating_line(n: u32, wanted: u32, model: &str, size: Option<(u32, u32)>) -> String {
    let images = if n == 1 { "1 image".to_string() } else { format!("{n} images") };
    let size = size.map(|(w, h)| format!(" at {w}x{h}")).unwrap_or_default();
    let capped = if wanted > n {
        format!(" ({wanted} asked; capped by the per-request limit and the number of usable keys)")
    } else {
        String::new()
    };
    format!("⏳ Generating {images} with {model}{size}…{capped}\n\n")
}

/// One image's status line, written when it completes.
pub fn status_line(number: usize, generated: &Generated) -> String {
    match generated {
        Generated::Done { link, .. } => format!("✅ Image {number} done: {}\n", link.url),
        Generated::Failed { reason, .. } => format!("❌ Image {number} failed: {reason}\n"),
    }
}

/// Every finished image as `![imageN|prompt](URL)`, in order; a re-hosted
/// image keeps its original link beside it.
pub fn images_block(results: &[Option<Generated>], prompt: &str) -> String {
    // Brackets and line breaks would end the alt text early.
    let alt: String = prompt
        .chars()
        .map(|c| match c {
            '[' => '(',
            ']' => ')',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    let mut block = String::from("\n");
    for (i, result) in results.iter().enumerate() {
        if let Some(Generated::Done { link, .. }) = result {
            block.push_str(&format!("![image{}|{alt}]({})", i + 1, link.url));
            if link.rehosted() {
                block.push_str(&format!(" (original: {})", link.original));
            }
            block.push_str("\n\n");
        }
    }
    if block.trim().is_empty() {
        block.push_str("No image could be generated.\n");
    }
    block
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::images::rehost::Link;

    fn done(url: &str, original: &str) -> Option<Generated> {
        let link = Link { url: url.into(), original: original.into() };
        Some(Generated::Done { link, key_id: 1, retries: 0, upstream_time: Duration::ZERO })
    }

    #[test]
    fn images_are_numbered_and_keep_the_original() {
        let failed = Some(Generated::Failed { reason: "500: boom".into(), retries: 1 });
        let results = [done("https://a/1", "https://a/1"), failed, done("https://s/3", "https://a/3")];
        let block = images_block(&results, "a [red] cat");
        assert!(block.contains("![image1|a (red) cat](https://a/1)\n"), "{block}");
        assert!(block.contains("![image3|a (red) cat](https://s/3) (original: https://a/3)"), "{block}");
        assert!(!block.contains("image2"), "{block}");
        assert_eq!(images_block(&[None], "x").trim(), "No image could be generated.");
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_line(2, &Generated::Failed { reason: "r".into(), retries: 0 }), "❌ Image 2 failed: r\n");
        let Some(ok) = done("u", "u") else { panic!("built above") };
        assert_eq!(status_line(1, &ok), "✅ Image 1 done: u\n");
        assert!(generating_line(2, 5, "m", Some((1024, 576))).contains("2 images with m at 1024x576…"));
        assert!(prompt_lines("A cat", "猫").contains("expanded from: 猫"));
    }
}
