//! Images, audio, embeddings and rerank.

use serde_json::json;

use crate::support::{json_of, spawn, Multipart, KEY_A, KEY_EMPTY};

#[tokio::test]
async fn image_sizes_follow_the_family_table() {
    let mock = spawn().await;
    let cases = [
        ("Kwai-Kolors/Kolors", "1024x1024", 200),
        ("Kwai-Kolors/Kolors", "512x512", 400),
        ("Qwen/Qwen-Image", "1328x1328", 200),
        ("Qwen/Qwen-Image", "1024x1024", 400),
        ("Tongyi-MAI/Z-Image-Turbo", "1024x576", 200),
        ("Tongyi-MAI/Z-Image-Turbo", "1024x768", 400),
        ("black-forest-labs/FLUX.2-pro", "1024x768", 200),
        ("black-forest-labs/FLUX.2-pro", "1024x1024", 400),
        ("black-forest-labs/FLUX.1-schnell", "768x512", 200),
        ("black-forest-labs/FLUX.1-schnell", "960x1280", 400),
    ];
    for (model, size, status) in cases {
        let body = json!({"model": model, "prompt": "a cat", "image_size": size});
        let response = mock.post_json(KEY_A, "/v1/images/generations", &body).await;
        assert_eq!(response.status(), status, "{model} {size}");
        if status == 400 {
            assert_eq!(json_of(response).await["code"], 20015);
        }
    }
    let too_many = json!({"model": "Kwai-Kolors/Kolors", "prompt": "a cat", "batch_size": 5});
    assert_eq!(mock.post_json(KEY_A, "/v1/images/generations", &too_many).await.status(), 400);
}

#[tokio::test]
async fn images_are_served_and_counted() {
    let mock = spawn().await;
    let body = json!({"model": "Kwai-Kolors/Kolors", "prompt": "a cat", "batch_size": 3, "seed": 7});
    let answer = json_of(mock.post_json(KEY_EMPTY, "/v1/images/generations", &body).await).await;
    assert_eq!(answer["seed"], 7);
    assert_eq!(answer["timings"]["inference"], 0.5);
    let images = answer["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    let url = images[0]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/files/img/", mock.server.url())));
    let png = mock.client.get(url).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    assert_eq!(mock.state.served().images, 3);
}

#[tokio::test]
async fn speech_is_deterministic_chunked_audio() {
    let mock = spawn().await;
    let body = json!({"model": "FunAudioLLM/CosyVoice2-0.5B", "input": "你好，世界",
        "voice": "FunAudioLLM/CosyVoice2-0.5B:alex"});
    let first = mock.post_json(KEY_A, "/v1/audio/speech", &body).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "audio/mpeg");
    assert!(first.headers().get("content-length").is_none());
    let first = first.bytes().await.unwrap();
    assert!(first.starts_with(b"ID3"));
    let second = mock.post_json(KEY_A, "/v1/audio/speech", &body).await.bytes().await.unwrap();
    assert_eq!(first, second);
    let bad_voice = json!({"model": "FunAudioLLM/CosyVoice2-0.5B", "input": "x", "voice": "nobody"});
    assert_eq!(mock.post_json(KEY_A, "/v1/audio/speech", &bad_voice).await.status(), 400);
}

#[tokio::test]
async fn transcription_names_the_exact_bytes() {
    let mock = spawn().await;
    let audio: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let form = Multipart::default().text("model", "FunAudioLLM/SenseVoiceSmall").file("file", "a.mp3", &audio);
    let response = mock.post_form(KEY_A, "/v1/audio/transcriptions", form).await;
    assert_eq!(response.status(), 200);
    let text = json_of(response).await["text"].as_str().unwrap().to_owned();
    assert!(text.contains("5000"));
    assert!(text.contains(&format!("{:016x}", keyflow_mock::fnv1a(&audio))));
    let recorded = mock.state.last_request(KEY_A).unwrap();
    assert_eq!(recorded.path, "/v1/audio/transcriptions");
    assert!(recorded.header("content-type").unwrap().starts_with("multipart/form-data"));
    assert!(recorded.body.windows(audio.len()).any(|window| window == audio.as_slice()));
}

#[tokio::test]
async fn embeddings_shape() {
    let mock = spawn().await;
    let body = json!({"model": "BAAI/bge-m3", "input": ["hello", "world"], "encoding_format": "float"});
    let answer = json_of(mock.post_json(KEY_A, "/v1/embeddings", &body).await).await;
    assert_eq!(answer["object"], "list");
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
    assert_eq!(answer["data"][1]["index"], 1);
    assert_eq!(answer["data"][0]["object"], "embedding");
    assert_eq!(answer["usage"]["prompt_tokens"], 4);
    assert_eq!(answer["usage"]["completion_tokens"], 0);
    assert_eq!(answer["usage"]["total_tokens"], 4);
    let sized = json!({"model": "Qwen/Qwen3-Embedding-8B", "input": "x", "dimensions": 64});
    let answer = json_of(mock.post_json(KEY_A, "/v1/embeddings", &sized).await).await;
    assert_eq!(answer["data"][0]["embedding"].as_array().unwrap().len(), 64);
    let empty = json!({"model": "BAAI/bge-m3", "input": ""});
    assert_eq!(mock.post_json(KEY_A, "/v1/embeddings", &empty).await.status(), 400);
}

#[tokio::test]
async fn rerank_has_both_usage_shapes() {
    let mock = spawn().await;
    let body = |model: &str| json!({"model": model, "query": "apple", "documents": ["banana", "apple pie", "car"], "top_n": 2});
    let bge = json_of(mock.post_json(KEY_A, "/v1/rerank", &body("BAAI/bge-reranker-v2-m3")).await).await;
    assert_eq!(bge["results"].as_array().unwrap().len(), 2);
    assert_eq!(bge["results"][0]["index"], 1);
    assert!(bge["tokens"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(bge.get("meta").is_none());
    let qwen = json_of(mock.post_json(KEY_A, "/v1/rerank", &body("Qwen/Qwen3-Reranker-8B")).await).await;
    assert!(qwen["meta"]["tokens"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(qwen.get("tokens").is_none());
    let empty = json!({"model": "BAAI/bge-reranker-v2-m3", "query": "q", "documents": []});
    let response = mock.post_json(KEY_A, "/v1/rerank", &empty).await;
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"code":20015,"message":"List should have at least 1 item after validation"}"#
    );
}

#[tokio::test]
async fn router_mounts_in_process_and_links_use_the_host() {
    let state = keyflow_mock::MockState::new(keyflow_mock::MockConfig::default());
    state.add_key(KEY_A, 1.0, "acct");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = keyflow_mock::router(state.clone());
    let client = reqwest::Client::new();
    let check = async {
        let body = json!({"model": "Kwai-Kolors/Kolors", "prompt": "a cat"});
        let response =
            client.post(format!("{base}/v1/images/generations")).bearer_auth(KEY_A).json(&body).send().await.unwrap();
        let url = json_of(response).await["images"][0]["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with(&format!("{base}/files/img/")));
    };
    tokio::select! {
        result = axum::serve(listener, app) => panic!("server ended: {result:?}"),
        () = check => {}
    }
    assert_eq!(state.hits_on(KEY_A, "/v1/images/generations"), 1);
}
