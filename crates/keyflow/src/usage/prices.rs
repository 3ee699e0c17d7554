//! The price table and its service: CNY per million tokens, per image, per
//! million characters; held in memory for the ingest task, stored in the
//! database and seeded with SiliconFlow's list prices for common models.
//! Changes go through [`Prices::set`] and [`Prices::remove`], which check
//! them, store them and reload the table.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::clock::now_secs;
use crate::store::{ModelPrice, Store, StoreError, StoreResult};

/// Seeded on first start (CNY; SiliconFlow's public price list, 2025–26).
/// Free models cost 0 and need no entry. (model, input/M, output/M, per image, per M chars)
const DEFAULT_PRICES: &[(&str, f64, f64, f64, f64)] = &[
    ("deepseek-ai/DeepSeek-V3", 2.0, 8.0, 0.0, 0.0),
    ("Pro/deepseek-ai/DeepSeek-V3", 2.0, 8.0, 0.0, 0.0),
    ("deepseek-ai/DeepSeek-R1", 4.0, 16.0, 0.0, 0.0),
    ("Pro/deepseek-ai/DeepSeek-R1", 4.0, 16.0, 0.0, 0.0),
    ("deepseek-ai/DeepSeek-V3.1", 4.0, 12.0, 0.0, 0.0),
    ("Pro/Qwen/Qwen2.5-7B-Instruct", 0.35, 0.35, 0.0, 0.0),
    ("Qwen/Qwen2.5-14B-Instruct", 0.7, 0.7, 0.0, 0.0),
    ("Qwen/Qwen2.5-32B-Instruct", 1.26, 1.26, 0.0, 0.0),
    ("Qwen/Qwen2.5-72B-Instruct", 4.13, 4.13, 0.0, 0.0),
    ("Qwen/Qwen3-14B", 0.5, 2.0, 0.0, 0.0),
    ("Qwen/Qwen3-32B", 1.0, 4.0, 0.0, 0.0),
    ("Qwen/Qwen3-235B-A22B", 2.5, 10.0, 0.0, 0.0),
    ("Qwen/QwQ-32B", 1.0, 4.0, 0.0, 0.0),
    ("moonshotai/Kimi-K2-Instruct", 4.0, 16.0, 0.0, 0.0),
    ("zai-org/GLM-4.5", 3.5, 14.0, 0.0, 0.0),
    ("Qwen/Qwen3-Embedding-8B", 0.28, 0.0, 0.0, 0.0),
    ("Qwen/Qwen3-Reranker-8B", 0.28, 0.0, 0.0, 0.0),
    ("Qwen/Qwen-Image", 0.0, 0.0, 0.3, 0.0),
    ("black-forest-labs/FLUX.1-dev", 0.0, 0.0, 0.14, 0.0),
    ("black-forest-labs/FLUX.1-schnell", 0.0, 0.0, 0.02, 0.0),
    ("FunAudioLLM/CosyVoice2-0.5B", 0.0, 0.0, 0.0, 105.0),
];

#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("prices must be finite numbers ≥ 0 (CNY)")]
    OutOfRange,
    #[error("no price for `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Default)]
pub struct Prices {
    map: ArcSwap<HashMap<String, ModelPrice>>,
}

/// What one request used, for pricing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Units {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub images: u32,
    pub input_chars: u64,
}

impl Prices {
    /// Loads the table, seeding the defaults into an empty one.
    pub async fn load(&self, store: &dyn Store) -> StoreResult<()> {
        let mut rows = store.load_prices().await?;
        if rows.is_empty() {
            for (model, input, output, image, chars) in DEFAULT_PRICES {
                let price = ModelPrice {
                    model: model.to_string(),
                    input_per_m: *input,
                    output_per_m: *output,
                    per_image: *image,
                    per_m_chars: *chars,
                };
                store.save_price(&price, now_secs()).await?;
                rows.push(price);
            }
        }
        self.replace(rows);
        Ok(())
    }

    /// Checks and stores one model's price, then reloads the table (which
    /// also picks up changes another instance made).
    pub async fn set(&self, store: &dyn Store, price: &ModelPrice) -> Result<(), PriceError> {
        let values = [price.input_per_m, price.output_per_m, price.per_image, price.per_m_chars];
        if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(PriceError::OutOfRange);
        }
        store.save_price(price, now_secs()).await?;
        self.replace(store.load_prices().await?);
        Ok(())
    }

    /// Deletes a model's price (the model then costs nothing) and reloads the table.
    pub async fn remove(&self, store: &dyn Store, model: &str) -> Result<(), PriceError> {
        if !store.delete_price(model).await? {
            return Err(PriceError::NotFound(model.to_string()));
        }
        self.replace(store.load_prices().await?);
        Ok(())
    }

    /// Every price, by model name.
    pub fn sorted(&self) -> Vec<ModelPrice> {
        let mut items: Vec<ModelPrice> = self.map.load().values().cloned().collect();
        items.sort_by(|a, b| a.model.cmp(&b.model));
        items
    }

    pub fn replace(&self, rows: Vec<ModelPrice>) {
        self.map.store(Arc::new(rows.into_iter().map(|p| (p.model.clone(), p)).collect()));
    }

    pub fn get(&self, model: &str) -> Option<ModelPrice> {
        self.map.load().get(model).cloned()
    }

    pub fn all(&self) -> Arc<HashMap<String, ModelPrice>> {
        self.map.load_full()
    }

    /// Estimated cost in CNY; a model without a price costs 0.
    pub fn cost(&self, model: &str, units: Units) -> f64 {
        let map = self.map.load();
        let Some(p) = map.get(model) else { return 0.0 };
        units.prompt_tokens as f64 * p.input_per_m / 1e6
            + units.completion_tokens as f64 * p.output_per_m / 1e6
            + f64::from(units.images) * p.per_image
            + units.input_chars as f64 * p.per_m_chars / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_adds_every_unit() {
        let prices = Prices::default();
        prices.replace(vec![ModelPrice {
            model: "m".into(),
            input_per_m: 2.0,
            output_per_m: 8.0,
            per_image: 0.5,
            per_m_chars: 100.0,
        }]);
        let units = Units { prompt_tokens: 1_000_000, completion_tokens: 500_000, images: 2, input_chars: 10_000 };
        assert!((prices.cost("m", units) - (2.0 + 4.0 + 1.0 + 1.0)).abs() < 1e-9);
        assert_eq!(prices.cost("unknown", units), 0.0);
    }

    #[tokio::test]
    async fn set_checks_stores_and_reloads_and_remove_says_when_nothing_was_there(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = crate::store::open(&format!("sqlite://{}", dir.path().join("p.db").display())).await?;
        let prices = Prices::default();
        let price = |input_per_m| ModelPrice {
            model: "m".into(),
            input_per_m,
            output_per_m: 1.0,
            per_image: 0.0,
            per_m_chars: 0.0,
        };
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(prices.set(store.as_ref(), &price(bad)).await, Err(PriceError::OutOfRange)));
        }
        assert!(store.load_prices().await?.is_empty(), "a refused price is not stored");
        prices.set(store.as_ref(), &price(3.0)).await?;
        assert_eq!(prices.sorted(), [price(3.0)]);
        assert_eq!(store.load_prices().await?, [price(3.0)]);
        prices.remove(store.as_ref(), "m").await?;
        assert!(prices.get("m").is_none());
        let again = prices.remove(store.as_ref(), "m").await;
        assert_eq!(again.err().map(|e| e.to_string()).as_deref(), Some("no price for `m`"));
        Ok(())
    }
}
