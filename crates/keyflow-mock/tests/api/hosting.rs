//! The re-hosting fakes: Lsky Pro's upload and the short-link service.

use keyflow_mock::LSKY_TOKEN;
use serde_json::json;

use crate::support::{json_of, spawn, Multipart};

#[tokio::test]
async fn lsky_upload_checks_the_token_and_answers_a_served_link() {
    let mock = spawn().await;
    let form = || Multipart::default().file("file", "cat.png", b"\x89PNG fake bytes");
    let answer = json_of(mock.post_form(LSKY_TOKEN, "/api/v1/upload", form()).await).await;
    assert_eq!(answer["status"], true, "{answer}");
    let url = answer["data"]["links"]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/lsky/i/", mock.server.url())), "{url}");
    let png = mock.client.get(url).send().await.unwrap();
    assert_eq!(png.status(), 200);
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    assert_eq!(mock.state.hits_on(LSKY_TOKEN, "/api/v1/upload"), 1);

    let refused = mock.post_form("wrong-token", "/api/v1/upload", form()).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(json_of(refused).await["status"], false);
    let no_file = mock.post_form(LSKY_TOKEN, "/api/v1/upload", Multipart::default().text("x", "y")).await;
    assert_eq!(no_file.status(), 422);
}

#[tokio::test]
async fn shortener_answers_a_stable_short_link() {
    let mock = spawn().await;
    let long = "https://img.example/a/very/long/path/image.png";
    let shorten = || mock.client.post(mock.url("/shorten")).json(&json!({"url": long})).send();
    let first = json_of(shorten().await.unwrap()).await;
    let short = first["short_url"].as_str().unwrap().to_string();
    assert!(short.starts_with(&format!("{}/s/", mock.server.url())), "{short}");
    assert_eq!(json_of(shorten().await.unwrap()).await["short_url"], short.as_str());
    let bad = mock.client.post(mock.url("/shorten")).json(&json!({"link": long})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
}
