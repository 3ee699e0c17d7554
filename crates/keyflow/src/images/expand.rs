//! Prompt expansion: a short user wish rewritten into one detailed English
//! scene description by `image_prompt_model`, through keyflow's own pool.
//!
//! Expansion only improves a prompt, so it never fails a request: on a
//! timeout, an upstream error or an empty answer the original is used.

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::ImageSettings;
use crate::state::AppState;
use crate::upstream::failover::{self, Answer, Attempt};
use crate::upstream::Blame;
use crate::usage::{usage_from_body, ErrorCounts, Usage};

/// What the prompt model is asked to do.
const SYSTEM_PROMPT: &str = "You write prompts for an image generation model. Rewrite the user's request \
as one concrete, detailed English description of the scene: subject, setting, composition, lighting, \
colours and style. Keep every detail the user gave. Answer with the description only: no preamble, \
no quotes, no lists, no explanations, at most 120 words.";

/// Longest expanded prompt kept; image models ignore or reject more.
const MAX_PROMPT_CHARS: usize = 2000;
/// A chat answer is small; anything bigger is not a prompt.
const BODY_LIMIT: usize = 1 << 20;

/// The outcome of an expansion attempt.
#[derive(Debug, Default)]
pub struct Expansion {
    /// The expanded prompt; `None` means use the original.
    pub prompt: Option<String>,
    /// Tokens the expansion call used, billed to the request.
    pub usage: Option<Usage>,
    /// Why the original is used, for the log.
    pub failure: Option<String>,
    /// Upstream failures met on the way, for the request's metrics.
    pub errors: ErrorCounts,
}

/// Expands `prompt` unless expansion is off; never fails.
pub async fn expand(
    state: &AppState,
    settings: &ImageSettings,
    prompt: &str,
    free_only: bool,
    headers: &http::HeaderMap,
) -> Expansion {
    if !settings.prompt_expansion {
        return Expansion::default();
    }
    let timeout = Duration::from_secs(settings.prompt_expansion_timeout_secs.max(1));
    let call = call_model(state, &settings.image_prompt_model, prompt, free_only, headers, timeout);
    let expansion = match tokio::time::timeout(timeout, call).await {
        Ok(expansion) => expansion,
        Err(_) => {
            Expansion { failure: Some(format!("no answer within {} s", timeout.as_secs())), ..Default::default() }
        }
    };
    if let Some(failure) = &expansion.failure {
        tracing::info!(model = %settings.image_prompt_model, failure, "prompt expansion failed; using the original");
    }
    expansion
}

async fn call_model(
    state: &AppState,
    model: &str,
    prompt: &str,
    free_only: bool,
    headers: &http::HeaderMap,
    timeout: Duration,
) -> Expansion {
    let body = json!({
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": prompt}],
        "stream": false,
        "max_tokens": 400,
        "temperature": 0.7,
    });
    let attempt = Attempt {
        method: http::Method::POST,
        path_and_query: "/v1/chat/completions",
        headers,
        body: body.to_string().into(),
        model: Some(model),
        session: None,
        free_only,
        pinned: None,
        claims: None,
        blame: Blame::Key,
    };
    let mut errors = ErrorCounts::default();
    let answer = failover::run(&state.failover(), attempt, &mut errors).await;
    let failed = |failure: String| Expansion { failure: Some(failure), errors, ..Default::default() };
    match answer {
        Ok(Answer::Success { response, lease, .. }) => {
            let body = crate::upstream::read_body(response, BODY_LIMIT, timeout).await;
            drop(lease);
            match body {
                Ok(body) => {
                    let usage = usage_from_body(&body);
                    let prompt = serde_json::from_slice::<Value>(&body).ok().and_then(|v| answer_text(&v));
                    let failure = prompt.is_none().then(|| "the prompt model gave an empty answer".to_string());
                    Expansion { prompt, usage, failure, errors }
                }
                Err(e) => failed(e.to_string()),
            }
        }
        Ok(Answer::Upstream { error, .. }) => failed(error),
        Err(e) => failed(e.to_string()),
    }
}

/// The cleaned answer text of a chat completion, if there is any.
fn answer_text(completion: &Value) -> Option<String> {
    let content = completion.pointer("/choices/0/message/content")?.as_str()?;
    clean(content)
}

/// One line of prompt: no thinking block, label, wrapping quotes or line
/// breaks (the prompt goes into Markdown alt text and a single API field).
fn clean(content: &str) -> Option<String> {
    let mut text = content;
    if let Some(end) = text.find("</think>") {
        text = &text[end + "</think>".len()..];
    }
    let text = text.trim();
    let text = ["Prompt:", "prompt:", "PROMPT:"].iter().find_map(|label| text.strip_prefix(label)).unwrap_or(text);
    let text = text.trim().trim_matches(|c| matches!(c, '"' | '\'' | '“' | '”' | '「' | '」' | '`')).trim();
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one_line.chars().take(MAX_PROMPT_CHARS).collect();
    (!cut.is_empty()).then_some(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_cleaned_to_one_line() {
        assert_eq!(clean("  \"A red fox\nin snow.\"  ").as_deref(), Some("A red fox in snow."));
        assert_eq!(clean("<think>hmm</think>\nPrompt: a cat").as_deref(), Some("a cat"));
        assert_eq!(clean("   "), None);
        assert_eq!(clean("\"\""), None);
        assert_eq!(clean(&"x".repeat(3000)).map(|s| s.len()), Some(MAX_PROMPT_CHARS));
    }

    #[test]
    fn answer_text_reads_the_first_choice() {
        let v = json!({"choices": [{"message": {"role": "assistant", "content": "A lighthouse at dusk"}}]});
        assert_eq!(answer_text(&v).as_deref(), Some("A lighthouse at dusk"));
        assert_eq!(answer_text(&json!({"choices": []})), None);
    }
}
