//! Pinning (SPEC §3): files, batches, voices and video jobs stay with the key
//! that created them, lists are unions over the owning keys, unknown ids never
//! reach upstream, and pins survive a restart and reach other instances.
//!
//! The mock is stricter than upstream: a resource asked for with any other key
//! answers 404, so a pinning mistake shows as a failed status.

use std::time::Duration;

use keyflow::App;
use serde_json::{json, Value};

use crate::helpers::*;

const VOICE_MODEL: &str = "FunAudioLLM/CosyVoice2-0.5B";
const VIDEO_MODEL: &str = "Wan-AI/Wan2.2-T2V-A14B";
const JSONL: &[u8] = b"{\"custom_id\":\"r1\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"deepseek-ai/DeepSeek-V3\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}\n\
{\"custom_id\":\"r2\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"deepseek-ai/DeepSeek-V3\",\"messages\":[{\"role\":\"user\",\"content\":\"yo\"}]}}\n";

/// Uploads a batch input file; returns its id and the key id that took it.
async fn upload_file(t: &TestApp, filename: &str) -> (String, i64) {
    let response =
        t.post_multipart("/v1/files", &[field("purpose", "batch"), file_part("file", filename, JSONL)]).await;
    assert_eq!(response.status(), 200);
    let key_id = TestApp::key_id_of(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], 20000, "{body}");
    assert_eq!(body["data"]["filename"], filename);
    (body["data"]["id"].as_str().expect("file id").to_string(), key_id)
}

/// Creates a batch from `file_id`; returns its id and the key id that served.
async fn create_batch(t: &TestApp, file_id: &str) -> (String, i64) {
    let response = t
        .post_json(
            "/v1/batches",
            json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
        )
        .await;
    let status = response.status();
    let key_id = TestApp::key_id_of(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "batch create: {body}");
    assert_eq!(body["status"], "in_queue");
    assert_eq!(body["input_file_id"], file_id);
    (body["id"].as_str().expect("batch id").to_string(), key_id)
}

async fn upload_voice(t: &TestApp, path: &str, name: &str) -> (String, i64) {
    let audio: Vec<u8> = (0..=255u8).cycle().take(2048).collect();
    let response = t
        .post_multipart(
            path,
            &[
                field("model", VOICE_MODEL),
                field("customName", name),
                field("text", "在一无所知中, 梦里的一天结束了"),
                file_part("file", "voice.mp3", &audio),
            ],
        )
        .await;
    assert_eq!(response.status(), 200, "voice upload on {path}");
    let key_id = TestApp::key_id_of(&response);
    let body: Value = response.json().await.unwrap();
    let uri = body["uri"].as_str().expect("voice uri").to_string();
    assert!(uri.starts_with(&format!("speech:{name}:")), "{uri}");
    (uri, key_id)
}

async fn submit_video(t: &TestApp, path: &str) -> (String, i64) {
    let response =
        t.post_json(path, json!({"model": VIDEO_MODEL, "prompt": "一只猫在弹钢琴", "image_size": "1280x720"})).await;
    assert_eq!(response.status(), 200, "video submit on {path}");
    let key_id = TestApp::key_id_of(&response);
    let body: Value = response.json().await.unwrap();
    (body["requestId"].as_str().expect("requestId").to_string(), key_id)
}

fn ids_of(items: &Value, field: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        items.as_array().expect("array").iter().map(|item| item[field].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn batches_follow_the_key_that_owns_their_file() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    let (file_id, owner) = upload_file(&t, "requests.jsonl").await;
    let owner_key = &keys[owner as usize - 1];
    // Several creates: with three equal keys, an unpinned choice would soon pick another one.
    let mut batches = Vec::new();
    for _ in 0..3 {
        let (batch_id, served_by) = create_batch(&t, &file_id).await;
        assert_eq!(served_by, owner, "batch create went to a key that does not own the file");
        batches.push(batch_id);
    }
    assert_eq!(t.mock.state().hits_on(owner_key, "/v1/batches"), 3);

    let batch_id = &batches[0];
    let path = format!("/v1/batches/{batch_id}");
    for _ in 0..3 {
        let response = t.http.get(format!("{}{path}", t.url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(TestApp::key_id_of(&response), owner);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["id"], batch_id.as_str());
    }
    assert_eq!(t.mock.state().hits_on(owner_key, &path), 3);

    let response = t.http.post(format!("{}{path}/cancel", t.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(TestApp::key_id_of(&response), owner);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "cancelling");
    let body: Value = t.http.get(format!("{}{path}", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "cancelled");
    for (i, key) in keys.iter().enumerate() {
        if i as i64 + 1 != owner {
            assert_eq!(t.mock.state().hits(key), 1, "a non-owner key was used beyond its validation");
        }
    }
}

#[tokio::test]
async fn unknown_resource_ids_get_404_without_an_upstream_call() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct-a").await;
    let before = t.mock.state().total_hits();
    let get = t.http.get(format!("{}/v1/batches/batch_nosuchthing", t.url)).send().await.unwrap();
    assert_eq!(get.status(), 404);
    let body: Value = get.json().await.unwrap();
    // The message names the id, in whichever error shape.
    let message = body["error"]["message"].as_str().or(body["message"].as_str()).unwrap_or_default();
    assert!(message.contains("batch_nosuchthing"), "{body}");
    let cancel = t.http.post(format!("{}/v1/batches/batch_nosuchthing/cancel", t.url)).send().await.unwrap();
    assert_eq!(cancel.status(), 404);
    let create = t
        .post_json(
            "/v1/batches",
            json!({"input_file_id": "file-nosuchthing", "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
        )
        .await;
    assert_eq!(create.status(), 404);
    let status = t.post_json("/v1/video/status", json!({"requestId": "0000-no-such-job"})).await;
    assert_eq!(status.status(), 404);
    let delete = t.post_json("/v1/audio/voice/deletions", json!({"uri": "speech:nobody:x:y"})).await;
    assert_eq!(delete.status(), 404);
    assert_eq!(t.mock.state().total_hits(), before, "an unknown id reached upstream");
}

#[tokio::test]
async fn file_and_batch_lists_are_the_union_over_owning_keys() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    // Force each upload onto a chosen key by leaving only that one enabled.
    t.enable_only(3, &[1]).await;
    let (file_a, owner_a) = upload_file(&t, "a.jsonl").await;
    t.enable_only(3, &[2]).await;
    let (file_b, owner_b) = upload_file(&t, "b.jsonl").await;
    assert_eq!((owner_a, owner_b), (1, 2));
    t.enable_only(3, &[1, 2, 3]).await;
    let (batch_a, served_a) = create_batch(&t, &file_a).await;
    let (batch_b, served_b) = create_batch(&t, &file_b).await;
    assert_eq!((served_a, served_b), (1, 2));

    let files: Value =
        t.http.get(format!("{}/v1/files?purpose=batch", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(files["code"], 20000, "{files}");
    assert_eq!(files["status"], true);
    let mut want = vec![file_a.clone(), file_b.clone()];
    want.sort();
    assert_eq!(ids_of(&files["data"]["data"], "id"), want, "{files}");
    assert!(files["data"]["data"][0]["line_count"].as_u64().is_some(), "list items keep upstream's fields");

    let batches: Value = t.http.get(format!("{}/v1/batches", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(batches["object"], "list");
    let mut want = vec![batch_a, batch_b];
    want.sort();
    assert_eq!(ids_of(&batches["data"], "id"), want, "{batches}");
    assert_eq!(batches["has_more"], false);

    // Only the owners were asked; the query string went along.
    assert_eq!(t.mock.state().hits_on(&keys[2], "/v1/files"), 0);
    assert_eq!(t.mock.state().hits_on(&keys[2], "/v1/batches"), 0);
    let listed = t.mock.state().last_request(&keys[0]).unwrap();
    assert_eq!(listed.path, "/v1/batches");
    let files_call = t.mock.state().hits_on(&keys[1], "/v1/files");
    assert_eq!(files_call, 2, "one upload and one list call");
}

#[tokio::test]
async fn empty_lists_need_no_upstream_call() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct-a").await;
    let before = t.mock.state().total_hits();
    let voices: Value =
        t.http.get(format!("{}/v1/audio/voice/list", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(voices["results"], json!([]));
    let batches: Value = t.http.get(format!("{}/v1/batches", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(batches["data"], json!([]));
    assert_eq!(t.mock.state().total_hits(), before);
}

#[tokio::test]
async fn voices_are_listed_and_deleted_on_their_owning_keys() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    t.enable_only(3, &[1]).await;
    let (uri_a, owner_a) = upload_voice(&t, "/v1/uploads/audio/voice", "alpha").await;
    t.enable_only(3, &[2]).await;
    let (uri_b, owner_b) = upload_voice(&t, "/v1/audio/reference", "beta").await;
    assert_eq!((owner_a, owner_b), (1, 2));
    // The alias is forwarded under the canonical upstream path.
    assert_eq!(t.mock.state().hits_on(&keys[1], "/v1/uploads/audio/voice"), 1);
    assert_eq!(t.mock.state().hits_on(&keys[1], "/v1/audio/reference"), 0);
    t.enable_only(3, &[1, 2, 3]).await;

    let mut want = vec![uri_a.clone(), uri_b.clone()];
    want.sort();
    for path in ["/v1/audio/voice/list", "/v1/audio/reference"] {
        let list: Value = t.http.get(format!("{}{path}", t.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(ids_of(&list["results"], "uri"), want, "{path}: {list}");
    }
    assert_eq!(t.mock.state().hits_on(&keys[2], "/v1/audio/voice/list"), 0);

    let response = t.post_json("/v1/audio/voice/deletions", json!({"uri": uri_a})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(TestApp::key_id_of(&response), owner_a);
    let response = t.post_json("/v1/audio/reference/delete", json!({"uri": uri_b})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(TestApp::key_id_of(&response), owner_b);
    assert_eq!(t.mock.state().hits_on(&keys[1], "/v1/audio/voice/deletions"), 1);

    let list: Value = t.http.get(format!("{}/v1/audio/voice/list", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["results"], json!([]), "deleted voices still listed: {list}");
}

#[tokio::test]
async fn speech_with_a_custom_voice_uses_the_key_that_owns_it() {
    let t = spawn_app().await;
    t.add_keys(0, 3, 10.0, "acct-a").await;
    t.enable_only(3, &[2]).await;
    let (uri, owner) = upload_voice(&t, "/v1/uploads/audio/voice", "gamma").await;
    t.enable_only(3, &[1, 2, 3]).await;
    // SPEC §3: every later request about a pinned id goes to its key; the
    // voice lives in one account, so speech with it must use that key.
    for _ in 0..4 {
        let response =
            t.post_json("/v1/audio/speech", json!({"model": VOICE_MODEL, "input": "你好", "voice": uri})).await;
        let status = response.status();
        let served = TestApp::key_id_of(&response);
        assert_eq!((status.as_u16(), served), (200, owner), "speech with voice {uri}");
    }
}

#[tokio::test]
async fn video_status_goes_to_the_submitting_key() {
    let t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    let (job, owner) = submit_video(&t, "/v1/video/submit").await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let response = t.post_json("/v1/video/status", json!({"requestId": job})).await;
        assert_eq!(response.status(), 200);
        assert_eq!(TestApp::key_id_of(&response), owner);
        let body: Value = response.json().await.unwrap();
        seen.push(body["status"].as_str().unwrap().to_string());
        if body["status"] == "Succeed" {
            assert!(body["results"]["videos"][0]["url"].as_str().unwrap().ends_with(".mp4"));
        }
    }
    assert_eq!(seen, ["InQueue", "InProgress", "Succeed"]);

    let (job2, owner2) = submit_video(&t, "/v1/video/generations").await;
    assert_eq!(t.mock.state().hits_on(&keys[owner2 as usize - 1], "/v1/video/submit"), 1 + u64::from(owner2 == owner));
    for _ in 0..3 {
        let response = t.post_json("/v1/video/status", json!({"requestId": job2})).await;
        assert_eq!(response.status(), 200, "status of a job submitted through the alias");
        assert_eq!(TestApp::key_id_of(&response), owner2);
    }
}

#[tokio::test]
async fn pins_survive_a_restart() {
    let mut t = spawn_app().await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    let (file_id, owner) = upload_file(&t, "requests.jsonl").await;
    let (batch_id, _) = create_batch(&t, &file_id).await;
    let (job, video_owner) = submit_video(&t, "/v1/video/submit").await;
    t.restart().await;

    let path = format!("/v1/batches/{batch_id}");
    for _ in 0..3 {
        let response = t.http.get(format!("{}{path}", t.url)).send().await.unwrap();
        assert_eq!(response.status(), 200, "batch status after a restart");
        assert_eq!(TestApp::key_id_of(&response), owner);
    }
    assert_eq!(t.mock.state().hits_on(&keys[owner as usize - 1], &path), 3);
    let response = t.post_json("/v1/video/status", json!({"requestId": job})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(TestApp::key_id_of(&response), video_owner);
    let files: Value = t.http.get(format!("{}/v1/files", t.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ids_of(&files["data"]["data"], "id"), [file_id]);
}

#[tokio::test]
async fn pins_reach_another_instance_on_the_same_database() {
    let t = spawn_app().await;
    t.add_keys(0, 3, 10.0, "acct-a").await;
    let other = App::start(base_config(&t.mock.url(), t.dir.path())).await.expect("second instance");
    let (file_id, owner) = upload_file(&t, "requests.jsonl").await;
    let (batch_id, _) = create_batch(&t, &file_id).await;
    // The pin is written behind; the other instance finds it in the store.
    let url = format!("{}/v1/batches/{batch_id}", other.url());
    let served = eventually(Duration::from_secs(5), || async {
        let response = t.http.get(&url).send().await.unwrap();
        (response.status() == 200).then(|| TestApp::key_id_of(&response))
    })
    .await;
    assert_eq!(served, owner);
    other.shutdown().await;
}

#[tokio::test]
async fn batch_list_pages_through_the_union_without_loss_or_repeats() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct-a").await;
    let mut created = Vec::new();
    for (owner, n_batches) in [(1, 3), (2, 2)] {
        t.enable_only(2, &[owner]).await;
        let (file_id, _) = upload_file(&t, "requests.jsonl").await;
        for _ in 0..n_batches {
            created.push(create_batch(&t, &file_id).await.0);
        }
    }
    t.enable_only(2, &[1, 2]).await;
    // A client pages with `limit` and `after`, as against upstream.
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let query = match &after {
            Some(id) => format!("limit=2&after={id}"),
            None => "limit=2".to_string(),
        };
        let page: Value =
            t.http.get(format!("{}/v1/batches?{query}", t.url)).send().await.unwrap().json().await.unwrap();
        let ids = page["data"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap().to_string());
        let ids: Vec<String> = ids.collect();
        assert!(ids.len() <= 2, "a page longer than `limit`: {ids:?}");
        seen.extend(ids);
        if page["has_more"] != true {
            break;
        }
        after = page["last_id"].as_str().map(str::to_string);
    }
    let unique: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a batch listed twice while paging: {seen:?}");
    let mut want = created.clone();
    want.sort();
    let mut got = seen.clone();
    got.sort();
    assert_eq!(got, want, "paging did not list every batch once");
}
