//! Re-hosting never fetches private addresses and bounds what it reads
//! (SPEC §10): an image link upstream points at loopback (other than
//! upstream's own origin) is never connected to, and an endless Lsky Pro
//! answer is cut off instead of buffered; both keep upstream's link.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keyflow_mock::LSKY_TOKEN;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

use crate::helpers::*;

const MODEL: &str = "Tongyi-MAI/Z-Image-Turbo";
/// What the endless Lsky Pro would send if nobody stopped reading.
const HUGE_ANSWER_BYTES: u64 = 256 << 20;

/// A raw HTTP server on 127.0.0.1 that counts what happens to it.
struct Server {
    url: String,
    connections: Arc<AtomicUsize>,
    /// Body bytes the kernel accepted (for the endless answer).
    sent: Arc<AtomicU64>,
    /// Set when the client hung up on the endless answer.
    cut: Arc<AtomicBool>,
    _tasks: TaskTracker,
}

#[derive(Clone, Copy)]
enum Answer {
    /// A small PNG, as an image host would answer.
    Image,
    /// A Lsky Pro success that never ends.
    Endless,
}

impl Server {
    async fn start(answer: Answer) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (connections, sent, cut) =
            (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let tasks = TaskTracker::new();
        let (c, s, x, t) = (Arc::clone(&connections), Arc::clone(&sent), Arc::clone(&cut), tasks.clone());
        tasks.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (s, x) = (Arc::clone(&s), Arc::clone(&x));
                t.spawn(async move { serve(stream, answer, &s, &x).await });
            }
        });
        Server { url, connections, sent, cut, _tasks: tasks }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(mut stream: TcpStream, answer: Answer, sent: &AtomicU64, cut: &AtomicBool) {
    // The request head is enough; the body (an upload) is left unread.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 1 << 16 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    match answer {
        Answer::Image => {
            let reply =
                "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: 4\r\nconnection: close\r\n\r\nPNG!";
            let _ = stream.write_all(reply.as_bytes()).await;
        }
        Answer::Endless => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
            let start = r#"{"status": true, "message": ""#;
            if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(start.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'a'; 64 << 10];
            while sent.load(Ordering::SeqCst) < HUGE_ANSWER_BYTES {
                if stream.write_all(&chunk).await.is_err() {
                    cut.store(true, Ordering::SeqCst);
                    return;
                }
                sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
    }
}

/// The first image line of a non-stream image answer.
async fn image_line(t: &TestApp) -> String {
    let ask = json!({"model": MODEL, "messages": [{"role": "user", "content": "a cat"}]});
    let response = tokio::time::timeout(Duration::from_secs(30), t.post_json("/v1/chat/completions", ask))
        .await
        .expect("the image answer comes back promptly");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    content.lines().find(|l| l.starts_with("![image1|")).unwrap_or_else(|| panic!("no image in {content}")).to_string()
}

#[tokio::test]
async fn image_links_on_loopback_other_than_upstream_are_not_fetched() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let mock_url = t.mock.url();
    t.put_settings(json!({"image": {
        "prompt_expansion": false, "use_lsky_pro": true, "lsky_url": mock_url, "lsky_token": LSKY_TOKEN,
    }}))
    .await;

    // Upstream's own origin (the mock, on 127.0.0.1) is trusted: its image is re-hosted.
    let line = image_line(&t).await;
    assert!(line.contains(&format!("]({mock_url}/lsky/i/")), "{line}");
    assert_eq!(t.mock.state().hits_on(LSKY_TOKEN, "/api/v1/upload"), 1);

    // Links to another loopback server, however spelled, are never connected to.
    let bait = Server::start(Answer::Image).await;
    let port = bait.url.rsplit(':').next().unwrap().to_string();
    for base in [
        bait.url.clone(),
        format!("http://localhost:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://2130706433:{port}"),
    ] {
        t.mock.state().set_public_url(&base);
        let line = image_line(&t).await;
        assert!(line.contains(&format!("]({base}/files/img/")) && !line.contains("original"), "{base}: {line}");
        assert_eq!(bait.connections(), 0, "{base} was fetched");
    }
    assert_eq!(t.mock.state().hits_on(LSKY_TOKEN, "/api/v1/upload"), 1, "nothing more was uploaded");

    // The bait does answer whoever connects, so the zero above is keyflow's refusal.
    let direct = t.http.get(format!("{}/files/img/a.png", bait.url)).send().await.unwrap();
    assert_eq!(direct.status(), 200);
    assert_eq!(bait.connections(), 1);
}

#[tokio::test]
async fn an_endless_lsky_answer_is_cut_off_not_buffered() {
    let t = spawn_app().await;
    t.add_keys(0, 1, 10.0, "acct-a").await;
    let lsky = Server::start(Answer::Endless).await;
    t.put_settings(json!({"image": {
        "prompt_expansion": false, "use_lsky_pro": true, "lsky_url": lsky.url, "lsky_token": "any-token",
    }}))
    .await;
    let line = image_line(&t).await;
    let mock_url = t.mock.url();
    assert!(line.contains(&format!("]({mock_url}/files/img/")) && !line.contains("original"), "{line}");
    assert_eq!(lsky.connections(), 1, "the upload reached the Lsky server");
    // keyflow hung up long before the end: what the kernel took is socket
    // buffers' worth, not the 256 MiB a full read would have taken.
    eventually(Duration::from_secs(10), || async { lsky.cut.load(Ordering::SeqCst).then_some(()) }).await;
    let sent = lsky.sent.load(Ordering::SeqCst);
    assert!(sent < 32 << 20, "{sent} bytes of the answer were read");
}
