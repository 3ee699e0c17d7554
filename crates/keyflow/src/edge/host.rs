//! The `Host` check. A web page can rebind its own domain to `127.0.0.1`
//! and then talk to keyflow as a same-origin page: the browser sends that
//! domain as `Host`. So on a loopback bind (and whenever `ALLOWED_HOSTS` is
//! set) only loopback names, IP literals and the allowed names are served.
//! An IP literal is safe to serve: a browser sends it only to that address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Which `Host` names are served.
#[derive(Debug, Clone)]
pub struct HostGuard {
    enforced: bool,
    allowed: Arc<[String]>,
}

impl HostGuard {
    /// Enforced on loopback binds, or when the operator listed names.
    pub fn new(bind: SocketAddr, allowed: &[String]) -> HostGuard {
        HostGuard { enforced: bind.ip().is_loopback() || !allowed.is_empty(), allowed: allowed.into() }
    }

    /// Whether a request with this `Host` value may be served.
    pub fn admits(&self, host: Option<&str>) -> bool {
        if !self.enforced {
            return true;
        }
        // HTTP/1.0 clients may send no `Host`; browsers always send one.
        let Some(host) = host else { return true };
        let name = host_name(host);
        if name.parse::<IpAddr>().is_ok() {
            return true;
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name == "localhost" || name.ends_with(".localhost") || self.allowed.contains(&name)
    }
}

/// The name part of a `Host` value: without the port, IPv6 without brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Middleware: refuses requests addressed to a name keyflow does not serve.
pub async fn check_host(State(guard): State<HostGuard>, request: Request, next: Next) -> Response {
    let host = request.headers().get(http::header::HOST).map(|v| v.to_str().unwrap_or("\u{0}"));
    if guard.admits(host) {
        return next.run(request).await;
    }
    let shown: String = host.unwrap_or("").chars().filter(|c| !c.is_control()).take(100).collect();
    tracing::warn!(host = %shown, "refused a request for a host name keyflow does not serve");
    let message =
        format!("host `{shown}` is not served here; if keyflow is reached by this name, add it to ALLOWED_HOSTS");
    (http::StatusCode::FORBIDDEN, Json(json!({"error": {"code": "host_not_allowed", "message": message}})))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(allowed: &[&str]) -> HostGuard {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        HostGuard::new("127.0.0.1:7898".parse().expect("addr"), &allowed)
    }

    #[test]
    fn loopback_binds_serve_loopback_names_and_ip_literals_only() {
        let guard = loopback(&[]);
        for host in ["127.0.0.1:7898", "localhost:7898", "LOCALHOST", "[::1]:7898", "app.localhost", "10.0.0.5:7898"] {
            assert!(guard.admits(Some(host)), "{host}");
        }
        for host in ["evil.example.com", "evil.example.com:7898", "127.0.0.1.nip.io", "localhost.evil.com", ""] {
            assert!(!guard.admits(Some(host)), "{host}");
        }
        assert!(guard.admits(None));
    }

    #[test]
    fn allowed_hosts_extend_the_list_and_enforce_on_any_bind() {
        assert!(loopback(&["keyflow.example.com"]).admits(Some("Keyflow.Example.com:443")));
        let public = HostGuard::new("0.0.0.0:7898".parse().expect("addr"), &[]);
        assert!(public.admits(Some("anything.example.com")));
        let listed = HostGuard::new("0.0.0.0:7898".parse().expect("addr"), &["gw.example.com".to_string()]);
        assert!(listed.admits(Some("gw.example.com")) && !listed.admits(Some("other.example.com")));
    }
}
