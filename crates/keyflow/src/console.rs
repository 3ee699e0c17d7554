//! The web console (`/`, `/admin`) and the public dashboard (`/dashboard`):
//! hand-written HTML, CSS and JavaScript embedded in the binary, so a user
//! never runs a front-end build and the gateway works offline.
//!
//! Every file is served with its content type, `Cache-Control: no-cache` and
//! an `ETag` from a SHA-256 of its bytes: browsers revalidate on each load
//! (a new binary takes effect at once) and get `304 Not Modified` otherwise.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// The embedded files, by the name they have under `/assets/`.
const FILES: &[(&str, &[u8])] = &[
    ("index.html", include_bytes!("../assets/index.html")),
    ("dashboard.html", include_bytes!("../assets/dashboard.html")),
    ("console.css", include_bytes!("../assets/console.css")),
    ("console.js", include_bytes!("../assets/console.js")),
    ("api.js", include_bytes!("../assets/api.js")),
    ("ui.js", include_bytes!("../assets/ui.js")),
    ("i18n.js", include_bytes!("../assets/i18n.js")),
    ("charts.js", include_bytes!("../assets/charts.js")),
    ("page-overview.js", include_bytes!("../assets/page-overview.js")),
    ("page-keys.js", include_bytes!("../assets/page-keys.js")),
    ("keys-dialogs.js", include_bytes!("../assets/keys-dialogs.js")),
    ("page-models.js", include_bytes!("../assets/page-models.js")),
    ("page-logs.js", include_bytes!("../assets/page-logs.js")),
    ("page-stats.js", include_bytes!("../assets/page-stats.js")),
    ("page-settings.js", include_bytes!("../assets/page-settings.js")),
    ("settings-access.js", include_bytes!("../assets/settings-access.js")),
    ("dashboard.js", include_bytes!("../assets/dashboard.js")),
    ("favicon.svg", include_bytes!("../assets/favicon.svg")),
];

/// Pages get a strict policy: only this origin's scripts, styles and API.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    body: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|&(name, body)| Asset { name, body, content_type: content_type(name), etag: etag_of(body) })
        .collect()
});

/// The console and dashboard routes; merged into the app's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(console_page))
        .route("/admin", get(console_page))
        .route("/admin/", get(console_page))
        .route("/dashboard", get(dashboard_page))
        .route("/favicon.ico", get(favicon))
        .route("/assets/{file}", get(asset))
}

async fn console_page(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn dashboard_page(headers: HeaderMap) -> Response {
    serve("dashboard.html", &headers)
}

async fn favicon(headers: HeaderMap) -> Response {
    serve("favicon.svg", &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

/// The file `name` (or 404), honouring `If-None-Match`.
fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "no such file\n")
            .into_response();
    };
    let fresh =
        headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| etag_matches(v, &asset.etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let out = response.headers_mut();
    out.insert(header::ETAG, asset.etag.clone());
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if asset.content_type.starts_with("text/html") {
        out.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
        out.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        out.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    }
    response
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// A strong validator: the first 16 bytes of the SHA-256, in hex, quoted.
fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// `If-None-Match` semantics: `*`, or any listed tag equal to ours (weak
/// comparison, so a `W/` prefix added by a proxy still matches).
fn etag_matches(if_none_match: &str, etag: &HeaderValue) -> bool {
    let ours = etag.to_str().unwrap_or("");
    if_none_match.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_a_known_type_and_a_distinct_tag() {
        for asset in ASSETS.iter() {
            assert_ne!(asset.content_type, "application/octet-stream", "{}", asset.name);
            assert!(!asset.body.is_empty(), "{} is empty", asset.name);
        }
        let mut tags: Vec<_> = ASSETS.iter().map(|a| a.etag.clone()).collect();
        tags.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        tags.dedup();
        assert_eq!(tags.len(), ASSETS.len());
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let tag = etag_of(b"hello");
        let ours = tag.to_str().unwrap_or_default().to_string();
        assert!(etag_matches(&ours, &tag));
        assert!(etag_matches(&format!("\"nope\", W/{ours}"), &tag));
        assert!(etag_matches("*", &tag));
        assert!(!etag_matches("\"nope\"", &tag));
    }

    #[test]
    fn html_gets_a_policy_and_revalidation() {
        let response = serve("index.html", &HeaderMap::new());
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
        assert_eq!(headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()), Some("no-cache"));
        let mut conditional = HeaderMap::new();
        if let Some(tag) = headers.get(header::ETAG) {
            conditional.insert(header::IF_NONE_MATCH, tag.clone());
        }
        assert_eq!(serve("index.html", &conditional).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(serve("../Cargo.toml", &HeaderMap::new()).status(), StatusCode::NOT_FOUND);
    }
}
