//! CORS for the client API. Browser chat front-ends (NextChat, LobeChat,
//! Open WebUI in the browser) call `/v1` from their own origin; a preflight
//! carries no token, so it is answered here before authentication. `/api`
//! and the console never answer CORS: their cookies must stay same-site.

use std::time::Duration;

use http::{HeaderValue, Method};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// The layer for `/v1`, from `CORS_ORIGINS` (`*` = any origin).
pub fn layer(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers(Any)
        .max_age(Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(Any);
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    layer.allow_origin(AllowOrigin::list(list))
}
