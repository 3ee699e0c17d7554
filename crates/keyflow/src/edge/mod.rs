//! The client-facing edge: the HTTP server loop with its timeouts and
//! connection cap (`serve`), request bodies that must keep arriving
//! (`body`), and the `Host` check that defeats DNS rebinding (`host`).
//!
//! Everything here runs before a handler sees a request, so a client that
//! never finishes its headers or its body, or a web page that rebinds a
//! domain to `127.0.0.1`, costs keyflow a bounded amount and reaches nothing.

pub mod body;
pub mod cors;
pub mod host;
pub mod serve;

pub use host::HostGuard;
pub use serve::{serve, ServeLimits};
