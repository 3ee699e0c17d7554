//! Pins (SPEC §8): a file uploaded through one instance is usable through
//! any other as soon as the upload's answer arrives, and so is a batch made
//! from it. The mock keeps files and batches per key and answers 404 for
//! any other key, and keyflow answers an id it has no pin for with a 404 of
//! its own, so a pin that has not arrived shows as a failed status.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::harness::*;

const BOUNDARY: &str = "keyflow-cluster-boundary-5e1f0a";
const JSONL: &str = "{\"custom_id\":\"r1\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"model\":\"deepseek-ai/DeepSeek-V3\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}\n";
/// Upload, batch and read rounds, each over three instances.
const ROUNDS: usize = 9;

/// `POST /v1/files` through `url`: the file id and the key id that took it.
async fn upload(c: &Cluster, url: &str, filename: &str) -> (String, i64) {
    let body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n{JSONL}\r\n--{BOUNDARY}--\r\n"
    );
    let response = c
        .http
        .post(format!("{url}/v1/files"))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .expect("upload call");
    let status = response.status();
    let key = key_id_of(&response);
    let answer: Value = response.json().await.expect("upload json");
    assert_eq!(status, 200, "upload: {answer}");
    (answer["data"]["id"].as_str().expect("file id").to_string(), key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_batches_made_through_one_instance_are_usable_through_the_others_at_once() {
    // Round robin spreads the uploads over the keys: an unpinned choice
    // on another instance would soon pick a key that does not own the file.
    let c = &Cluster::start_with(3, &[("KEY_STRATEGY", "round_robin")]).await;
    let keys: Vec<(String, f64, &str)> = (0..4).map(|i| (test_key(6_000 + i), 10.0, "acct-pins")).collect();
    c.add_keys(&keys).await;

    let mut owners = HashSet::new();
    for round in 0..ROUNDS {
        let (up, make, read) = (round % 3, (round + 1) % 3, (round + 2) % 3);
        let (file_id, owner) = upload(c, c.url(up), &format!("round-{round}.jsonl")).await;
        owners.insert(owner);
        // No pause: the pin is stored before the upload's answer leaves.
        let response = c
            .http
            .post(format!("{}/v1/batches", c.url(make)))
            .json(&json!({"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}))
            .send()
            .await
            .expect("batch call");
        let status = response.status();
        let served = response.headers().get("x-keyflow-key-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let batch: Value = response.json().await.expect("batch json");
        assert_eq!(
            status,
            200,
            "round {round}: a batch through {} from the file uploaded through {} a moment before: {batch}",
            c.name(make),
            c.name(up)
        );
        assert_eq!(served, Some(owner.to_string()), "round {round}: the batch went to another key than the file's");
        assert_eq!(batch["input_file_id"], file_id.as_str());
        let batch_id = batch["id"].as_str().expect("batch id");

        let response = c.http.get(format!("{}/v1/batches/{batch_id}", c.url(read))).send().await.expect("get batch");
        let status = response.status();
        let served = response.headers().get("x-keyflow-key-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let body: Value = response.json().await.expect("batch json");
        assert_eq!(
            status,
            200,
            "round {round}: the batch made through {} read through {} a moment later: {body}",
            c.name(make),
            c.name(read)
        );
        assert_eq!(served, Some(owner.to_string()));
        assert_eq!(body["id"], batch_id);
    }
    assert!(owners.len() >= 3, "the uploads landed on {} keys only: the test shows little", owners.len());
    eprintln!("pins: {ROUNDS} uploads over {} keys, each used through two other instances at once", owners.len());
}
