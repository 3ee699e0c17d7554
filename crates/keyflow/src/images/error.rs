//! Why images through chat refuses a request. `/v1` renders these as its
//! own errors (`proxy::error`), so this feature does not reach into the
//! handler that calls it.

use crate::usage::{ErrorCounts, Usage};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The chat request cannot be read as an image request.
    #[error("{0}")]
    BadRequest(String),
    /// The prompt (as written, or expanded) holds this banned word.
    #[error("the prompt contains a banned word (`{0}`)")]
    ContentPolicy(String),
    /// No key may serve the image model now.
    #[error("{0}")]
    NoKey(String),
    #[error("{0}")]
    Internal(String),
}

/// A refused request, with what was spent before the refusal (a prompt
/// expansion is paid for) so the request's one log entry shows it.
#[derive(Debug)]
pub struct Refusal {
    pub error: ImageError,
    pub usage: Option<Usage>,
    pub upstream_errors: ErrorCounts,
}

impl From<ImageError> for Refusal {
    fn from(error: ImageError) -> Refusal {
        Refusal { error, usage: None, upstream_errors: ErrorCounts::default() }
    }
}
