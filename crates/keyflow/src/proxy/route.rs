//! The client routes: which upstream path each maps to and how it is served.

use http::Method;

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

/// The resource kinds that live inside one upstream account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinKind {
    File,
    Batch,
    Voice,
    Video,
}

impl PinKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PinKind::File => "file",
            PinKind::Batch => "batch",
            PinKind::Voice => "voice",
            PinKind::Video => "video",
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
    fn unknown_v1_paths_pass_through_and_others_are_not_ours() {
        let r = classify(&Method::POST, "/v1/something/new").expect("route");
        assert_eq!(r.kind, RouteKind::PassThrough);
        assert!(classify(&Method::GET, "/api/keys").is_none());
    }
}
