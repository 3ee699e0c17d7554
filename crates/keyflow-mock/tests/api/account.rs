//! Auth, user info, models, balance and the error bodies.

use keyflow_mock::{MockConfig, UserInfoMode};
use serde_json::{json, Value};

use crate::support::{chat_body, json_of, spawn, spawn_with, KEY_A, KEY_B, KEY_EMPTY};

#[tokio::test]
async fn unknown_and_removed_keys_get_the_bare_string_401() {
    let mock = spawn().await;
    let response = mock.get("sk-nope", "/v1/user/info").await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("x-siliconcloud-trace-id"));
    assert_eq!(response.text().await.unwrap(), r#""Api key is invalid""#);

    mock.state.remove_key(KEY_B);
    let response = mock.post_json(KEY_B, "/v1/chat/completions", &chat_body("Qwen/Qwen3-8B", "hi", false)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(mock.state.hits(KEY_B), 1);
    assert_eq!(mock.state.hits_on(KEY_B, "/v1/chat/completions"), 1);

    let response = mock.client.get(mock.url("/v1/models")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn x_api_key_only_on_messages() {
    let mock = spawn().await;
    let body = json!({"model": "deepseek-ai/DeepSeek-V3", "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}]});
    let send = |path: &'static str| mock.client.post(mock.url(path)).header("x-api-key", KEY_A).json(&body).send();
    let response = send("/v1/messages").await.unwrap();
    assert_eq!(response.status(), 200);
    let message = json_of(response).await;
    assert_eq!(message["type"], "message");
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["content"][0]["type"], "text");
    assert!(message["usage"]["input_tokens"].as_u64().unwrap() >= 1);
    assert_eq!(send("/v1/chat/completions").await.unwrap().status(), 401);

    let no_max = json!({"model": "deepseek-ai/DeepSeek-V3", "messages": [{"role": "user", "content": "hi"}]});
    let response = mock.post_json(KEY_A, "/v1/messages", &no_max).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["code"], 20015);
}

#[tokio::test]
async fn unknown_routes_are_plain_404() {
    let mock = spawn().await;
    let response = mock.get(KEY_A, "/v1/dashboard/billing/usage").await;
    assert_eq!(response.status(), 404);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "404 page not found");
}

#[tokio::test]
async fn user_info_is_wrapped_and_follows_its_mode() {
    let mock = spawn().await;
    mock.state.set_charge_balance(KEY_A, 2.5);
    let info = json_of(mock.get(KEY_A, "/v1/user/info").await).await;
    assert_eq!(info["code"], 20000);
    assert_eq!(info["message"], "OK");
    assert_eq!(info["status"], Value::Bool(true));
    let data = &info["data"];
    assert_eq!(data["id"], "acct-1");
    assert_eq!(data["balance"], "14.00");
    assert_eq!(data["chargeBalance"], "2.50");
    assert_eq!(data["totalBalance"], "16.50");
    assert_eq!(data["status"], "normal");
    assert_eq!(data["isAdmin"], false);

    mock.state.set_user_info_mode(UserInfoMode::Gone);
    assert_eq!(mock.get(KEY_A, "/v1/user/info").await.status(), 410);
    mock.state.set_user_info_mode(UserInfoMode::NotFound);
    let response = mock.get(KEY_A, "/v1/user/info").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "404 page not found");
}

#[tokio::test]
async fn models_filter_and_work_at_zero_balance() {
    let mock = spawn().await;
    let all = json_of(mock.get(KEY_EMPTY, "/v1/models").await).await;
    assert_eq!(all["object"], "list");
    assert_eq!(all["data"].as_array().unwrap().len(), keyflow_mock::MODELS.len());
    assert_eq!(all["data"][0]["created"], 0);
    assert_eq!(all["data"][0]["owned_by"], "");
    let ids = |value: &Value| -> Vec<String> {
        value["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    };
    let rerankers = json_of(mock.get(KEY_A, "/v1/models?sub_type=reranker").await).await;
    assert_eq!(ids(&rerankers), ["BAAI/bge-reranker-v2-m3", "Qwen/Qwen3-Reranker-8B"]);
    let audio = json_of(mock.get(KEY_A, "/v1/models?type=audio").await).await;
    assert_eq!(ids(&audio).len(), 2);
    let chat_text = json_of(mock.get(KEY_A, "/v1/models?type=text&sub_type=chat").await).await;
    assert_eq!(ids(&chat_text).len(), 7);
    let video = json_of(mock.get(KEY_A, "/v1/models?type=image&sub_type=chat").await).await;
    assert!(ids(&video).is_empty());
}

#[tokio::test]
async fn paid_models_need_balance_and_are_debited() {
    let mock = spawn().await;
    let response =
        mock.post_json(KEY_EMPTY, "/v1/chat/completions", &chat_body("deepseek-ai/DeepSeek-V3", "hi", false)).await;
    assert_eq!(response.status(), 402);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"code":30001,"message":"Sorry, your account balance is insufficient"}"#
    );
    let image = json!({"model": "Qwen/Qwen-Image", "prompt": "a cat"});
    let response = mock.post_json(KEY_EMPTY, "/v1/images/generations", &image).await;
    assert_eq!(response.status(), 403);
    assert_eq!(json_of(response).await["code"], 30001);

    // Free models answer at zero balance and cost nothing.
    let response =
        mock.post_json(KEY_EMPTY, "/v1/chat/completions", &chat_body("Qwen/Qwen2.5-7B-Instruct", "hi", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(mock.state.balance(KEY_EMPTY), Some(0.0));

    // A paid answer costs exactly price × tokens.
    let answer = json_of(
        mock.post_json(KEY_A, "/v1/chat/completions", &chat_body("deepseek-ai/DeepSeek-V3", "hi", false)).await,
    )
    .await;
    let total = answer["usage"]["total_tokens"].as_u64().unwrap();
    let spec = keyflow_mock::find_model("deepseek-ai/DeepSeek-V3").unwrap();
    let expected = 14.0 - keyflow_mock::cost(spec, total);
    assert!((mock.state.balance(KEY_A).unwrap() - expected).abs() < 1e-12);

    let response = mock.post_json(KEY_A, "/v1/images/generations", &image).await;
    assert_eq!(response.status(), 200);
    assert!((mock.state.balance(KEY_A).unwrap() - (expected - 0.3)).abs() < 1e-9);

    mock.state.set_balance(KEY_A, 0.0);
    let response =
        mock.post_json(KEY_A, "/v1/embeddings", &json!({"model": "Qwen/Qwen3-Embedding-8B", "input": "x"})).await;
    assert_eq!(response.status(), 402);
}

#[tokio::test]
async fn client_errors_have_upstream_bodies() {
    let mock = spawn().await;
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body("no/such-model", "hi", false)).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"code":20012,"message":"Model does not exist. Please check it carefully.","data":null}"#
    );
    let response =
        mock.client.post(mock.url("/v1/chat/completions")).bearer_auth(KEY_A).body("{not json").send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"code":20015,"message":"The parameter is invalid. Please check again.","data":null}"#
    );
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &json!({"model": "Qwen/Qwen3-8B"})).await;
    assert_eq!(json_of(response).await["code"], 20015);
    // An embedding model on the chat route does not exist there.
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body("BAAI/bge-m3", "hi", false)).await;
    assert_eq!(json_of(response).await["code"], 20012);
    let long = "x".repeat(140_000);
    let response =
        mock.post_json(KEY_A, "/v1/chat/completions", &chat_body("Qwen/Qwen2.5-7B-Instruct", &long, false)).await;
    let error = json_of(response).await;
    assert_eq!(error["code"], 20015);
    assert!(error["message"].as_str().unwrap().contains("must be less than max_seq_len (32768)"));
}

#[tokio::test]
async fn fast_mode_answers_canned_and_still_checks_keys() {
    let mock = spawn_with(MockConfig { fast: true, ..MockConfig::default() }).await;
    let response =
        mock.post_json(KEY_EMPTY, "/v1/chat/completions", &chat_body("deepseek-ai/DeepSeek-V3", "hi", false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["object"], "chat.completion");
    let response = mock.post_json(KEY_A, "/v1/chat/completions", &chat_body("x", "hi", true)).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.text().await.unwrap().ends_with("data: [DONE]\n\n"));
    let response = mock.post_json("sk-unknown", "/v1/chat/completions", &chat_body("x", "hi", false)).await;
    assert_eq!(response.status(), 401);
    assert_eq!(mock.state.total_hits(), 3);
    assert_eq!(mock.state.hits(KEY_A), 0, "fast mode keeps no per-key records");
}
