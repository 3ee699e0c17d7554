//! Client tokens made in the console: name, scope (all models or free
//! only), an optional RPM limit and spend quota. The store keeps only a
//! hash of each token; the request path looks tokens up in memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

use crate::clock::now_secs;
use crate::store::{ClientTokenRecord, Store, StoreResult};
use crate::usage::meters::Meters;

#[derive(Debug)]
pub struct TokenInfo {
    pub id: i64,
    pub name: Arc<str>,
    pub free_only: bool,
    pub rpm_limit: Option<u32>,
    pub spend_quota: Option<f64>,
    /// Spend logged by every instance when the tokens were last read (CNY).
    base_spent: f64,
    /// This instance's metered spend for the token at that reading: only
    /// what it metered since adds to `base_spent`.
    metered_mark: f64,
    /// Requests in the current minute: `minute << 24 | count`.
    rpm_window: AtomicU64,
}

impl TokenInfo {
    /// Spend so far (CNY): the logged spend at the last reading plus what
    /// this instance metered since. Other instances' spend since arrives
    /// with the next reading (an announcement or the periodic reconcile).
    pub fn spent(&self, meters: &Meters) -> f64 {
        self.base_spent + (meters.client_spend(&self.name) - self.metered_mark).max(0.0)
    }

    /// Counts a request; false when the RPM limit is reached.
    pub fn admit(&self, minute: u64) -> bool {
        let Some(limit) = self.rpm_limit else { return true };
        self.rpm_window
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                let count = if w >> 24 == minute { w & 0xff_ffff } else { 0 };
                (count < u64::from(limit)).then_some(minute << 24 | (count + 1))
            })
            .is_ok()
    }
}

/// SHA-256 of a token, hex: how tokens are stored and looked up.
pub fn hash(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

#[derive(Default)]
pub struct ClientTokens {
    by_hash: ArcSwap<HashMap<String, Arc<TokenInfo>>>,
}

impl ClientTokens {
    /// Reads the tokens and their logged spend. RPM windows of tokens
    /// already known carry over, so a reload does not reset a limit.
    pub async fn load(&self, store: &dyn Store, meters: &Meters) -> StoreResult<()> {
        let records = store.load_client_tokens().await?;
        // Marks first: spend metered after them is not in the reading.
        let marks: HashMap<String, f64> =
            records.iter().map(|r| (r.name.clone(), meters.client_spend(&r.name))).collect();
        let spent: HashMap<String, f64> = store.spend_by_client().await?.into_iter().collect();
        let old = self.by_hash.load();
        let map = records
            .into_iter()
            .map(|r| {
                let mut token = info(&r, spent.get(&r.name).copied().unwrap_or(0.0));
                token.metered_mark = marks.get(&r.name).copied().unwrap_or(0.0);
                if let Some(known) = old.get(&r.token_hash).filter(|t| t.id == r.id) {
                    token.rpm_window.store(known.rpm_window.load(Ordering::Relaxed), Ordering::Relaxed);
                }
                (r.token_hash.clone(), Arc::new(token))
            })
            .collect();
        self.by_hash.store(Arc::new(map));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.load().is_empty()
    }

    pub fn find(&self, token: &str) -> Option<Arc<TokenInfo>> {
        let map = self.by_hash.load();
        // Most gateways have no console tokens: skip hashing then.
        if map.is_empty() {
            return None;
        }
        map.get(&hash(token)).cloned()
    }

    pub fn all(&self) -> Vec<Arc<TokenInfo>> {
        let mut all: Vec<_> = self.by_hash.load().values().cloned().collect();
        all.sort_by_key(|t| t.id);
        all
    }

    /// Creates a token; returns its value (shown once) and its record.
    pub async fn create(
        &self,
        store: &dyn Store,
        meters: &Meters,
        name: &str,
        free_only: bool,
        rpm_limit: Option<u32>,
        spend_quota: Option<f64>,
    ) -> StoreResult<(String, ClientTokenRecord)> {
        let value = format!("kf-{}", Alphanumeric.sample_string(&mut rand::rng(), 40));
        let mut record = ClientTokenRecord {
            id: 0,
            name: name.to_string(),
            token_hash: hash(&value),
            masked: crate::secret::mask(&value),
            scope: if free_only { "free" } else { "all" }.to_string(),
            rpm_limit,
            spend_quota,
            created_at: now_secs(),
        };
        record.id = store.insert_client_token(&record).await?;
        self.load(store, meters).await?;
        Ok((value, record))
    }

    pub async fn delete(&self, store: &dyn Store, meters: &Meters, id: i64) -> StoreResult<bool> {
        let found = store.delete_client_token(id).await?;
        self.load(store, meters).await?;
        Ok(found)
    }
}

fn info(r: &ClientTokenRecord, base_spent: f64) -> TokenInfo {
    TokenInfo {
        id: r.id,
        name: Arc::from(r.name.as_str()),
        free_only: r.scope == "free",
        rpm_limit: r.rpm_limit.filter(|l| *l > 0),
        spend_quota: r.spend_quota,
        base_spent,
        metered_mark: 0.0,
        rpm_window: AtomicU64::new(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_limit_admits_up_to_the_limit_per_minute() {
        let record = ClientTokenRecord {
            id: 1,
            name: "t".into(),
            token_hash: String::new(),
            masked: String::new(),
            scope: "all".into(),
            rpm_limit: Some(2),
            spend_quota: None,
            created_at: 0,
        };
        let t = info(&record, 0.0);
        assert!(t.admit(10) && t.admit(10));
        assert!(!t.admit(10));
        assert!(t.admit(11), "a new minute starts afresh");
    }
}
