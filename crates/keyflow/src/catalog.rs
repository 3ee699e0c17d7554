//! The upstream model catalogue, cached, with what keyflow learned about
//! each model's price class (free or paid).
//!
//! Upstream's `/v1/models` entries carry no type, so the catalogue is read
//! once per `sub_type` to label every model; client filters then work on
//! the cache without upstream calls.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::Serialize;
use serde_json::Value;

use crate::config::RuntimeSettings;
use crate::pool::ModelClass;
use crate::store::writer::{WriteOp, Writer};
use crate::store::{ModelFact, Store};

/// `sub_type` → `type`, as SiliconFlow documents them.
pub const SUB_TYPES: &[(&str, &str)] = &[
    ("chat", "text"),
    ("embedding", "text"),
    ("reranker", "text"),
    ("text-to-image", "image"),
    ("image-to-image", "image"),
    ("speech-to-text", "audio"),
    ("text-to-speech", "audio"),
    ("text-to-video", "video"),
];

/// How long a fetched catalogue is served before it is fetched again.
pub const CATALOG_TTL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub sub_type: Option<String>,
    /// The entry exactly as upstream listed it.
    #[serde(skip)]
    pub raw: Value,
}

#[derive(Default)]
pub struct CatalogData {
    pub models: Vec<ModelInfo>,
    pub fetched_at: Option<Instant>,
}

#[derive(Default)]
pub struct Catalog {
    data: ArcSwap<CatalogData>,
    /// Learned price classes: `true` free, `false` paid.
    facts: RwLock<HashMap<String, bool>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl Catalog {
    pub fn data(&self) -> Arc<CatalogData> {
        self.data.load_full()
    }

    pub fn is_stale(&self) -> bool {
        self.data.load().fetched_at.is_none_or(|at| at.elapsed() > CATALOG_TTL)
    }

    pub fn load_facts(&self, facts: Vec<ModelFact>) {
        let mut map = self.facts.write();
        for f in facts {
            if let Some(free) = f.free {
                map.insert(f.model, free);
            }
        }
    }

    pub fn fact(&self, model: &str) -> Option<bool> {
        self.facts.read().get(model).copied()
    }

    /// Free or paid: the operator's `FREE_MODELS` first, then what traffic
    /// and probes taught, then the `Pro/` prefix (always paid).
    pub fn class_of(&self, model: &str, settings: &RuntimeSettings) -> ModelClass {
        if settings.free_models.iter().any(|m| m == model) {
            return ModelClass::Free;
        }
        match self.fact(model) {
            Some(true) => ModelClass::Free,
            Some(false) => ModelClass::Paid,
            None if model.starts_with("Pro/") => ModelClass::Paid,
            None => ModelClass::Unknown,
        }
    }

    /// Records a learned price class (persisted behind).
    pub fn learn(&self, writer: &Writer, model: &str, free: bool) {
        let changed = self.facts.write().insert(model.to_string(), free) != Some(free);
        if changed {
            tracing::info!(model, free, "learned model price class");
            writer.send(WriteOp::ModelFact(ModelFact {
                model: model.to_string(),
                free: Some(free),
                updated_at: crate::clock::now_secs(),
            }));
        }
    }

    /// The `sub_type` of a model, if the catalogue knows it.
    pub fn sub_type_of(&self, model: &str) -> Option<String> {
        self.data.load().models.iter().find(|m| m.id == model).and_then(|m| m.sub_type.clone())
    }

    /// Makes the next read fetch the catalogue again.
    pub fn mark_stale(&self) {
        let models = self.data.load().models.clone();
        self.data.store(Arc::new(CatalogData { models, fetched_at: None }));
    }

    pub fn store(&self, models: Vec<ModelInfo>) {
        self.data.store(Arc::new(CatalogData { models, fetched_at: Some(Instant::now()) }));
    }

    /// Serializes refreshes so concurrent callers fetch once.
    pub async fn refresh_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.refreshing.lock().await
    }
}

/// Builds the labelled catalogue from the full list and per-sub_type lists.
pub fn label(all: Vec<Value>, by_sub_type: &[(&str, Vec<String>)]) -> Vec<ModelInfo> {
    all.into_iter()
        .filter_map(|raw| {
            let id = raw.get("id")?.as_str()?.to_string();
            let sub_type = by_sub_type.iter().find(|(_, ids)| ids.contains(&id)).map(|(s, _)| s.to_string());
            let kind =
                sub_type.as_deref().and_then(|s| SUB_TYPES.iter().find(|(st, _)| *st == s)).map(|(_, t)| t.to_string());
            Some(ModelInfo { id, kind, sub_type, raw })
        })
        .collect()
}

/// Loads persisted facts at start.
pub async fn load(catalog: &Catalog, store: &dyn Store) -> crate::store::StoreResult<()> {
    catalog.load_facts(store.load_model_facts().await?);
    Ok(())
}
