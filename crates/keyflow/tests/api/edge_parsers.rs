//! The request-path parsers at the edge (SPEC §10): a prompt of megabytes of
//! image markers does not freeze the gateway, and keyflow reads the same
//! `model` upstream will (escaped keys, duplicates, non-JSON like `NaN`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;

/// Accepts `pic:N` through chat (SiliconFlow's image catalogue).
const IMAGE_MODEL: &str = "Tongyi-MAI/Z-Image-Turbo";
const CHAT_MODEL: &str = "Qwen/Qwen2.5-7B-Instruct";
const CHAT: &str = "/v1/chat/completions";

/// A short description and a ratio, then about 2 MB of markers, each cut
/// making the next a marker (`pic:1pic:2`: the quadratic parser's worst case).
fn marker_prompt(n: usize) -> String {
    let mut prompt = String::from("一只猫 16:9 ");
    while prompt.len() < 2 << 20 {
        prompt.push_str(&format!("pic:{n}pic:2 "));
    }
    prompt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabytes_of_markers_leave_the_gateway_responsive() {
    let t = spawn_app().await;
    t.add_keys(0, 2, 10.0, "acct-a").await;
    t.put_settings(json!({"image": {"max_images_per_request": 1, "prompt_expansion": false}})).await;
    let health = format!("{}/health", t.url);
    assert_eq!(t.http.get(&health).send().await.unwrap().status(), 200);

    let done = AtomicBool::new(false);
    let asks = async {
        let ask = |n: usize| {
            let body = json!({"model": IMAGE_MODEL, "messages": [{"role": "user", "content": marker_prompt(n)}]});
            t.post_json(CHAT, body)
        };
        let answers = tokio::join!(ask(1), ask(3));
        done.store(true, Ordering::SeqCst);
        answers
    };
    // Probes `/health` until both asks are answered; each probe must answer
    // within a second, also while the markers are being parsed.
    let probes = async {
        let started = Instant::now();
        let mut n_probes = 0;
        while !done.load(Ordering::SeqCst) {
            // A quadratic parser takes minutes here (off the workers, it
            // stalls only the asks); the linear one well under a second.
            assert!(started.elapsed() < Duration::from_secs(30), "the image asks never finished");
            let probe = Instant::now();
            let answer = tokio::time::timeout(Duration::from_secs(1), t.http.get(&health).send()).await;
            let status =
                answer.unwrap_or_else(|_| panic!("/health took over 1 s (probe {n_probes})")).unwrap().status();
            assert_eq!(status, 200);
            assert!(probe.elapsed() < Duration::from_secs(1));
            n_probes += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        n_probes
    };
    let ((first, second), n_probes) = tokio::join!(asks, probes);
    assert!(n_probes >= 3, "only {n_probes} probes ran while the asks were served");

    // Both asks were understood: one image each, the markers gone.
    for (answer, count) in [(first, 1), (second, 3)] {
        assert_eq!(answer.status(), 200);
        let body: Value = answer.json().await.unwrap();
        let content = body["choices"][0]["message"]["content"].as_str().unwrap().to_string();
        assert!(content.contains("🎨 Prompt: 一只猫\n"), "{}", &content[..content.len().min(400)]);
        assert!(content.contains("at 1024x576"), "{}", &content[..content.len().min(400)]);
        let asked = if count > 1 { format!("({count} asked") } else { "Generating 1 image".into() };
        assert!(content.contains(&asked), "{}", &content[..content.len().min(400)]);
    }
}

/// `body` posted as is to the chat route.
async fn post_raw(t: &TestApp, body: &str) -> reqwest::Response {
    t.http
        .post(format!("{}{CHAT}", t.url))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The status, error code and message of a refusal.
async fn refusal(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (status, text(&body["error"]["code"]), text(&body["error"]["message"]))
}

#[tokio::test]
async fn keyflow_reads_the_model_upstream_reads() {
    let t = spawn_app_with(Default::default(), |c| c.runtime.ban_models = vec!["banned".into()]).await;
    let keys = t.add_keys(0, 1, 10.0, "acct-a").await;
    let upstream_calls = || t.mock.state().hits_on(&keys[0], CHAT);
    let messages = r#""messages":[{"role":"user","content":"hi"}]"#;

    // An escaped key is the key it spells: the ban holds.
    let (status, code, _) = refusal(post_raw(&t, &format!(r#"{{"mod\u0065l":"banned",{messages}}}"#)).await).await;
    assert_eq!((status, code.as_str()), (403, "model_banned"));
    // An allowed model next to an escaped banned one: refused, whichever upstream would take.
    let body = format!(r#"{{"model":"allowed","mod\u0065l":"banned",{messages}}}"#);
    let (status, _, message) = refusal(post_raw(&t, &body).await).await;
    assert_eq!(status, 400);
    assert!(message.contains("names `model` twice; send it once"), "{message}");
    // A plain duplicate is refused the same way.
    let body = format!(r#"{{"model":"{CHAT_MODEL}",{messages},"model":"banned"}}"#);
    let (status, code, message) = refusal(post_raw(&t, &body).await).await;
    assert_eq!((status, code.as_str()), (400, "invalid_request"));
    assert!(message.contains("`model` twice"), "{message}");
    // Not JSON, though a lenient parser would read it: `NaN`, trailing bytes.
    for body in [
        format!(r#"{{"model":"{CHAT_MODEL}",{messages},"temperature":NaN}}"#),
        format!(r#"{{"model":"{CHAT_MODEL}",{messages}}} {{"model":"banned"}}"#),
    ] {
        let (status, code, message) = refusal(post_raw(&t, &body).await).await;
        assert_eq!((status, code.as_str()), (400, "invalid_request"), "{body}");
        assert!(message.contains("JSON"), "{message}");
    }
    assert_eq!(upstream_calls(), 0, "a refused body reached upstream");

    // The same route still serves a well-formed body, escaped keys included.
    let response = post_raw(&t, &format!(r#"{{"mod\u0065l":"{CHAT_MODEL}",{messages}}}"#)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream_calls(), 1);
    let rows = t.logs_of(CHAT_MODEL, 1).await;
    assert_eq!(rows[0]["model"], CHAT_MODEL, "logged under the model upstream read");
}
