//! The `/v1` caller once authenticated: the name its requests are logged
//! under, what it may call, and who it is to pinned resources. `proxy`
//! decides who it is; images through chat and the log read it.

use std::sync::Arc;

use crate::pins::Caller;

/// The caller, as far as `/v1` cares.
#[derive(Debug, Clone)]
pub struct Client {
    /// A display name for logs (`env:1`, `free:1`, or none when open).
    pub name: Option<Arc<str>>,
    pub free_only: bool,
    /// The admin (HTTP Basic credentials): sees every client's resources.
    pub admin: bool,
}

impl Client {
    /// Who this client is to pinned resources.
    pub fn caller(&self) -> Caller<'_> {
        if self.admin {
            Caller::Admin
        } else {
            Caller::Client(self.name.as_deref())
        }
    }
}
