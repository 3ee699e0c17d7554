//! The model service: fills the catalogue (`catalog`) from upstream —
//! the full list, labelled per `sub_type` — and learns which models are
//! free by probing them with a key that has no balance.
//!
//! Both calls go through the one sender and read its verdicts. `/v1/models`,
//! images through chat and `/api/models` refresh a stale catalogue here;
//! the key service probes after each refresh.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::Value;

use crate::catalog::{label, Catalog, SUB_TYPES};
use crate::config::{RuntimeSettings, Strategy};
use crate::pool::{KeyPool, ModelClass, Pick};
use crate::secret::Secret;
use crate::store::writer::Writer;
use crate::store::KeyState;
use crate::upstream::{error_summary, read_body, Blame, Outbound, Reply, Upstream, Verdict};

/// Keys tried at most to fetch the catalogue.
const CATALOG_KEYS: usize = 5;
/// The catalogue is one JSON document; a model answer to a probe is tiny.
const LIST_LIMIT: usize = 16 << 20;

/// Sub-types whose models can be probed cheaply, with a minimal request.
const PROBES: &[(&str, &str)] =
    &[("chat", "/v1/chat/completions"), ("embedding", "/v1/embeddings"), ("reranker", "/v1/rerank")];

/// Why the catalogue could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("no usable key to read the model list with")]
    NoKey,
    /// Upstream's error answer (summarized, masked) or the lack of one.
    #[error("{0}")]
    Upstream(String),
    #[error("model list is not JSON")]
    NotJson,
}

/// The model service: the handles it reads and writes. Cheap to clone.
#[derive(Clone)]
pub struct Models {
    pub catalog: Arc<Catalog>,
    pub pool: Arc<KeyPool>,
    pub upstream: Arc<Upstream>,
    pub writer: Writer,
    pub settings: Arc<ArcSwap<RuntimeSettings>>,
    /// `FREE_MODEL_TEST_KEY`: the zero-balance key probes use first.
    pub test_key: Option<Secret>,
}

impl Models {
    /// The catalogue now, fetched again first when it is stale; on failure
    /// the stale list stays.
    pub async fn refresh_if_stale(&self) -> Result<(), CatalogError> {
        if self.catalog.is_stale() {
            self.refresh_catalog().await
        } else {
            Ok(())
        }
    }

    /// Fetches the model catalogue with any usable key and labels each
    /// model with its type. Concurrent callers fetch once.
    pub async fn refresh_catalog(&self) -> Result<(), CatalogError> {
        let _guard = self.catalog.refresh_lock().await;
        if !self.catalog.is_stale() {
            return Ok(());
        }
        let timeout = call_timeout(&self.settings.load());
        // Like any request, the fetch moves on to another key when one fails
        // (a dead key answers 401 here too).
        let mut tried = Vec::new();
        let mut last_error = CatalogError::NoKey;
        let (key, all) = loop {
            if tried.len() >= CATALOG_KEYS {
                return Err(last_error);
            }
            let pick = Pick {
                model: "",
                class: ModelClass::Free,
                exclude: &tried,
                session: None,
                strategy: Strategy::Random,
                rpm_limit: None,
            };
            let Some(lease) = self.pool.pick(&pick) else { return Err(last_error) };
            let (id, key) = (lease.key().id, lease.key().secret.clone());
            drop(lease);
            match self.fetch_list(&key, "/v1/models", timeout).await {
                Ok(all) => break (key, all),
                Err(e) => {
                    tracing::debug!(key = %key, error = %e, "model list fetch failed; trying another key");
                    last_error = e;
                    tried.push(id);
                }
            }
        };
        let mut by_sub = Vec::new();
        for (sub, _) in SUB_TYPES {
            let ids = self
                .fetch_list(&key, &format!("/v1/models?sub_type={sub}"), timeout)
                .await
                .map(|list| list.iter().filter_map(|m| m.get("id")?.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            by_sub.push((*sub, ids));
        }
        self.catalog.store(label(all, &by_sub));
        Ok(())
    }

    /// Learns which models are free by calling them with a key that has no
    /// balance (`FREE_MODEL_TEST_KEY`, else a `free` key of the pool): 200
    /// or 429 means free, 30001 means paid. Only models not classified yet
    /// are called, one minimal request each. Returns how many it learned.
    pub async fn probe_free_models(&self) -> Result<usize, CatalogError> {
        let key = match &self.test_key {
            Some(key) => key.clone(),
            None => match self.pool.snapshot().entries.iter().find(|e| e.enabled() && e.state() == KeyState::Free) {
                Some(entry) => entry.secret.clone(),
                None => return Ok(0),
            },
        };
        self.refresh_if_stale().await?;
        let settings = self.settings.load_full();
        let timeout = call_timeout(&settings);
        let targets: Vec<(String, &str, &str)> = self
            .catalog
            .data()
            .models
            .iter()
            .filter(|m| self.catalog.class_of(&m.id, &settings) == ModelClass::Unknown)
            .filter_map(|m| {
                let sub = m.sub_type.as_deref()?;
                PROBES.iter().find(|(s, _)| *s == sub).map(|(s, path)| (m.id.clone(), *s, *path))
            })
            .collect();
        let headers = http::HeaderMap::from_iter([(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )]);
        let mut learned = 0;
        for (model, sub_type, path) in targets {
            let body = bytes::Bytes::from(probe_body(sub_type, &model).to_string());
            let out = Outbound {
                method: http::Method::POST,
                path_and_query: path,
                headers: &headers,
                body,
                blame: Blame::Key,
            };
            match self.upstream.exchange(out, &key, timeout).await.verdict() {
                Verdict::Success | Verdict::RateLimited { .. } => self.catalog.learn(&self.writer, &model, true),
                Verdict::NoBalance => self.catalog.learn(&self.writer, &model, false),
                _ => continue,
            }
            learned += 1;
        }
        Ok(learned)
    }

    /// The `data` array of one `/v1/models` listing.
    async fn fetch_list(&self, key: &Secret, path: &str, timeout: Duration) -> Result<Vec<Value>, CatalogError> {
        let headers = http::HeaderMap::new();
        let body = match self.upstream.exchange(Outbound::get(path, &headers), key, timeout).await {
            Reply::Success(response) => {
                read_body(response, LIST_LIMIT, timeout).await.map_err(|e| CatalogError::Upstream(e.to_string()))?
            }
            Reply::Refused { status, body, .. } => return Err(CatalogError::Upstream(error_summary(status, &body))),
            Reply::Failed(e) => return Err(CatalogError::Upstream(e.to_string())),
        };
        let value: Value = serde_json::from_slice(&body).map_err(|_| CatalogError::NotJson)?;
        Ok(value.get("data").and_then(|d| d.as_array()).cloned().unwrap_or_default())
    }
}

/// How long one catalogue or probe call may wait.
fn call_timeout(settings: &RuntimeSettings) -> Duration {
    Duration::from_secs(settings.first_byte_timeout_secs.clamp(1, 60))
}

fn probe_body(sub_type: &str, model: &str) -> Value {
    match sub_type {
        "embedding" => serde_json::json!({"model": model, "input": "ping"}),
        "reranker" => serde_json::json!({"model": model, "query": "ping", "documents": ["ping"]}),
        _ => serde_json::json!({"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}),
    }
}
