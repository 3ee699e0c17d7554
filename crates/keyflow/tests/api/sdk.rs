//! Real clients: the official OpenAI and Anthropic Python SDKs against a live
//! keyflow (`tests/sdk/test_clients.py`), with the upstream calls they caused
//! counted on the mock.

use std::process::Output;
use std::time::Duration;

use keyflow_mock::MockConfig;
use tokio::process::Command;

use crate::helpers::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/sdk/test_clients.py");
const TOKEN: &str = "sdk-token";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Variables of the caller's shell that would change what the script does.
const OVERRIDES: &[&str] = &[
    "KEYFLOW_PAID_MODEL",
    "KEYFLOW_FREE_MODEL",
    "KEYFLOW_EMBED_MODEL",
    "KEYFLOW_IMAGE_MODEL",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
];

/// Runs `python3 ARGS` with `envs`, killed if it outlives the timeout.
async fn python(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new("python3");
    command.args(args).env("PYTHONUNBUFFERED", "1").kill_on_drop(true);
    // The script talks to loopback only, with the models it defaults to.
    for name in OVERRIDES {
        command.env_remove(name).env_remove(name.to_lowercase());
    }
    command.envs(envs.iter().copied());
    match tokio::time::timeout(SCRIPT_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => panic!("cannot run python3 ({error}): install Python 3, then run scripts/test"),
        Err(_) => panic!("python3 {args:?} did not finish within {SCRIPT_TIMEOUT:?}"),
    }
}

fn report(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn official_sdks_work_against_keyflow() {
    // The SDKs are a test dependency: missing them is a failure, never a skip.
    let probe = python(&["-c", "import openai, anthropic"], &[]).await;
    assert!(
        probe.status.success(),
        "the openai and anthropic Python SDKs are not installed: run scripts/test \
         (or python3 -m pip install -r tests/sdk/requirements.txt)\n{}",
        report(&probe)
    );

    let t = spawn_app_with(MockConfig::default(), |c| {
        c.client_tokens = vec![keyflow::secret::Secret::new(TOKEN)];
    })
    .await;
    let keys = t.add_keys(0, 3, 10.0, "acct-sdk").await;
    let state = t.mock.state();
    let before = state.served();

    let output = python(&[SCRIPT], &[("KEYFLOW_URL", t.url.as_str()), ("KEYFLOW_TOKEN", TOKEN)]).await;
    let text = report(&output);
    println!("{text}");
    assert!(output.status.success(), "SDK checks failed\n{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(" passed, 0 failed") && !summary.starts_with("0 "), "summary {summary:?}\n{text}");

    // Every model call reached upstream with a pool key, exactly once (no
    // hidden retries), and the client token never left keyflow.
    let on = |path: &str| keys.iter().map(|key| state.hits_on(key, path)).sum::<u64>();
    // 5 chats + 1 unknown model (400 passed through, not retried on other keys).
    assert_eq!(on("/v1/chat/completions"), 6, "{text}");
    assert_eq!(on("/v1/completions"), 1, "{text}");
    assert_eq!(on("/v1/embeddings"), 2, "{text}");
    assert_eq!(on("/v1/images/generations"), 1, "{text}");
    // create + stream; the wrong-token call stops at keyflow.
    assert_eq!(on("/v1/messages"), 2, "{text}");
    let served = state.served();
    assert_eq!(served.requests - before.requests, 11, "successful model answers upstream: {served:?}\n{text}");
    assert_eq!(served.images - before.images, 1, "{served:?}");
    assert!(served.prompt_tokens > before.prompt_tokens, "{served:?}");
    assert!(served.completion_tokens > before.completion_tokens, "{served:?}");
    for token in [TOKEN, "sk-wrong-token"] {
        assert_eq!(state.hits(token), 0, "client token {token} was sent upstream");
    }
    for key in &keys {
        if let Some(last) = state.last_request(key) {
            let leaked = last.headers.iter().find(|(_, value)| value.contains(TOKEN));
            assert!(leaked.is_none(), "client token forwarded upstream in {leaked:?} on {}", last.path);
        }
    }
}

const IMAGE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/sdk/test_image_chat.py");

/// `pic:3 16:9` through the OpenAI SDK, streamed and not: three images in
/// the 1024x576 class, each made on a different key.
#[tokio::test]
async fn openai_sdk_gets_three_wide_images_through_chat() {
    let t = spawn_app_with(MockConfig::default(), |c| {
        c.client_tokens = vec![keyflow::secret::Secret::new(TOKEN)];
        // The expansion call would also use a key; keep the count exact.
        c.runtime.image.prompt_expansion = false;
    })
    .await;
    let keys = t.add_keys(0, 3, 10.0, "acct-a").await;
    let output = python(&[IMAGE_SCRIPT], &[("KEYFLOW_URL", &t.url), ("KEYFLOW_TOKEN", TOKEN)]).await;
    assert!(output.status.success(), "{}", report(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("2 passed, 0 failed"), "{}", report(&output));
    for key in &keys {
        assert_eq!(t.mock.state().hits_on(key, "/v1/images/generations"), 2, "one image per request on each key");
        let sent = t.mock.state().last_request(key).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(body["image_size"], "1024x576", "{body}");
    }
}
