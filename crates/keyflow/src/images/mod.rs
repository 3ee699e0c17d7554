//! Images through chat (SPEC §7, seed 004): a chat completion addressed to
//! an image model is answered by generating images.
//!
//! The last user message is the prompt; `pic:N` asks for N images and a
//! size, ratio or orientation word picks the size (`marker`, `size`, mapped
//! per model family by `family`). Banned words are refused before any call
//! (`request`). The prompt is expanded by a chat model through the pool
//! (`expand`), then the images are generated in parallel, one key each,
//! with normal failover (`generate`), optionally re-hosted (`rehost`), and
//! the answer is written as a chat completion, streamed live or whole
//! (`render`, `chat`).
//!
//! Architecture invariant: no `image_size` is sent that the family table
//! did not produce, and no image call is made for a refused prompt.

mod chat;
pub mod error;
mod expand;
pub mod family;
mod generate;
pub mod marker;
mod rehost;
mod render;
pub mod request;
pub mod size;

use http::{HeaderMap, HeaderValue};

pub use chat::serve_chat;
pub use error::{ImageError, Refusal};

use crate::state::AppState;

/// Whether a chat completion for `model` is served by generating images.
///
/// The catalogue decides for the models it lists (`text-to-image` and
/// `image-to-image`); a model it does not list is an image model when its
/// id names a known image family. Only for such names is a stale
/// catalogue refreshed first, so ordinary chat never waits on it.
pub async fn is_image_model(state: &AppState, model: &str) -> bool {
    if let Some(sub_type) = state.catalog.sub_type_of(model) {
        return is_image_sub_type(&sub_type);
    }
    if !family::is_image_name(model) {
        return false;
    }
    if state.catalog.is_stale() {
        if let Err(e) = state.models.refresh_catalog().await {
            tracing::debug!(error = %e, "catalogue refresh failed; judging the model by its name");
        }
        if let Some(sub_type) = state.catalog.sub_type_of(model) {
            return is_image_sub_type(&sub_type);
        }
    }
    true
}

fn is_image_sub_type(sub_type: &str) -> bool {
    matches!(sub_type, "text-to-image" | "image-to-image")
}

/// Headers for the upstream calls this feature makes: JSON, plus the
/// client's `user-agent` so upstream sees the same client as elsewhere.
fn upstream_headers(client: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(agent) = client.get(http::header::USER_AGENT) {
        headers.insert(http::header::USER_AGENT, agent.clone());
    }
    headers
}
