//! What an images-through-chat request asks for: the last user message
//! read into a prompt, an image count, a size wish and an input image; and
//! the banned-word check every prompt passes before any image call.

use bytes::Bytes;
use serde_json::Value;
use tokio_util::task::TaskTracker;

use super::error::ImageError;
use super::marker::take_count;
use super::size::{take_size, SizeWish};

/// The parts of a chat request the image path uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageAsk {
    pub model: String,
    pub stream: bool,
    /// The prompt with its markers removed.
    pub prompt: String,
    /// `pic:N`, if given (`pic:0` is one).
    pub count: Option<u32>,
    pub size: Option<SizeWish>,
    /// The first `image_url` part of the message, for image-to-image models.
    pub input_image: Option<String>,
}

/// Bodies up to this size are read on the request's own task; larger ones
/// on a blocking thread.
const INLINE_PARSE_BYTES: usize = 64 << 10;

impl ImageAsk {
    /// `parse`, off the async workers for a large body. Reading the JSON and
    /// the markers is linear, but a body may hold tens of megabytes of
    /// prompt, and CPU work of that size on a worker stalls every request
    /// it serves (SPEC §10).
    pub async fn parse_off_workers(tracker: &TaskTracker, body: &Bytes) -> Result<ImageAsk, ImageError> {
        if body.len() <= INLINE_PARSE_BYTES {
            return ImageAsk::parse(body);
        }
        let body = body.clone();
        let parsed = tracker.spawn_blocking(move || ImageAsk::parse(&body)).await;
        parsed.map_err(|e| ImageError::Internal(format!("reading the image request failed: {e}")))?
    }

    pub fn parse(body: &[u8]) -> Result<ImageAsk, ImageError> {
        let bad = |message: &str| ImageError::BadRequest(message.to_string());
        let request: Value = serde_json::from_slice(body).map_err(|_| bad("the request body is not valid JSON"))?;
        let model = request.get("model").and_then(Value::as_str).unwrap_or_default().to_string();
        let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
        let messages = request
            .get("messages")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("`messages` must be an array of chat messages"))?;
        let last_user = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .ok_or_else(|| bad("no user message: describe the image in a user message"))?;
        let (text, input_image) = read_content(last_user.get("content"));
        let (count, rest) = take_count(&text);
        let (size, prompt) = take_size(&rest);
        if prompt.trim().is_empty() {
            return Err(bad("the last user message holds no image description; describe the image to generate"));
        }
        Ok(ImageAsk { model, stream, prompt, count, size, input_image })
    }
}

/// The text of a message's content (a string, or its text parts joined by
/// line breaks) and the first image link among its parts.
fn read_content(content: Option<&Value>) -> (String, Option<String>) {
    match content {
        Some(Value::String(text)) => (text.clone(), None),
        Some(Value::Array(parts)) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str).is_none_or(|t| t == "text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            let image = parts
                .iter()
                .find_map(|p| p.pointer("/image_url/url").or_else(|| p.get("image_url"))?.as_str())
                .map(str::to_string);
            (texts.join("\n"), image)
        }
        _ => (String::new(), None),
    }
}

/// The first banned word `text` contains, ignoring case. A Latin word must
/// start a word (`sex` does not match `Essex`) but may be extended
/// (`nudes`); other words match anywhere, as Chinese has no word breaks.
pub fn banned_word<'a>(keywords: &'a [String], text: &str) -> Option<&'a str> {
    let text = text.to_lowercase();
    keywords.iter().map(|k| k.trim()).filter(|k| !k.is_empty()).find(|keyword| {
        let keyword = keyword.to_lowercase();
        let latin = keyword.starts_with(|c: char| c.is_ascii_alphanumeric());
        text.match_indices(&keyword)
            .any(|(at, _)| !latin || text[..at].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric()))
    })
}

/// Refuses a prompt holding a banned word.
pub fn moderate(keywords: &[String], prompt: &str) -> Result<(), ImageError> {
    match banned_word(keywords, prompt) {
        Some(word) => Err(ImageError::ContentPolicy(word.to_string())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ask(content: Value) -> Result<ImageAsk, ImageError> {
        let body = json!({
            "model": "Kwai-Kolors/Kolors",
            "messages": [
                {"role": "user", "content": "an old message pic:4"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": content},
            ],
        });
        ImageAsk::parse(body.to_string().as_bytes())
    }

    #[test]
    fn last_user_message_gives_prompt_count_and_size() -> Result<(), ImageError> {
        let a = ask(json!("画一只可爱的猫咪，9:16比例 pic:3"))?;
        assert_eq!((a.prompt.as_str(), a.count, a.size), ("画一只可爱的猫咪", Some(3), Some(SizeWish::Ratio(9, 16))));
        assert!(!a.stream);
        let a = ask(json!("横向的猫pic:2张"))?;
        assert_eq!((a.prompt.as_str(), a.count, a.size), ("猫", Some(2), Some(SizeWish::Ratio(16, 9))));
        let a = ask(json!("a fox"))?;
        assert_eq!((a.count, a.size), (None, None));
        Ok(())
    }

    #[test]
    fn text_parts_and_image_parts() -> Result<(), ImageError> {
        let a = ask(json!([
            {"type": "text", "text": "make it snowy"},
            {"type": "image_url", "image_url": {"url": "https://x/in.png"}},
            {"type": "text", "text": "PIC:2 1024×576"},
        ]))?;
        assert_eq!(a.prompt, "make it snowy");
        assert_eq!((a.count, a.size), (Some(2), Some(SizeWish::Exact(1024, 576))));
        assert_eq!(a.input_image.as_deref(), Some("https://x/in.png"));
        Ok(())
    }

    #[test]
    fn empty_prompts_and_bad_bodies_are_refused() {
        assert!(matches!(ask(json!("pic:3 16:9")), Err(ImageError::BadRequest(_))));
        assert!(matches!(ImageAsk::parse(b"{"), Err(ImageError::BadRequest(_))));
        let no_user = json!({"model": "m", "messages": [{"role": "system", "content": "x"}]});
        assert!(matches!(ImageAsk::parse(no_user.to_string().as_bytes()), Err(ImageError::BadRequest(_))));
    }

    #[test]
    fn banned_words_ignore_case_and_respect_word_starts() {
        let words: Vec<String> = ["nude", "sex", "暴力"].iter().map(|s| s.to_string()).collect();
        assert_eq!(banned_word(&words, "A NUDE statue"), Some("nude"));
        assert_eq!(banned_word(&words, "nudes"), Some("nude"));
        assert_eq!(banned_word(&words, "画一个nude的人"), Some("nude"));
        assert_eq!(banned_word(&words, "血腥暴力场面"), Some("暴力"));
        assert_eq!(banned_word(&words, "a map of Essex"), None);
        assert!(matches!(moderate(&words, "Sex"), Err(ImageError::ContentPolicy(w)) if w == "sex"));
        assert!(moderate(&words, "a cat").is_ok());
    }
}
