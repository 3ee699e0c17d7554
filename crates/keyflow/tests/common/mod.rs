//! What both black-box suites (`api`, `console`) start from: keyflow on
//! port 0 against keyflow-mock on port 0 with a temporary SQLite file.

use keyflow::config::Config;
use keyflow::App;
use keyflow_mock::{MockConfig, MockServer};

pub struct TestApp {
    pub app: Option<App>,
    pub mock: MockServer,
    pub url: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

/// A deterministic well-formed key for test number `i`.
pub fn test_key(i: usize) -> String {
    let mut n = i as u64 + 1;
    let letters: String = (0..48)
        .map(|_| {
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (b'a' + ((n >> 33) % 26) as u8) as char
        })
        .collect();
    format!("sk-{letters}")
}

pub fn base_config(upstream: &str, dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.bind = "127.0.0.1:0".parse().expect("addr");
    config.upstream_url = upstream.to_string();
    config.database_url = format!("sqlite://{}", dir.join("keyflow.db").display());
    config.runtime.auto_refresh_interval_secs = 0;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(MockConfig::default(), |_| {}).await
}

pub async fn spawn_app_with(mock_config: MockConfig, configure: impl FnOnce(&mut Config)) -> TestApp {
    let mock = MockServer::start(mock_config).await.expect("mock starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = base_config(&mock.url(), dir.path());
    configure(&mut config);
    let app = App::start(config).await.expect("keyflow starts");
    let url = app.url();
    TestApp { app: Some(app), mock, url, http: reqwest::Client::new(), dir }
}
