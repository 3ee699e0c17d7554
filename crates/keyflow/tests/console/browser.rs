//! A headless Chromium driven through chromedriver (started here on a free
//! port and ended with the test), with polling helpers that wait with a
//! deadline.

use std::future::Future;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any single expectation may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The screen the browser pretends to have.
#[derive(Debug, Clone, Copy)]
pub enum Screen {
    Desktop,
    /// An iPhone-sized screen: 375 CSS pixels wide, touch, DPR 2.
    Phone,
}

pub struct Browser {
    pub client: Client,
    /// Killed when dropped.
    _driver: tokio::process::Child,
    port: u16,
    session: Option<String>,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    listener.local_addr().expect("addr").port()
}

impl Browser {
    pub async fn start(screen: Screen) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists(),
            "{CHROMEDRIVER} is missing: apt-get install -y chromium chromium-driver (scripts/test does it)"
        );
        let port = free_port();
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--no-first-run".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--lang=en-US".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        // Extra flags for a person debugging, e.g. `--force-dark-mode`.
        if let Ok(extra) = std::env::var("KEYFLOW_BROWSER_ARGS") {
            args.extend(extra.split_whitespace().map(str::to_string));
        }
        let mut options = json!({ "prefs": { "intl.accept_languages": "en-US,en" } });
        match screen {
            Screen::Desktop => args.push("--window-size=1280,860".into()),
            Screen::Phone => {
                args.push("--window-size=375,812".into());
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": 375, "height": 812, "pixelRatio": 2.0, "touch": true },
                    "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
                });
            }
        }
        options["args"] = json!(args);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);

        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        let client = loop {
            let mut builder = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            builder.capabilities(capabilities.clone());
            match builder.connect(&url).await {
                Ok(client) => break client,
                Err(_) if start.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start a browser session through chromedriver: {e}"),
            }
        };
        let session = client.session_id().await.ok().flatten();
        Browser { client, _driver: driver, port, session, _profile: profile }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something truthy; answers that value.
    pub async fn until_js(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let start = Instant::now();
        loop {
            let value = self.client.execute(script, args.clone()).await.unwrap_or(Value::Null);
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if start.elapsed() > DEADLINE {
                let body = self.text("body").await;
                let scripts = self.script_errors().await;
                panic!(
                    "waited {DEADLINE:?} for {what}; script errors: {scripts}; page text:\n{}",
                    body.chars().take(3000).collect::<String>()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Why the page's modules failed to run, if they did (a failed module
    /// import answers the same error again).
    pub async fn script_errors(&self) -> String {
        let answer = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 const src = [...document.querySelectorAll('script[type=module]')].map((s) => s.src); \
                 Promise.all(src.map((u) => import(u).then(() => null, (e) => `${u}: ${e && e.stack || e}`))) \
                   .then((r) => done(r.filter(Boolean).join('; ') || 'none'));",
                vec![],
            )
            .await;
        match answer {
            Ok(Value::String(s)) => s,
            other => format!("{other:?}"),
        }
    }

    /// Waits until an element matching `css` is present and visible.
    pub async fn visible(&self, css: &str) -> Element {
        self.until_js(
            &format!("`{css}` to be visible"),
            "const el = document.querySelector(arguments[0]); \
             return !!el && !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);",
            vec![json!(css)],
        )
        .await;
        self.client.find(Locator::Css(css)).await.expect("element")
    }

    /// Waits until the text of `css` contains `needle`.
    pub async fn text_contains(&self, css: &str, needle: &str) {
        self.until_js(
            &format!("`{css}` to contain {needle:?}"),
            "const el = document.querySelector(arguments[0]); return !!el && el.textContent.includes(arguments[1]);",
            vec![json!(css), json!(needle)],
        )
        .await;
    }

    /// Waits until at least `n` elements match `css`; answers how many do.
    pub async fn count_at_least(&self, css: &str, n: usize) -> usize {
        let value = self
            .until_js(
                &format!("{n} or more `{css}`"),
                "const k = document.querySelectorAll(arguments[0]).length; return k >= arguments[1] ? k : 0;",
                vec![json!(css), json!(n)],
            )
            .await;
        value.as_u64().unwrap_or(0) as usize
    }

    pub async fn text(&self, css: &str) -> String {
        let value = self
            .js("const el = document.querySelector(arguments[0]); return el ? el.innerText : '';", vec![json!(css)])
            .await;
        value.as_str().unwrap_or_default().to_string()
    }

    pub async fn click(&self, css: &str) {
        self.visible(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Replaces the value of the input `css` by typing `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.visible(css).await;
        element.clear().await.unwrap_or_else(|e| panic!("clear {css}: {e}"));
        element.send_keys(text).await.unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    /// Sets a long value at once (typing thousands of characters is slow)
    /// and tells the page it changed.
    pub async fn set_value(&self, css: &str, text: &str) {
        self.visible(css).await;
        self.js(
            "const el = document.querySelector(arguments[0]); el.value = arguments[1]; \
             el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true}));",
            vec![json!(css), json!(text)],
        )
        .await;
    }

    pub async fn choose(&self, css: &str, value: &str) {
        self.visible(css).await.select_by_value(value).await.unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    pub async fn value(&self, css: &str) -> String {
        let value = self
            .js("const el = document.querySelector(arguments[0]); return el ? el.value : null;", vec![json!(css)])
            .await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// Logs in through the console's form and waits for the overview.
    pub async fn login(&self, base: &str, password: &str) {
        self.goto(&format!("{base}/#/overview")).await;
        self.fill("#login-username", "admin").await;
        self.fill("#login-password", password).await;
        self.click("#login-submit").await;
        self.visible("#shell").await;
        self.visible("main[data-page='overview'] .stat").await;
    }

    /// Opens a console page by its hash route and waits for `ready` in it.
    pub async fn page(&self, name: &str, ready: &str) {
        self.js("location.hash = arguments[0];", vec![json!(format!("#/{name}"))]).await;
        self.visible(&format!("main[data-page='{name}'] {ready}")).await;
    }

    /// Closes the open dialog with its close button.
    pub async fn close_dialog(&self) {
        self.click("dialog[open] .modal-head button").await;
        self.until_js("the dialog to close", "return !document.querySelector('dialog[open]');", vec![]).await;
    }

    /// Whether the page is wider than the viewport (sideways scrolling).
    pub async fn overflows(&self) -> Option<String> {
        let value = self
            .js(
                "const w = document.documentElement.clientWidth; \
                 if (document.documentElement.scrollWidth <= w + 1) return null; \
                 const wide = [...document.querySelectorAll('body *')].filter((e) => { \
                   const r = e.getBoundingClientRect(); const loose = ['absolute', 'fixed'].includes(getComputedStyle(e).position); \
                   return r.right > w + 1 && (loose || !e.closest('.table-wrap, .sidenav')); }) \
                   .slice(0, 5).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)); \
                 return `page ${document.documentElement.scrollWidth}px wide in ${w}px: ${wide.join(', ')}`;",
                vec![],
            )
            .await;
        value.as_str().map(str::to_string)
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Ends the session (chromedriver then ends the browser).
    pub async fn stop(mut self) {
        if self.client.clone().close().await.is_ok() {
            self.session = None;
        }
    }
}

impl Drop for Browser {
    /// After a failed test too: asks chromedriver to end the session (and
    /// so the browser) before the driver itself is killed. Plain blocking
    /// HTTP, as `Drop` cannot await.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let Some(session) = self.session.take() else { return };
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else { return };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!(
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            let _ = stream.read_to_end(&mut Vec::new());
        }
    }
}

/// Polls `check` until it returns `Some`, or fails after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
