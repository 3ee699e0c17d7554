//! `KEYFLOW_SCREENSHOTS=1 cargo test -p keyflow --test console screenshots`
//! fills a gateway with two weeks of plausible traffic and saves a picture
//! of every page to `docs/screenshots/` (the README shows them). Without
//! the variable the test does nothing.

use std::path::PathBuf;
use std::time::Duration;

use keyflow::store::LogRow;
use serde_json::json;

use crate::browser::{eventually, Browser, Screen};
use crate::helpers::spawn_app;

const MODELS: [(&str, f64); 5] = [
    ("deepseek-ai/DeepSeek-V3", 8.0),
    ("Qwen/Qwen3-8B", 0.0),
    ("Pro/deepseek-ai/DeepSeek-R1", 16.0),
    ("THUDM/glm-4-9b-chat", 0.0),
    ("BAAI/bge-m3", 0.0),
];
const CLIENTS: [&str; 3] = ["web-app", "batch-jobs", "notebook"];

/// Two weeks of log rows with a daily rhythm, a few errors and costs.
fn history(now_ms: i64, n_keys: i64) -> Vec<LogRow> {
    let mut rows = Vec::new();
    let mut seed: u64 = 7;
    let mut next = |m: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % m
    };
    for hour in (1..14 * 24).rev() {
        let local_hour = (hour % 24) as u64;
        let busy = if (9..22).contains(&(23 - local_hour)) { 5 } else { 1 };
        for _ in 0..(busy + next(3)) {
            let (model, price) = MODELS[next(MODELS.len() as u64) as usize];
            let prompt = 200 + next(1800);
            let completion = if model.contains("bge") { 0 } else { 50 + next(900) };
            let failed = next(25) == 0;
            let latency = 300 + next(2500) + if model.contains("R1") { 4000 } else { 0 };
            rows.push(LogRow {
                ts_ms: now_ms - hour * 3_600_000 + next(3_600_000) as i64,
                client: Some(CLIENTS[next(3) as usize].to_string()),
                route: if model.contains("bge") { "/v1/embeddings" } else { "/v1/chat/completions" }.into(),
                model: Some(model.into()),
                key_id: Some(1 + next(n_keys as u64) as i64),
                status: if failed { [429, 500, 503][next(3) as usize] } else { 200 },
                error: failed.then(|| "upstream busy: retry later".to_string()),
                latency_ms: latency,
                ttfb_ms: Some(latency / 3),
                prompt_tokens: if failed { 0 } else { prompt },
                completion_tokens: if failed { 0 } else { completion },
                total_tokens: if failed { 0 } else { prompt + completion },
                stream: next(2) == 0,
                cost: if failed { 0.0 } else { (prompt + completion) as f64 * price / 1e6 },
                ..Default::default()
            });
        }
    }
    rows.sort_by_key(|r| r.ts_ms);
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots() {
    if std::env::var_os("KEYFLOW_SCREENSHOTS").is_none() {
        return;
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&out).expect("screenshots dir");
    let mut app = spawn_app().await;

    let balances = [14.0, 13.2, 9.87, 7.5, 4.25, 2.0, 0.73, 0.0, 0.0, 0.0, 0.0, 18.6, 11.0, 5.5, 3.3, 0.0];
    let mut keys = app.upstream_keys(100, &balances);
    keys.push(crate::helpers::test_key(999)); // unknown upstream: invalid
    app.import(&keys).await;
    for id in [6, 9] {
        let response =
            app.admin(reqwest::Method::PATCH, &format!("/api/keys/{id}")).json(&json!({"enabled": false})).send().await;
        assert_eq!(response.expect("patch").status(), 200);
    }
    for (model, price) in MODELS.iter().filter(|(_, p)| *p > 0.0) {
        let response = app
            .admin(reqwest::Method::PUT, &format!("/api/models/prices/{model}"))
            .json(&json!({"input_per_m": price, "output_per_m": price}))
            .send()
            .await;
        assert_eq!(response.expect("price").status(), 200);
    }
    app.put_settings(json!({"access_control": "open", "ban_models": ["black-forest-labs/FLUX.2-pro"]})).await;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let state = app.app.as_ref().expect("app").state().clone();
    state.store.insert_logs(&history(now_ms, balances.len() as i64)).await.expect("history");
    // A little live traffic for the RPM / TPM figures.
    for i in 0..12 {
        let model = if i % 3 == 0 { "deepseek-ai/DeepSeek-V3" } else { "Qwen/Qwen3-8B" };
        app.chat(model, None).await;
    }
    eventually("live traffic logged", Duration::from_secs(10), || async {
        let overview = app.admin_get("/api/stats/overview").await;
        (overview["today"]["requests"].as_u64() >= Some(12)).then_some(())
    })
    .await;
    for (name, scope) in [("web-app", "all"), ("notebook", "free")] {
        let response =
            app.admin(reqwest::Method::POST, "/api/tokens").json(&json!({"name": name, "scope": scope})).send().await;
        assert_eq!(response.expect("token").status(), 200);
    }

    let browser = Browser::start(Screen::Desktop).await;
    browser.login(&app.url, "admin").await;
    // Page, what shows it is ready, the tallest picture worth keeping.
    let shots = [
        ("overview", ".state-legend", 1400),
        ("keys", ".keys-table tbody tr[data-id]", 1200),
        ("models", ".models-table", 1700),
        ("logs", ".logs-table tbody tr[data-id]", 1100),
        ("stats", ".chart-hbar", 2000),
        ("settings", ".tokens-table tbody tr", 2300),
    ];
    for (page, ready, max) in shots {
        browser.client.set_window_size(1280, 860).await.expect("size");
        browser.page(page, ready).await;
        settle(&browser).await;
        fit_height(&browser, max).await;
        browser.screenshot(&out.join(format!("{page}.png"))).await;
    }
    browser.client.set_window_size(1280, 860).await.expect("size");
    browser.goto(&format!("{}/dashboard", app.url)).await;
    browser.visible("[data-dashboard='data']").await;
    settle(&browser).await;
    fit_height(&browser, 1100).await;
    browser.screenshot(&out.join("dashboard.png")).await;
    browser.stop().await;

    let phone = Browser::start(Screen::Phone).await;
    phone.login(&app.url, "admin").await;
    settle(&phone).await;
    phone.screenshot(&out.join("phone-overview.png")).await;
    phone.page("stats", ".chart-svg").await;
    phone.js("document.querySelector('.chart-grid').scrollIntoView();", vec![]).await;
    settle(&phone).await;
    phone.screenshot(&out.join("phone-stats.png")).await;
    phone.stop().await;
    app.stop().await;
}

/// Waits for the fonts and a frame, so the picture shows the finished page.
async fn settle(browser: &Browser) {
    browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             document.fonts.ready.then(() => requestAnimationFrame(() => requestAnimationFrame(() => done(true))));",
            vec![],
        )
        .await
        .expect("settle");
}

/// Grows the viewport to the page's height (up to `max`), for a full-page
/// picture. The window is a little taller than its viewport, so the
/// difference is measured and added.
async fn fit_height(browser: &Browser, max: u32) {
    let height = browser.js("return document.documentElement.scrollHeight;", vec![]).await;
    let height = (height.as_u64().unwrap_or(860) as u32).clamp(860, max);
    browser.client.set_window_size(1280, height).await.expect("size");
    let inner = browser.js("return window.innerHeight;", vec![]).await.as_u64().unwrap_or(height as u64) as u32;
    if inner < height {
        browser.client.set_window_size(1280, height + (height - inner)).await.expect("size");
    }
    settle(browser).await;
}
