//! The public dashboard in each access mode: open shows it to anyone,
//! restricted asks for the guest password first, private refuses all but a
//! logged-in admin.

use serde_json::json;

use crate::browser::{Browser, Screen};
use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_dashboard_follows_the_access_mode() {
    let mut app = spawn_app().await;
    let keys = app.upstream_keys(10, &[8.0, 0.0]);
    let report = app.import(&keys).await;
    assert_eq!(report["added"], 2, "{report}");
    let browser = Browser::start(Screen::Desktop).await;
    let dashboard = format!("{}/dashboard", app.url);

    // Open: pool balance, masked keys, live rates, for anyone.
    app.put_settings(json!({"access_control": "open"})).await;
    browser.goto(&dashboard).await;
    browser.visible("[data-dashboard='data']").await;
    browser.text_contains("[data-value='pool_balance']", "8.00").await;
    browser.visible("[data-value='rpm']").await;
    browser.count_at_least(".dash-keys tbody tr", 2).await;
    let listed = browser.text(".dash-keys").await;
    assert!(listed.contains('…') && !listed.contains(&keys[0]), "keys masked: {listed}");

    // Chinese too.
    browser.choose("[data-lang-select]", "zh").await;
    browser.text_contains("[data-dashboard='data'] h1", "密钥池状态").await;
    browser.choose("[data-lang-select]", "en").await;
    browser.text_contains("[data-dashboard='data'] h1", "Pool status").await;

    // Restricted: the guest form; a wrong password is refused, the right one shows the data.
    app.put_settings(json!({"access_control": "restricted", "guest_password": "guest-pass-1"})).await;
    browser.goto(&dashboard).await;
    browser.visible("[data-dashboard='guest'] input[type='password']").await;
    browser.fill("[data-dashboard='guest'] input[type='password']", "wrong").await;
    browser.click("[data-dashboard='guest'] button[type='submit']").await;
    browser.text_contains("[data-dashboard='guest'] [role='alert']", "Wrong password").await;
    browser.fill("[data-dashboard='guest'] input[type='password']", "guest-pass-1").await;
    browser.click("[data-dashboard='guest'] button[type='submit']").await;
    browser.visible("[data-dashboard='data']").await;
    // The guest cookie carries the visit across a reload; it is HttpOnly, so scripts cannot read it.
    browser.goto(&dashboard).await;
    browser.visible("[data-dashboard='data']").await;
    let cookies = browser.js("return document.cookie;", vec![]).await;
    assert_eq!(cookies, json!(""), "session cookies are HttpOnly");

    // Private: refused, even with the guest cookie...
    app.put_settings(json!({"access_control": "private"})).await;
    browser.goto(&dashboard).await;
    browser.visible("[data-dashboard='private']").await;
    browser.text_contains("[data-dashboard='private']", "log in to the console").await;
    // ...until the admin logs in to the console.
    browser.login(&app.url, "admin").await;
    browser.goto(&dashboard).await;
    browser.visible("[data-dashboard='data']").await;

    browser.stop().await;
    app.stop().await;
}
