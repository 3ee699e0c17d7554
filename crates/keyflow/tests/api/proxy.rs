//! Forwarding: chat streamed and not, usage, routes, models, user info.

use serde_json::{json, Value};

use crate::helpers::*;

const PAID: &str = "deepseek-ai/DeepSeek-V3";
const FREE: &str = "Qwen/Qwen2.5-7B-Instruct";

#[tokio::test]
async fn chat_goes_through_with_a_pool_key() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 2, 10.0, "acct-a").await;
    let response = t.chat(PAID, false).await;
    assert_eq!(response.status(), 200);
    let id = TestApp::key_id_of(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let used = t.key_row(id).await;
    assert_eq!(used["usage_count"], 1);
    assert_eq!(t.mock.state().hits(&keys[0]) + t.mock.state().hits(&keys[1]), 3, "2 validations + 1 chat");
}

#[tokio::test]
async fn stream_passes_through_and_injected_usage_chunk_is_stripped() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let response = t.chat(PAID, true).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().contains("text/event-stream"));
    let text = response.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    // keyflow asked upstream for the usage chunk; the client did not, so it is gone.
    assert!(!text.contains("\"choices\":[]"), "usage-only chunk leaked: {text}");
    assert!(text.contains("\"usage\""), "SiliconFlow's running usage stays: {text}");
    let key = test_key(0);
    let sent = t.mock.state().last_request(&key).unwrap();
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn client_asked_usage_chunk_is_kept() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let response = t
        .post_json(
            "/v1/chat/completions",
            json!({"model": PAID, "messages": [{"role": "user", "content": "hi"}], "stream": true,
                   "stream_options": {"include_usage": true}}),
        )
        .await;
    let text = response.text().await.unwrap();
    assert!(text.contains("\"choices\":[]"), "{text}");
}

#[tokio::test]
async fn models_are_cached_filtered_and_banned() {
    let t = spawn_app_with(Default::default(), |c| c.runtime.ban_models = vec!["Qwen/Qwen3-8B".into()]).await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let all: Value = t.http.get(format!("{}/v1/models", t.url)).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = all["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&FREE));
    assert!(!ids.contains(&"Qwen/Qwen3-8B"), "banned model listed");
    let images: Value =
        t.http.get(format!("{}/v1/models?type=image", t.url)).send().await.unwrap().json().await.unwrap();
    let image_ids: Vec<&str> = images["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert!(image_ids.contains(&"Kwai-Kolors/Kolors"), "{image_ids:?}");
    assert!(!image_ids.contains(&FREE));
    let embed: Value =
        t.http.get(format!("{}/v1/user/models?sub_type=embedding", t.url)).send().await.unwrap().json().await.unwrap();
    assert!(embed["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["id"].as_str().unwrap().contains("bge") || m["id"].as_str().unwrap().contains("Embedding")));
    // A banned model is refused without an upstream call.
    let response = t.chat("Qwen/Qwen3-8B", false).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_banned");
}

#[tokio::test]
async fn user_info_is_the_pool_total() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct-a").await;
    t.add_keys(2, 1, 5.5, "acct-b").await;
    let info: Value = t.http.get(format!("{}/v1/user/info", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["status"], true);
    assert_eq!(info["data"]["totalBalance"], "25.50");
    assert_eq!(info["data"]["keys"]["active"], 3);
}

#[tokio::test]
async fn client_tokens_are_checked() {
    let t = spawn_app_with(Default::default(), |c| {
        c.client_tokens = vec![keyflow::secret::Secret::new("client-token-1")];
    })
    .await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let body = json!({"model": PAID, "messages": [{"role": "user", "content": "hi"}]});
    let url = format!("{}/v1/chat/completions", t.url);
    let none = t.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let err: Value = none.json().await.unwrap();
    assert_eq!(err["error"]["type"], "authentication_error");
    let bearer = t.http.post(&url).bearer_auth("client-token-1").json(&body).send().await.unwrap();
    assert_eq!(bearer.status(), 200);
    let x_api_key = t.http.post(&url).header("x-api-key", "client-token-1").json(&body).send().await.unwrap();
    assert_eq!(x_api_key.status(), 200);
}

#[tokio::test]
async fn unknown_paths_pass_through_and_aliases_resolve() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    let response = t
        .post_json(
            "/v1/image/generations",
            json!({"model": "Kwai-Kolors/Kolors", "prompt": "a cat", "image_size": "1024x1024"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(t.mock.state().hits_on(&keys[0], "/v1/images/generations"), 1);
    let response = t.http.get(format!("{}/v1/no/such/route", t.url)).send().await.unwrap();
    assert_eq!(response.status(), 404, "upstream's answer comes back as is");
    assert_eq!(t.mock.state().hits_on(&keys[0], "/v1/no/such/route"), 1);
}

#[tokio::test]
async fn the_model_list_moves_past_a_dead_key() {
    let t = spawn_app().await;
    // Imported unchecked with a zero balance: a `free` key, tried first for
    // the catalogue, which upstream does not know (401).
    let dead = test_key(900);
    let report: Value = t
        .admin(reqwest::Method::POST, "/api/keys?validate=false")
        .header("content-type", "text/plain")
        .body(format!("{dead}(0.00)"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["added"], 1);
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let models: Value = t.http.get(format!("{}/v1/models", t.url)).send().await.unwrap().json().await.unwrap();
    assert!(!models["data"].as_array().unwrap().is_empty(), "{models}");
    assert_eq!(t.mock.state().hits_on(&dead, "/v1/models"), 1, "the dead key was tried first");
}
