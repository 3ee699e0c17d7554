//! Images through chat (SPEC §7) against the mock: counts, sizes, one key
//! per image, failures, moderation, prompt expansion and re-hosting.

use keyflow_mock::{Fault, LSKY_TOKEN};
use serde_json::{json, Value};

use crate::helpers::*;

/// Accepts 1024x576 (SiliconFlow's Z-Image size table).
const MODEL: &str = "Tongyi-MAI/Z-Image-Turbo";
const PROMPT_MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";
const IMAGES: &str = "/v1/images/generations";

fn ask(content: &str, stream: bool) -> Value {
    json!({"model": MODEL, "messages": [{"role": "user", "content": content}], "stream": stream})
}

/// The assistant text of a non-stream answer.
async fn content_of(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    body["choices"][0]["message"]["content"].as_str().unwrap().to_string()
}

/// The JSON body of the last request `key` sent upstream.
fn last_body(t: &TestApp, key: &str) -> Value {
    let request = t.mock.state().last_request(key).expect("a recorded request");
    serde_json::from_slice(&request.body).unwrap()
}

/// The markdown image links of an answer, in order.
fn image_links(content: &str) -> Vec<String> {
    content
        .lines()
        .filter(|l| l.starts_with("![image"))
        .map(|l| l.split("](").nth(1).unwrap().split(')').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn pic_3_at_16_9_gives_three_images_from_three_keys() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    let response = t.post_json("/v1/chat/completions", ask("画一只猫pic:3 16:9", false)).await;
    let content = content_of(response).await;

    assert_eq!(content.matches("✅ Image").count(), 3, "{content}");
    assert!(content.contains("Generating 3 images with Tongyi-MAI/Z-Image-Turbo at 1024x576"), "{content}");
    assert!(content.contains("(expanded from: 画一只猫)"), "{content}");
    for n in 1..=3 {
        assert!(content.contains(&format!("![image{n}|")), "{content}");
    }
    assert_eq!(image_links(&content).len(), 3);
    // One image per key, each at the mapped size with the expanded prompt.
    for key in &keys {
        assert_eq!(t.mock.state().hits_on(key, IMAGES), 1, "{content}");
        let body = last_body(&t, key);
        assert_eq!(body["image_size"], "1024x576");
        assert!(body["prompt"].as_str().unwrap().contains("You said"), "{body}");
    }
    assert_eq!(t.mock.state().served().images, 3);
    // One log row for the chat request, counting the images and the expansion's tokens.
    let rows = t.logs_of(MODEL, 1).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["route"].as_str(), rows[0]["images"].as_u64()), (Some("/v1/chat/completions"), Some(3)));
    assert!(rows[0]["prompt_tokens"].as_u64().unwrap() > 0, "{}", rows[0]);
}

#[tokio::test]
async fn streamed_answer_is_well_formed_and_in_order() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct-a").await;
    let response = t.post_json("/v1/chat/completions", ask("横向的猫 PIC：2", true)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = response.text().await.unwrap();

    let frames: Vec<&str> = text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.last(), Some(&"data: [DONE]"), "{text}");
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| serde_json::from_str(f.strip_prefix("data: ").expect("data frame")).expect("JSON chunk"))
        .collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk" && c["model"] == MODEL));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(last["usage"]["total_tokens"].as_u64().unwrap() > 0, "{last}");
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c["choices"][0]["finish_reason"].is_null()));

    let content: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    let prompt_at = content.find("🎨 Prompt:").unwrap();
    let generating_at = content.find("⏳ Generating 2 images").unwrap();
    let first_done = content.find("✅ Image").unwrap();
    let first_image = content.find("![image1|").unwrap();
    assert!(prompt_at < generating_at && generating_at < first_done && first_done < first_image, "{content}");
    assert!(content.contains("at 1024x576"), "{content}");
    assert_eq!(image_links(&content).len(), 2);
}

#[tokio::test]
async fn stream_shows_progress_before_the_images_are_done() {
    use futures_util::StreamExt;
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    let slow = std::time::Duration::from_millis(1500);
    t.mock.state().set_model_fault(&keys[0], MODEL, Fault::Slow(slow));
    let started = std::time::Instant::now();
    let response = t.post_json("/v1/chat/completions", ask("a slow snail", true)).await;
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("Generating 1 image") {
        let chunk = body.next().await.expect("more frames").unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(started.elapsed() < slow, "status arrived only after {:?}", started.elapsed());
    assert!(!seen.contains("✅"), "{seen}");
    while let Some(chunk) = body.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(seen.contains("✅ Image 1 done") && seen.ends_with("data: [DONE]\n\n"), "{seen}");
}

#[tokio::test]
async fn a_failed_image_is_reported_beside_the_others() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    // This key fails every image; its failover finds no free sibling key.
    t.mock.state().set_model_fault(&keys[1], MODEL, Fault::ServerError);
    let response = t.post_json("/v1/chat/completions", ask("a red fox pic:3", false)).await;
    let content = content_of(response).await;
    assert_eq!(content.matches("✅ Image").count(), 2, "{content}");
    assert_eq!(content.matches("❌ Image").count(), 1, "{content}");
    assert!(content.contains("failed: 500"), "{content}");
    assert_eq!(image_links(&content).len(), 2);
    for key in &keys {
        assert_eq!(t.mock.state().hits_on(key, IMAGES), 1, "every key served exactly one image attempt");
    }
}

#[tokio::test]
async fn count_is_capped_by_usable_keys_and_the_setting() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct-a").await;
    let content = content_of(t.post_json("/v1/chat/completions", ask("pic:5 a boat", false)).await).await;
    assert!(content.contains("Generating 2 images") && content.contains("5 asked"), "{content}");
    assert_eq!(image_links(&content).len(), 2);

    t.put_settings(json!({"image": {"max_images_per_request": 1, "prompt_expansion": false}})).await;
    let content = content_of(t.post_json("/v1/chat/completions", ask("pic:0 a boat", false)).await).await;
    assert!(content.contains("Generating 1 image with") && !content.contains("asked"), "{content}");
    assert!(content.contains("🎨 Prompt: a boat\n") && !content.contains("expanded"), "{content}");
    assert!(content.contains("at 512x512"), "the family's nearest square by default: {content}");
}

#[tokio::test]
async fn banned_words_are_refused_before_any_image_call() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    let response = t.post_json("/v1/chat/completions", ask("a NUDE statue pic:2", false)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "content_policy_violation", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("banned word"), "{body}");
    for key in &keys {
        assert_eq!(t.mock.state().hits_on(key, IMAGES), 0);
        assert_eq!(t.mock.state().hits_on(key, "/v1/chat/completions"), 0, "not even the expansion");
    }

    // A word only the expanded prompt holds (the mock's reply says 模拟).
    t.put_settings(json!({"image": {"banned_keywords": ["模拟"]}})).await;
    let response = t.post_json("/v1/chat/completions", ask("a quiet lake", true)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "content_policy_violation", "{body}");
    let image_hits: u64 = keys.iter().map(|k| t.mock.state().hits_on(k, IMAGES)).sum();
    assert_eq!(image_hits, 0);
    // Each refusal is logged once; the second with the expansion's tokens.
    let rows = t.logs_of(MODEL, 2).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == 400 && r["images"] == 0), "{rows:?}");
    assert!(rows.iter().any(|r| r["prompt_tokens"].as_u64() > Some(0)), "{rows:?}");
}

#[tokio::test]
async fn failed_expansion_falls_back_to_the_original_prompt() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    for key in &keys {
        t.mock.state().set_model_fault(key, PROMPT_MODEL, Fault::ServerError);
    }
    let content = content_of(t.post_json("/v1/chat/completions", ask("一只狗 pic:2 3:4", false)).await).await;
    assert!(content.contains("🎨 Prompt: 一只狗\n") && !content.contains("expanded"), "{content}");
    assert_eq!(content.matches("✅ Image").count(), 2, "{content}");
    let expansion_hits: u64 = keys.iter().map(|k| t.mock.state().hits_on(k, "/v1/chat/completions")).sum();
    assert!(expansion_hits >= 1, "the expansion was tried");
    for key in &keys {
        let body = last_body(&t, key);
        assert_eq!((body["prompt"].as_str(), body["image_size"].as_str()), (Some("一只狗"), Some("768x1024")));
    }
}

#[tokio::test]
async fn images_are_rehosted_and_shortened_with_fallbacks() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let mock_url = t.mock.url();
    t.put_settings(json!({"image": {
        "prompt_expansion": false,
        "use_lsky_pro": true, "lsky_url": mock_url, "lsky_token": LSKY_TOKEN,
        "use_shortlink": true, "shortlink_url": format!("{mock_url}/shorten"),
    }}))
    .await;
    let both = content_of(t.post_json("/v1/chat/completions", ask("a cat", false)).await).await;
    let line = both.lines().find(|l| l.starts_with("![image1|a cat](")).unwrap().to_string();
    assert!(line.starts_with(&format!("![image1|a cat]({mock_url}/s/")), "{line}");
    assert!(line.contains(&format!("(original: {mock_url}/files/img/")), "{line}");
    assert_eq!(t.mock.state().hits_on(LSKY_TOKEN, "/api/v1/upload"), 1);

    // Lsky refuses the token: the original is shortened instead.
    t.put_settings(json!({"image": {"lsky_token": "wrong-token"}})).await;
    let content = content_of(t.post_json("/v1/chat/completions", ask("a cat", false)).await).await;
    let line = content.lines().find(|l| l.starts_with("![image1|")).unwrap();
    assert!(line.contains(&format!("]({mock_url}/s/")) && line.contains("(original: "), "{line}");

    // Lsky alone: the re-hosted link, the original beside it.
    t.put_settings(json!({"image": {"lsky_token": LSKY_TOKEN, "use_shortlink": false}})).await;
    let content = content_of(t.post_json("/v1/chat/completions", ask("a cat", false)).await).await;
    let line = content.lines().find(|l| l.starts_with("![image1|")).unwrap();
    assert!(line.contains(&format!("]({mock_url}/lsky/i/")) && line.contains("(original: "), "{line}");
    let hosted = image_links(&content).remove(0);
    assert_eq!(t.http.get(&hosted).send().await.unwrap().status(), 200);

    // Both fail: upstream's own link, nothing beside it.
    t.put_settings(json!({"image": {
        "lsky_token": "wrong-token", "use_shortlink": true, "shortlink_url": format!("{mock_url}/no-such-service"),
    }}))
    .await;
    let content = content_of(t.post_json("/v1/chat/completions", ask("a cat", false)).await).await;
    let line = content.lines().find(|l| l.starts_with("![image1|")).unwrap();
    assert!(line.contains(&format!("]({mock_url}/files/img/")) && !line.contains("original"), "{line}");
}

#[tokio::test]
async fn other_models_are_untouched() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    let response = t.chat_with_content(PROMPT_MODEL, "pic:3 16:9 a cat").await;
    let body: Value = response.json().await.unwrap();
    assert!(body["choices"][0]["message"]["content"].as_str().unwrap().contains("You said"), "{body}");
    assert_eq!(t.mock.state().hits_on(&keys[0], IMAGES), 0);
}
