//! Key affinity: which key created each file, batch, voice and video job.
//!
//! Held in memory for the request path and written behind to the store, so
//! pins survive restarts and reach other instances sharing the database.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use crate::jobs::writer::{WriteOp, Writer};
use crate::proxy::route::PinKind;
use crate::store::{KeyId, Pin, Store, StoreResult};

#[derive(Default)]
pub struct Pins {
    map: RwLock<HashMap<(&'static str, String), KeyId>>,
}

impl Pins {
    pub fn load(&self, pins: Vec<Pin>) {
        let Ok(mut map) = self.map.write() else { return };
        for pin in pins {
            if let Some(kind) = kind_of(&pin.kind) {
                map.insert((kind.as_str(), pin.resource_id), pin.key_id);
            }
        }
    }

    pub fn get(&self, kind: PinKind, id: &str) -> Option<KeyId> {
        self.map.read().ok()?.get(&(kind.as_str(), id.to_string())).copied()
    }

    /// The owner, asking the store when this instance has not seen the id
    /// (another instance may have created it). Only misses reach the store.
    pub async fn find(&self, store: &dyn Store, kind: PinKind, id: &str) -> StoreResult<Option<KeyId>> {
        if let Some(key) = self.get(kind, id) {
            return Ok(Some(key));
        }
        let found = store.find_pin(kind.as_str(), id).await?;
        if let (Some(pin), Ok(mut map)) = (&found, self.map.write()) {
            map.insert((kind.as_str(), id.to_string()), pin.key_id);
        }
        Ok(found.map(|p| p.key_id))
    }

    pub fn record(&self, writer: &Writer, kind: PinKind, id: &str, key_id: KeyId) {
        if let Ok(mut map) = self.map.write() {
            map.insert((kind.as_str(), id.to_string()), key_id);
        }
        writer.send(WriteOp::Pin(Pin {
            kind: kind.as_str().to_string(),
            resource_id: id.to_string(),
            key_id,
            created_at: crate::store::now_secs(),
        }));
    }

    /// Keys owning at least one resource of `kind`, for list unions.
    pub fn owners(&self, kind: PinKind) -> Vec<KeyId> {
        let Ok(map) = self.map.read() else { return Vec::new() };
        let owners: HashSet<KeyId> =
            map.iter().filter(|((k, _), _)| *k == kind.as_str()).map(|(_, key)| *key).collect();
        let mut owners: Vec<KeyId> = owners.into_iter().collect();
        owners.sort_unstable();
        owners
    }
}

fn kind_of(name: &str) -> Option<PinKind> {
    match name {
        "file" => Some(PinKind::File),
        "batch" => Some(PinKind::Batch),
        "voice" => Some(PinKind::Voice),
        "video" => Some(PinKind::Video),
        _ => None,
    }
}
