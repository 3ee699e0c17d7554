//! The less travelled controls: bulk actions on a selection, balance
//! refresh with its progress bar, paging, banning a model, editing a price,
//! clearing the logs, and a password change that ends the session.

use std::time::Duration;

use serde_json::json;

use crate::browser::{eventually, Browser, Screen};
use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_actions_models_logs_and_password() {
    let mut app = spawn_app().await;
    let keys = app.upstream_keys(40, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    app.import(&keys).await;
    app.put_settings(json!({"page_size": 4})).await;
    let browser = Browser::start(Screen::Desktop).await;
    browser.login(&app.url, "admin").await;

    // Paging on the server, at the `page_size` setting until the operator picks a size.
    browser.page("keys", ".keys-table tbody tr[data-id]").await;
    browser.text_contains(".pager", "Page 1 of 2").await;
    assert_eq!(browser.count_at_least(".keys-table tbody tr[data-id]", 4).await, 4);
    browser.click(".pager button:last-child").await;
    browser.text_contains(".pager", "Page 2 of 2").await;
    browser.visible(".keys-table tr[data-id='5']").await;
    browser.choose("main select[name='size']", "25").await;
    browser.count_at_least(".keys-table tbody tr[data-id]", 6).await;
    // Sorting on the server: the ID column flips to descending.
    browser.click(".keys-table th[aria-sort] button").await;
    browser
        .until_js(
            "keys sorted by id, descending",
            "const first = document.querySelector('.keys-table tbody tr[data-id]'); return first && first.dataset.id === '6';",
            vec![],
        )
        .await;

    // Select two keys, disable them in bulk; the server agrees.
    browser.click(".keys-table tr[data-id='2'] input[type='checkbox']").await;
    browser.click(".keys-table tr[data-id='3'] input[type='checkbox']").await;
    browser.text_contains(".bulkbar", "2 selected").await;
    browser.click(".bulkbar [data-bulk='disable']").await;
    browser.visible(".keys-table tr[data-id='3'][data-state='disabled']").await;
    browser.visible(".keys-table tr[data-id='2'][data-state='disabled']").await;
    let rows = app.admin_get("/api/keys?state=disabled").await;
    assert_eq!(rows["total"], 2, "{rows}");

    // Refresh the selection: a progress bar, then the summary.
    browser.click(".bulkbar [data-bulk='refresh']").await;
    browser.visible(".progress-box .progress").await;
    browser.text_contains(".progress-box", "2 / 2").await;

    // Delete the selection after confirming.
    browser.click(".bulkbar [data-bulk='delete']").await;
    browser.click("dialog[open] [data-confirm='ok']").await;
    browser
        .until_js(
            "keys 2 and 3 gone",
            "return document.querySelectorAll('.keys-table tbody tr[data-id]').length === 4 && \
             !document.querySelector(\".keys-table tr[data-id='2']\");",
            vec![],
        )
        .await;
    assert_eq!(app.admin_get("/api/keys").await["total"], 4);

    // Refresh all.
    browser.click("[data-action='refresh-all']").await;
    browser.text_contains(".progress-box", "4 / 4").await;

    // Import from a file, without the upstream check.
    let file_key = crate::helpers::test_key(77);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.txt");
    std::fs::write(&file, format!("{file_key}(3.00)\n")).expect("write keys file");
    browser.click("[data-action='import']").await;
    let input = browser.visible("dialog[open] input[type='file']").await;
    input.send_keys(&file.display().to_string()).await.expect("choose the file");
    browser
        .until_js(
            "the file read into the text box",
            "return document.querySelector(\"textarea[data-field='keys']\").value.includes(arguments[0]);",
            vec![json!(file_key)],
        )
        .await;
    browser.click("dialog[open] .check-label input[type='checkbox']").await;
    browser.click("[data-action='do-import']").await;
    browser.text_contains("[data-count='added']", "1").await;
    browser.close_dialog().await;
    assert_eq!(app.admin_get("/api/keys").await["total"], 5);

    // Models: ban one with its switch, give another a price.
    browser.page("models", ".models-table").await;
    let model = "Qwen/Qwen3-8B";
    browser.click(&format!("tr[data-model='{model}'] input.switch")).await;
    eventually("the ban saved", Duration::from_secs(5), || async {
        let settings = app.admin_get("/api/settings").await;
        settings["ban_models"].as_array().is_some_and(|list| list.iter().any(|m| m == model)).then_some(())
    })
    .await;
    browser.click(&format!("tr[data-model='{model}'] button")).await;
    browser.fill("dialog[open] input[name='input_per_m']", "1.5").await;
    browser.fill("dialog[open] input[name='output_per_m']", "2").await;
    browser.click("dialog[open] button[type='submit']").await;
    browser.text_contains(&format!("tr[data-model='{model}']"), "¥1.50").await;
    let prices = app.admin_get("/api/models/prices").await;
    let price = prices["items"].as_array().expect("items").iter().find(|p| p["model"] == model).cloned();
    assert_eq!(price.map(|p| (p["input_per_m"].clone(), p["output_per_m"].clone())), Some((json!(1.5), json!(2.0))));

    // Logs: clear all after confirming.
    assert_eq!(app.chat("Qwen/Qwen2.5-7B-Instruct", None).await.status(), 200);
    eventually("a log row", Duration::from_secs(5), || async {
        (app.admin_get("/api/logs").await["total"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    browser.page("logs", ".logs-table").await;
    browser.count_at_least(".logs-table tbody tr[data-id]", 1).await;
    browser.click("[data-action='clear-logs']").await;
    browser.click("dialog[open] [data-confirm='ok']").await;
    browser.visible(".logs-table td.empty").await;
    assert_eq!(app.admin_get("/api/logs").await["total"], 0);

    // Password: a wrong current one is refused in place; the right one ends the session.
    browser.page("settings", "#password").await;
    browser.fill("#password input[name='current']", "wrong").await;
    browser.fill("#password input[name='new']", "a-new-password").await;
    browser.fill("#password input[name='again']", "a-new-password").await;
    browser.click("#password button[type='submit']").await;
    browser.text_contains("#password [role='alert']", "current password").await;
    browser.fill("#password input[name='current']", "admin").await;
    browser.click("#password button[type='submit']").await;
    browser.visible("#login-form").await;
    browser.text_contains("#login-error", "Password changed").await;
    browser.login(&app.url, "a-new-password").await;

    browser.stop().await;
    app.stop().await;
}
