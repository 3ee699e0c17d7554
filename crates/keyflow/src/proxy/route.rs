//! The client routes: which upstream path each maps to and how it is served.

use http::Method;

use crate::pins::PinKind;
use crate::upstream::Blame;

/// How a client route is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Forwarded with a pool key; JSON body with `model` (chat, embeddings...).
    Inference,
    /// Forwarded with a pool key; the body is not JSON (multipart, binary).
    Opaque,
    /// Creates a resource owned by the key that served it (pinned afterwards).
    Create(PinKind),
    /// About an existing resource: goes to the key that owns it.
    Owned(PinKind),
    /// Lists a resource kind: the union over the keys that own some.
    List(PinKind),
    /// `GET /v1/models`: the cached catalogue.
    Models,
    /// `GET /v1/user/info`: pool totals.
    UserInfo,
    BillingSubscription,
    BillingUsage,
    /// Any other `/v1/*` path: forwarded with a pool key.
    PassThrough,
}

impl RouteKind {
    /// What a 401 from upstream can mean on this route. Inference, opaque
    /// and create routes involve no credential but the key, so it is dead;
    /// elsewhere the client's own request may cause one (an unknown path,
    /// another account's resource) and the key is only re-validated.
    pub fn blame(self) -> Blame {
        match self {
            RouteKind::Inference | RouteKind::Opaque | RouteKind::Create(_) => Blame::Key,
            _ => Blame::KeyOrClient,
        }
    }
}

/// A classified client request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub kind: RouteKind,
    /// The canonical upstream path (aliases resolved), without query.
    pub upstream_path: String,
    /// For `Owned` routes addressed by path (`/v1/batches/{id}`), the id.
    pub path_id: Option<String>,
}

impl Route {
    fn new(kind: RouteKind, path: &str) -> Route {
        Route { kind, upstream_path: path.to_string(), path_id: None }
    }
}

/// Why a client path is refused before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path `{0}` leaves /v1/ (dot segments, encoded slashes or empty segments); send a plain /v1/... path")]
    Escapes(String),
    #[error("the path `{0}` holds a malformed percent escape or a control character")]
    Malformed(String),
}

/// Checks that a client path stays under `/v1/` whatever upstream (or the
/// URL parser on the way) makes of it: every segment, percent-decoded, is
/// neither `.` nor `..`, holds no `/`, `\` or control character, and is not
/// empty (a trailing slash aside). Linear in the path.
pub fn check_path(path: &str) -> Result<(), PathError> {
    let shown = || path.chars().filter(|c| !c.is_control()).take(200).collect::<String>();
    let Some(rest) = path.strip_prefix("/v1/") else { return Err(PathError::Escapes(shown())) };
    let n_segments = rest.split('/').count();
    for (i, segment) in rest.split('/').enumerate() {
        if segment.is_empty() && i + 1 < n_segments {
            return Err(PathError::Escapes(shown()));
        }
        check_segment(segment, shown)?;
    }
    Ok(())
}

/// One segment, percent-decoded on the fly (this runs on every request, so
/// nothing is allocated): no `.`/`..`, no `/`, `\` or control character.
fn check_segment(segment: &str, shown: impl Fn() -> String) -> Result<(), PathError> {
    let bytes = segment.as_bytes();
    let (mut i, mut n_decoded, mut all_dots) = (0, 0, true);
    while i < bytes.len() {
        let byte = if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let decoded = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(decoded) = decoded else { return Err(PathError::Malformed(shown())) };
            i += 3;
            decoded
        } else {
            i += 1;
            bytes[i - 1]
        };
        if byte.is_ascii_control() {
            return Err(PathError::Malformed(shown()));
        }
        if matches!(byte, b'/' | b'\\') {
            return Err(PathError::Escapes(shown()));
        }
        all_dots &= byte == b'.';
        n_decoded += 1;
    }
    if all_dots && matches!(n_decoded, 1 | 2) {
        return Err(PathError::Escapes(shown()));
    }
    Ok(())
}

/// Maps a method and path to its route; `None` for paths outside `/v1/`.
pub fn classify(method: &Method, path: &str) -> Option<Route> {
    if !path.starts_with("/v1/") {
        return None;
    }
    let post = method == Method::POST;
    let get = method == Method::GET;
    let route = match path {
        "/v1/chat/completions"
        | "/v1/completions"
        | "/v1/messages"
        | "/v1/embeddings"
        | "/v1/rerank"
        | "/v1/images/generations"
        | "/v1/audio/speech"
            if post =>
        {
            Route::new(RouteKind::Inference, path)
        }
        "/v1/image/generations" if post => Route::new(RouteKind::Inference, "/v1/images/generations"),
        "/v1/audio/transcriptions" if post => Route::new(RouteKind::Opaque, path),
        "/v1/uploads/audio/voice" | "/v1/audio/reference" if post => {
            Route::new(RouteKind::Create(PinKind::Voice), "/v1/uploads/audio/voice")
        }
        "/v1/audio/voice/list" | "/v1/audio/reference" if get => {
            Route::new(RouteKind::List(PinKind::Voice), "/v1/audio/voice/list")
        }
        "/v1/audio/voice/deletions" | "/v1/audio/reference/delete" if post => {
            Route::new(RouteKind::Owned(PinKind::Voice), "/v1/audio/voice/deletions")
        }
        "/v1/video/submit" | "/v1/video/generations" if post => {
            Route::new(RouteKind::Create(PinKind::Video), "/v1/video/submit")
        }
        "/v1/video/status" if post => Route::new(RouteKind::Owned(PinKind::Video), path),
        "/v1/files" if post => Route::new(RouteKind::Create(PinKind::File), path),
        "/v1/files" if get => Route::new(RouteKind::List(PinKind::File), path),
        "/v1/batches" if post => Route::new(RouteKind::Create(PinKind::Batch), path),
        "/v1/batches" if get => Route::new(RouteKind::List(PinKind::Batch), path),
        "/v1/models" | "/v1/user/models" if get => Route::new(RouteKind::Models, "/v1/models"),
        "/v1/user/info" if get => Route::new(RouteKind::UserInfo, path),
        "/v1/dashboard/billing/subscription" if get => Route::new(RouteKind::BillingSubscription, path),
        "/v1/dashboard/billing/usage" if get => Route::new(RouteKind::BillingUsage, path),
        _ => return Some(classify_with_id(path).unwrap_or_else(|| Route::new(RouteKind::PassThrough, path))),
    };
    Some(route)
}

/// `/v1/batches/{id}`, `/v1/batches/{id}/cancel`, `/v1/files/{id}...`.
fn classify_with_id(path: &str) -> Option<Route> {
    let (kind, rest) = if let Some(rest) = path.strip_prefix("/v1/batches/") {
        (PinKind::Batch, rest)
    } else if let Some(rest) = path.strip_prefix("/v1/files/") {
        (PinKind::File, rest)
    } else {
        return None;
    };
    let id = rest.split('/').next().filter(|id| !id.is_empty())?;
    Some(Route { kind: RouteKind::Owned(kind), upstream_path: path.to_string(), path_id: Some(id.to_string()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_canonical_paths() {
        let r = classify(&Method::POST, "/v1/image/generations").expect("route");
        assert_eq!(r.upstream_path, "/v1/images/generations");
        let r = classify(&Method::GET, "/v1/audio/reference").expect("route");
        assert_eq!(r.kind, RouteKind::List(PinKind::Voice));
        let r = classify(&Method::POST, "/v1/audio/reference").expect("route");
        assert_eq!(r.kind, RouteKind::Create(PinKind::Voice));
        assert_eq!(r.upstream_path, "/v1/uploads/audio/voice");
        let r = classify(&Method::POST, "/v1/video/generations").expect("route");
        assert_eq!(r.upstream_path, "/v1/video/submit");
        let r = classify(&Method::GET, "/v1/user/models").expect("route");
        assert_eq!(r.kind, RouteKind::Models);
    }

    #[test]
    fn ids_in_paths_are_owned_routes() {
        let r = classify(&Method::POST, "/v1/batches/batch_abc/cancel").expect("route");
        assert_eq!(r.kind, RouteKind::Owned(PinKind::Batch));
        assert_eq!(r.path_id.as_deref(), Some("batch_abc"));
        assert_eq!(r.upstream_path, "/v1/batches/batch_abc/cancel");
    }

    #[test]
    fn paths_that_leave_v1_are_refused() {
        for path in [
            "/v1/../admin",
            "/v1/%2e%2e/admin",
            "/v1/%2E%2e/x",
            "/v1/files/%2fetc",
            "/v1/a/./b",
            "/v1//x",
            "/v1/a%5c..%5cb/..",
            "/v1/a%5cb",
            "/v1/%",
            "/v1/%zz",
            "/v1/a%00b",
            "/v2/x",
        ] {
            assert!(check_path(path).is_err(), "{path}");
        }
        for path in ["/v1/chat/completions", "/v1/files/file-abc/content", "/v1/batches/", "/v1/a%20b", "/v1/x.y..z"] {
            assert_eq!(check_path(path), Ok(()), "{path}");
        }
    }

    /// Failover reads a route's kind to decide what a 401 means, and sends
    /// the canonical path: both must name the same kind of route.
    #[test]
    fn canonical_paths_keep_their_route_kind() {
        for (method, path) in [
            (Method::POST, "/v1/image/generations"),
            (Method::POST, "/v1/audio/reference"),
            (Method::POST, "/v1/audio/reference/delete"),
            (Method::POST, "/v1/video/generations"),
            (Method::POST, "/v1/video/status"),
            (Method::POST, "/v1/audio/transcriptions"),
            (Method::POST, "/v1/files"),
            (Method::POST, "/v1/batches"),
            (Method::GET, "/v1/files/file-1/content"),
            (Method::POST, "/v1/batches/batch_1/cancel"),
            (Method::POST, "/v1/chat/completions"),
            (Method::GET, "/v1/something/new"),
        ] {
            let route = classify(&method, path).expect("route");
            let canonical = classify(&method, &route.upstream_path).expect("canonical route");
            assert_eq!(canonical.kind, route.kind, "{method} {path}");
        }
    }

    #[test]
    fn unknown_v1_paths_pass_through_and_others_are_not_ours() {
        let r = classify(&Method::POST, "/v1/something/new").expect("route");
        assert_eq!(r.kind, RouteKind::PassThrough);
        assert!(classify(&Method::GET, "/api/keys").is_none());
    }
}
