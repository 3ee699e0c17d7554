//! An operator's first session in a real browser: log in, import keys,
//! disable one, export, look at logs and statistics after some traffic,
//! change the strategy, switch to Chinese, create a client token and use
//! it, log out.

use std::time::Duration;

use serde_json::json;

use crate::browser::{eventually, Browser, Screen};
use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_pool_from_the_console() {
    let mut app = spawn_app().await;
    let keys = app.upstream_keys(0, &[12.5, 0.0, 3.25]);
    let browser = Browser::start(Screen::Desktop).await;
    let base = app.url.clone();

    // Login: a wrong password is refused with a message, the right one opens the console.
    browser.goto(&format!("{base}/")).await;
    browser.fill("#login-username", "admin").await;
    browser.fill("#login-password", "not the password").await;
    browser.click("#login-submit").await;
    browser.text_contains("#login-error", "Wrong username or password").await;
    browser.login(&base, "admin").await;
    browser.text_contains("#whoami", "admin").await;
    // Anything the page's Content-Security-Policy blocks is noted, to check at the end.
    browser
        .js(
            "window.cspViolations = []; document.addEventListener('securitypolicyviolation', \
             (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));",
            vec![],
        )
        .await;

    // Import by paste: three good keys, one repeated, one malformed (too short), one unknown upstream.
    browser.page("keys", "[data-action='import']").await;
    browser.click("[data-action='import']").await;
    let unknown = crate::helpers::test_key(99);
    let pasted = format!("{}\n{}(12.50), {}\nsk-tooshort\n{}\n{}", keys[0], keys[1], keys[2], unknown, keys[0]);
    browser.set_value("textarea[data-field='keys']", &pasted).await;
    browser.click("[data-action='do-import']").await;
    browser.visible("[data-import-summary]").await;
    assert_eq!(browser.text("[data-count='added']").await, "3");
    assert_eq!(browser.text("[data-count='malformed']").await, "1");
    assert_eq!(browser.text("[data-count='invalid']").await, "1");
    browser.close_dialog().await;

    // The list shows them masked, with states and balances; never a full key.
    browser.count_at_least(".keys-table tbody tr[data-id]", 4).await;
    let listed = browser.text(".keys-table tbody").await;
    assert!(listed.contains('…'), "masked keys: {listed}");
    let html = browser.js("return document.documentElement.outerHTML;", vec![]).await;
    for key in &keys {
        assert!(!html.as_str().unwrap_or_default().contains(key.as_str()), "a full key is on the page");
    }
    browser.visible(".keys-table tr[data-state='free']").await;
    browser.visible(".keys-table tr[data-state='invalid']").await;

    // Disable key 1 from its row; the server agrees.
    browser.click(".keys-table tr[data-id='1'] [data-action='disable']").await;
    browser.visible(".keys-table tr[data-id='1'][data-state='disabled']").await;
    let rows = app.admin_get("/api/keys?size=100").await;
    let first = rows["items"].as_array().expect("items").iter().find(|k| k["id"] == 1).cloned().expect("key 1");
    assert_eq!(first["enabled"], false);

    // Export, funded keys by balance: the dialog shows the full keys.
    browser.click("[data-action='export']").await;
    browser
        .until_js(
            "the export text",
            "const v = document.querySelector(\"textarea[data-field='export']\").value; return v.includes('sk-') ? v : '';",
            vec![],
        )
        .await;
    let exported = browser.value("textarea[data-field='export']").await;
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines.first().copied(), Some(keys[0].as_str()), "richest first: {exported}");
    for key in &keys {
        assert!(lines.contains(&key.as_str()), "{key} missing from the export: {exported}");
    }
    browser.close_dialog().await;

    // Traffic, then logs and statistics.
    for _ in 0..4 {
        assert_eq!(app.chat("Qwen/Qwen2.5-7B-Instruct", None).await.status(), 200);
    }
    assert!(!app.chat("no-such/model", None).await.status().is_success());
    eventually("log rows written", Duration::from_secs(10), || async {
        let logs = app.admin_get("/api/logs?size=50").await;
        (logs["total"].as_u64() >= Some(5)).then_some(())
    })
    .await;
    browser.page("logs", ".logs-table").await;
    browser.count_at_least(".logs-table tbody tr[data-id]", 5).await;
    browser.click(".logs-table tbody tr[data-id]").await;
    browser.visible("dialog.drawer .details").await;
    browser.text_contains("dialog.drawer .details", "/v1/chat/completions").await;
    browser.close_dialog().await;
    // Filter: errors only.
    browser.choose("main .filters select", "error").await;
    browser.click("main .filters button[type='submit']").await;
    browser
        .until_js(
            "only error rows",
            "const rows = [...document.querySelectorAll('.logs-table tbody tr[data-id]')]; \
             return rows.length > 0 && rows.every((r) => r.querySelector('.badge-error'));",
            vec![],
        )
        .await;

    browser.page("stats", ".chart-svg").await;
    browser.count_at_least("main .chart-bar rect.bar", 1).await;
    browser.count_at_least("main .chart-line polyline.line", 1).await;
    browser.count_at_least("main .chart-hbar rect.bar", 1).await;
    browser.click("main [data-period='hourly']").await;
    browser.text_contains("main", "Qwen/Qwen2.5-7B-Instruct").await;

    // Settings apply live; a bad value shows the server's message.
    browser.page("settings", "select[name='key_strategy']").await;
    browser
        .until_js("settings loaded", "return document.querySelector(\"select[name='key_strategy']\").value;", vec![])
        .await;
    browser.choose("select[name='key_strategy']", "round_robin").await;
    browser.click("[data-action='save-settings']").await;
    eventually("the strategy applied", Duration::from_secs(5), || async {
        let settings = app.admin_get("/api/settings").await;
        (settings["key_strategy"] == "round_robin").then_some(())
    })
    .await;
    browser.fill("input[name='page_size']", "0").await;
    browser.click("[data-action='save-settings']").await;
    browser.visible("[data-settings-error]").await;
    browser.text_contains("[data-settings-error]", "page_size").await;
    assert_eq!(app.admin_get("/api/settings").await["page_size"], 50, "the bad value was not saved");

    // State changes need the CSRF token: the console sends it, a bare fetch does not.
    let bare = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch('/api/settings', {method: 'PUT', headers: {'Content-Type': 'application/json'}, body: '{\"max_retries\": 1}'}) \
               .then((r) => done(r.status));",
            vec![],
        )
        .await
        .expect("fetch");
    assert_eq!(bare, json!(403), "a state change without X-CSRF-Token");

    let violations = browser.js("return window.cspViolations;", vec![]).await;
    assert_eq!(violations, json!([]), "the console breaks its own Content-Security-Policy");

    // Language: Chinese, remembered across a reload, then back.
    browser.choose(".topbar [data-lang-select]", "zh").await;
    browser.text_contains(".sidenav", "密钥").await;
    browser.text_contains("main h1", "设置").await;
    browser.goto(&format!("{base}/#/keys")).await;
    browser.text_contains(".sidenav a[data-page='keys']", "密钥").await;
    browser.text_contains("main h1", "密钥").await;
    browser.choose(".topbar [data-lang-select]", "en").await;
    browser.text_contains(".sidenav a[data-page='keys']", "Keys").await;

    // A client token: created in the console, shown once, accepted on /v1.
    browser.page("settings", "[data-form='new-token']").await;
    browser.fill("[data-form='new-token'] input[name='name']", "ci-bot").await;
    browser.click("[data-action='create-token']").await;
    let token = browser
        .until_js(
            "the new token",
            "const el = document.querySelector('[data-new-token]'); return el ? el.value : '';",
            vec![],
        )
        .await;
    let token = token.as_str().expect("token text").to_string();
    browser.close_dialog().await;
    browser.visible(".tokens-table tr[data-token='ci-bot']").await;
    assert!(!browser.text(".tokens-table").await.contains(&token), "the list shows the token masked");
    assert_eq!(app.chat("Qwen/Qwen2.5-7B-Instruct", Some(&token)).await.status(), 200);
    assert_eq!(app.chat("Qwen/Qwen2.5-7B-Instruct", None).await.status(), 401, "tokens now required");

    // Log out: back to the login page, and the session is gone on the server.
    browser.click("#logout").await;
    browser.visible("#login-form").await;
    browser.goto(&format!("{base}/#/keys")).await;
    browser.visible("#login-form").await;

    browser.stop().await;
    app.stop().await;
}
