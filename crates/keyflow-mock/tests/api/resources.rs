//! Files, batches, voices and videos stay with the key that made them.

use serde_json::{json, Value};

use crate::support::{json_of, spawn, Multipart, TestMock, KEY_A, KEY_B};

async fn upload(mock: &TestMock, key: &str, lines: &str) -> Value {
    let form = Multipart::default().text("purpose", "batch").file("file", "requests.jsonl", lines.as_bytes());
    let response = mock.post_form(key, "/v1/files", form).await;
    assert_eq!(response.status(), 200);
    json_of(response).await
}

#[tokio::test]
async fn files_and_batches_are_pinned() {
    let mock = spawn().await;
    let uploaded = upload(&mock, KEY_A, "{\"custom_id\":\"1\"}\n{\"custom_id\":\"2\"}\n").await;
    assert_eq!(uploaded["code"], 20000);
    assert_eq!(uploaded["message"], "Ok");
    assert_eq!(uploaded["status"], true);
    let file = &uploaded["data"];
    let file_id = file["id"].as_str().unwrap().to_owned();
    assert!(file_id.starts_with("file-") && file_id.len() == 15);
    assert_eq!(file["bytes"], 36);
    assert!(file["createdAt"].is_u64());
    assert_eq!(file["filename"], "requests.jsonl");

    let listed = json_of(mock.get(KEY_A, "/v1/files?purpose=batch&limit=10").await).await;
    assert_eq!(listed["data"]["object"], "file");
    assert_eq!(listed["data"]["data"][0]["line_count"], 2);
    assert!(listed["data"]["data"][0]["created_at"].is_u64());
    let other = json_of(mock.get(KEY_B, "/v1/files").await).await;
    assert_eq!(other["data"]["data"], json!([]));

    let create = json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    assert_eq!(mock.post_json(KEY_B, "/v1/batches", &create).await.status(), 404);
    let batch = json_of(mock.post_json(KEY_A, "/v1/batches", &create).await).await;
    let batch_id = batch["id"].as_str().unwrap().to_owned();
    assert!(batch_id.starts_with("batch_") && batch_id[6..].chars().all(|c| c.is_ascii_lowercase()));
    assert_eq!(batch_id.len(), 16);
    assert_eq!(batch["status"], "in_queue");
    assert_eq!(batch["object"], "batch");
    for field in ["errors", "output_file_id", "in_progress_at", "completed_at", "cancelled_at"] {
        assert!(batch[field].is_null(), "{field}");
    }

    assert_eq!(mock.get(KEY_B, &format!("/v1/batches/{batch_id}")).await.status(), 404);
    let list = json_of(mock.get(KEY_A, "/v1/batches").await).await;
    assert_eq!(list["object"], "list");
    assert_eq!(list["first_id"], batch_id.as_str());
    assert_eq!(list["has_more"], false);
    assert_eq!(list["data"][0]["file_name"], "requests.jsonl");
    assert_eq!(json_of(mock.get(KEY_B, "/v1/batches").await).await["data"], json!([]));

    let cancel_path = format!("/v1/batches/{batch_id}/cancel");
    assert_eq!(mock.post_json(KEY_B, &cancel_path, &json!({})).await.status(), 404);
    let cancelling = json_of(mock.post_json(KEY_A, &cancel_path, &json!({})).await).await;
    assert_eq!(cancelling["status"], "cancelling");
    let cancelled = json_of(mock.get(KEY_A, &format!("/v1/batches/{batch_id}")).await).await;
    assert_eq!(cancelled["status"], "cancelled");
}

#[tokio::test]
async fn voices_are_pinned() {
    let mock = spawn().await;
    let form = Multipart::default()
        .text("model", "FunAudioLLM/CosyVoice2-0.5B")
        .text("customName", "my-voice")
        .text("text", "在一无所知中")
        .text("audio", "data:audio/mpeg;base64,SUQzBAAAAAAA");
    let response = mock.post_form(KEY_A, "/v1/uploads/audio/voice", form).await;
    assert_eq!(response.status(), 200);
    let uri = json_of(response).await["uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("speech:my-voice:acct1:"));

    let mine = json_of(mock.get(KEY_A, "/v1/audio/voice/list").await).await;
    assert_eq!(mine["results"][0]["uri"], uri.as_str());
    assert_eq!(mine["results"][0]["customName"], "my-voice");
    let theirs = json_of(mock.get(KEY_B, "/v1/audio/voice/list").await).await;
    assert_eq!(theirs["results"], json!([]));

    // Speaking with someone else's voice fails; with your own it works.
    let speak = json!({"model": "FunAudioLLM/CosyVoice2-0.5B", "input": "hi", "voice": uri});
    assert_eq!(mock.post_json(KEY_B, "/v1/audio/speech", &speak).await.status(), 400);
    assert_eq!(mock.post_json(KEY_A, "/v1/audio/speech", &speak).await.status(), 200);

    let delete = json!({"uri": uri});
    assert_eq!(mock.post_json(KEY_B, "/v1/audio/voice/deletions", &delete).await.status(), 404);
    assert_eq!(mock.post_json(KEY_A, "/v1/audio/voice/deletions", &delete).await.status(), 200);
    assert_eq!(mock.post_json(KEY_A, "/v1/audio/voice/deletions", &delete).await.status(), 404);
}

#[tokio::test]
async fn videos_progress_and_are_pinned() {
    let mock = spawn().await;
    let submit = json!({"model": "Wan-AI/Wan2.2-T2V-A14B", "prompt": "a cat", "image_size": "1280x720"});
    let id = json_of(mock.post_json(KEY_A, "/v1/video/submit", &submit).await).await["requestId"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = json!({"requestId": id});
    assert_eq!(mock.post_json(KEY_B, "/v1/video/status", &status).await.status(), 404);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let answer = json_of(mock.post_json(KEY_A, "/v1/video/status", &status).await).await;
        seen.push(answer["status"].as_str().unwrap().to_owned());
        if answer["status"] == "Succeed" {
            let url = answer["results"]["videos"][0]["url"].as_str().unwrap();
            assert_eq!(mock.client.get(url).send().await.unwrap().status(), 200);
        }
    }
    assert_eq!(seen, ["InQueue", "InProgress", "Succeed"]);
    let bad = json!({"model": "Wan-AI/Wan2.2-T2V-A14B", "prompt": "a cat", "image_size": "1024x1024"});
    assert_eq!(mock.post_json(KEY_A, "/v1/video/submit", &bad).await.status(), 400);
}
