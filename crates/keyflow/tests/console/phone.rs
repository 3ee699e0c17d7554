//! The console on a 375px phone: every page fits the width (tables scroll
//! inside their own box), the navigation is reachable, the dialogs fit.

use crate::browser::{Browser, Screen};
use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone() {
    let mut app = spawn_app().await;
    let keys = app.upstream_keys(20, &[5.0, 0.0, 1.5]);
    app.import(&keys).await;
    assert_eq!(app.chat("Qwen/Qwen2.5-7B-Instruct", None).await.status(), 200);
    let browser = Browser::start(Screen::Phone).await;
    browser.goto(&format!("{}/", app.url)).await;
    browser.visible("#login-form").await;
    let width = browser.js("return window.innerWidth;", vec![]).await;
    assert_eq!(width.as_u64(), Some(375), "the phone viewport");
    assert_eq!(browser.overflows().await, None, "login page");
    browser.login(&app.url, "admin").await;

    let pages = [
        ("overview", ".stat"),
        ("keys", ".keys-table"),
        ("models", ".toolbar"),
        ("logs", ".logs-table"),
        ("stats", ".chart-svg"),
        ("settings", "[data-form='new-token']"),
    ];
    for (name, ready) in pages {
        // Through the navigation strip, as a thumb would.
        browser.click(&format!(".sidenav a[data-page='{name}']")).await;
        browser.visible(&format!("main[data-page='{name}'] {ready}")).await;
        assert_eq!(browser.overflows().await, None, "page {name} at 375px");
    }

    // A dialog fits too.
    browser.click(".sidenav a[data-page='keys']").await;
    browser.click("[data-action='export']").await;
    browser.visible("textarea[data-field='export']").await;
    assert_eq!(browser.overflows().await, None, "export dialog at 375px");
    browser.close_dialog().await;

    browser.goto(&format!("{}/dashboard", app.url)).await;
    browser.visible("[data-dashboard='data']").await;
    assert_eq!(browser.overflows().await, None, "dashboard at 375px");

    browser.stop().await;
    app.stop().await;
}
