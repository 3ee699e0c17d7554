//! The statistics page shows the server's figures for the whole window:
//! the summary tiles and the per-model table read `summary` and
//! `model_summary` of `/api/stats/daily`, whose averages are weighted by
//! what they average (the time to first byte over the requests that had
//! one), instead of re-adding the daily rows in the browser.

use keyflow::store::LogRow;

use crate::browser::{Browser, Screen};
use crate::helpers::spawn_app;

const DAY_MS: i64 = 86_400_000;
const MODEL: &str = "test/ttfb-model";

fn row(ts_ms: i64, ttfb_ms: Option<u64>) -> LogRow {
    LogRow {
        ts_ms,
        route: "/v1/chat/completions".into(),
        model: Some(MODEL.into()),
        status: 200,
        latency_ms: 1000,
        ttfb_ms,
        prompt_tokens: 10,
        total_tokens: 10,
        stream: ttfb_ms.is_some(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statistics_page_shows_the_servers_window_figures() {
    let mut app = spawn_app().await;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    // Two days ago two requests, one of them with a first byte at 100 ms;
    // now one at 400 ms. Over the window: (100 + 400) / 2 = 250 ms. Adding up
    // the daily averages weighted by requests would give (100·2 + 400) / 3 = 200 ms.
    let rows = [row(now_ms - 2 * DAY_MS, Some(100)), row(now_ms - 2 * DAY_MS, None), row(now_ms, Some(400))];
    let state = app.app.as_ref().expect("app").state().clone();
    state.store.insert_logs(&rows).await.expect("log rows");
    let daily = app.admin_get("/api/stats/daily?days=30").await;
    assert_eq!(
        (daily["summary"]["requests"].as_u64(), daily["summary"]["avg_ttfb_ms"].as_f64()),
        (Some(3), Some(250.0))
    );
    assert_eq!(daily["model_summary"][0]["model"], MODEL, "{daily}");

    let browser = Browser::start(Screen::Desktop).await;
    browser.login(&app.url, "admin").await;
    browser.page("stats", ".chart-svg").await;
    let tiles = "main [data-stats='summary']";
    browser.text_contains(&format!("{tiles} .stat:nth-child(1) .stat-value"), "3").await;
    browser.text_contains(&format!("{tiles} .stat:nth-child(6) .stat-value"), "250 ms").await;
    // The per-model table: the last column is the time to first byte.
    let model_row = "main table tbody tr:first-child";
    browser.text_contains(&format!("{model_row} td:first-child"), MODEL).await;
    browser.text_contains(&format!("{model_row} td:last-child"), "250 ms").await;

    browser.stop().await;
    app.stop().await;
}
