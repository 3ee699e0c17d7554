//! Login attempts are rate limited on the server; the console says so
//! instead of claiming the password is wrong.

use crate::browser::{Browser, Screen};
use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_wrong_passwords_are_refused_with_a_message() {
    let mut app = spawn_app().await;
    let browser = Browser::start(Screen::Desktop).await;
    browser.goto(&format!("{}/", app.url)).await;
    let mut limited = false;
    for attempt in 0..8 {
        browser.fill("#login-username", "admin").await;
        browser.fill("#login-password", &format!("wrong-{attempt}")).await;
        browser.click("#login-submit").await;
        let message = browser
            .until_js(
                "an answer to the login",
                "const el = document.querySelector('#login-error'); \
                 return !el.hidden && !document.querySelector('#login-submit').disabled ? el.textContent : '';",
                vec![],
            )
            .await;
        let message = message.as_str().unwrap_or_default().to_string();
        if message.contains("Too many attempts") {
            assert!(message.contains("try again in"), "the server's reason is shown: {message}");
            limited = true;
            break;
        }
        assert!(message.contains("Wrong username or password"), "attempt {attempt}: {message}");
        // A fresh message per attempt: clear it so the next answer is seen.
        browser.js("document.querySelector('#login-error').hidden = true;", vec![]).await;
    }
    assert!(limited, "no rate limit after 8 wrong passwords");
    browser.stop().await;
    app.stop().await;
}
