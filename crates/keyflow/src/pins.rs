//! Key affinity: which key created each file, batch, voice and video job,
//! and for which client token.
//!
//! Held in memory for the request path and stored before the create answer
//! leaves, so pins survive restarts and every instance sharing the database
//! can use an id as soon as the client has it.
//! With client tokens configured a resource belongs to the token that
//! created it: another token is told it does not exist, and list unions
//! show each token its own.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use crate::store::writer::{WriteOp, Writer};
use crate::store::{KeyId, Pin, Store, StoreResult};

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

/// Who asks about a resource.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// A client token (its display name), or `None` on an open gateway
    /// (where nobody presents a token, so everyone sees everything).
    Client(Option<&'a str>),
    /// The admin sees every resource.
    Admin,
}

#[derive(Debug, Clone)]
struct Owner {
    key_id: KeyId,
    /// The token that created it; `None` for resources made on an open
    /// gateway or before owners were recorded, which every caller may use.
    client: Option<Arc<str>>,
}

impl Owner {
    fn visible_to(&self, caller: Caller<'_>) -> bool {
        match (caller, &self.client) {
            // No identity: an open gateway, where every caller is the same.
            (Caller::Admin | Caller::Client(None), _) | (_, None) => true,
            (Caller::Client(Some(who)), Some(owner)) => who == &**owner,
        }
    }
}

/// How long a create answer may wait for its pin to be stored.
pub const DURABLE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Default)]
pub struct Pins {
    map: RwLock<HashMap<(&'static str, String), Owner>>,
}

impl Pins {
    pub fn load(&self, pins: Vec<Pin>) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        for pin in pins {
            if let Some(kind) = kind_of(&pin.kind) {
                let owner = Owner { key_id: pin.key_id, client: pin.owner.map(Arc::from) };
                map.insert((kind.as_str(), pin.resource_id), owner);
            }
        }
    }

    fn get(&self, kind: PinKind, id: &str) -> Option<Owner> {
        self.map.read().unwrap_or_else(PoisonError::into_inner).get(&(kind.as_str(), id.to_string())).cloned()
    }

    /// The key owning a resource the caller may use, asking the store when
    /// this instance has not seen the id (another instance may have created
    /// it). Only misses reach the store. Someone else's resource is `None`,
    /// exactly like an unknown one.
    pub async fn find(
        &self,
        store: &dyn Store,
        kind: PinKind,
        id: &str,
        caller: Caller<'_>,
    ) -> StoreResult<Option<KeyId>> {
        let owner = match self.get(kind, id) {
            Some(owner) => owner,
            None => {
                let Some(pin) = store.find_pin(kind.as_str(), id).await? else { return Ok(None) };
                let owner = Owner { key_id: pin.key_id, client: pin.owner.map(Arc::from) };
                self.map
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert((kind.as_str(), id.to_string()), owner.clone());
                owner
            }
        };
        Ok(owner.visible_to(caller).then_some(owner.key_id))
    }

    /// Whether the caller may see resource `id` in a list.
    pub fn visible(&self, kind: PinKind, id: &str, caller: Caller<'_>) -> bool {
        self.get(kind, id).is_some_and(|owner| owner.visible_to(caller))
    }

    /// Records who created a resource, durably before the create answer
    /// leaves: another instance may be asked for the id a moment later.
    /// A database that does not answer within [`DURABLE_WAIT`] gets the pin
    /// written behind instead, so a create never stalls for long.
    pub async fn record(
        &self,
        store: &dyn Store,
        writer: &Writer,
        kind: PinKind,
        id: &str,
        key_id: KeyId,
        client: Option<Arc<str>>,
    ) {
        let owner = Owner { key_id, client: client.clone() };
        self.map.write().unwrap_or_else(PoisonError::into_inner).insert((kind.as_str(), id.to_string()), owner);
        let pin = Pin {
            kind: kind.as_str().to_string(),
            resource_id: id.to_string(),
            key_id,
            created_at: crate::clock::now_secs(),
            owner: client.map(|c| c.to_string()),
        };
        match tokio::time::timeout(DURABLE_WAIT, store.insert_pins(std::slice::from_ref(&pin))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, kind = kind.as_str(), "storing a pin failed; writing it behind");
                writer.send(WriteOp::Pin(pin));
            }
            Err(_) => {
                tracing::warn!(kind = kind.as_str(), "the database did not store a pin in time; writing it behind");
                writer.send(WriteOp::Pin(pin));
            }
        }
    }

    /// Keys owning at least one resource of `kind` the caller may see, for
    /// list unions.
    pub fn owners(&self, kind: PinKind, caller: Caller<'_>) -> Vec<KeyId> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let owners: HashSet<KeyId> = map
            .iter()
            .filter(|((k, _), owner)| *k == kind.as_str() && owner.visible_to(caller))
            .map(|(_, owner)| owner.key_id)
            .collect();
        let mut owners: Vec<KeyId> = owners.into_iter().collect();
        owners.sort_unstable();
        owners
    }
}

pub fn kind_of(name: &str) -> Option<PinKind> {
    match name {
        "file" => Some(PinKind::File),
        "batch" => Some(PinKind::Batch),
        "voice" => Some(PinKind::Voice),
        "video" => Some(PinKind::Video),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_belong_to_their_token() {
        let pins = Pins::default();
        pins.load(vec![
            Pin { kind: "file".into(), resource_id: "f-a".into(), key_id: 1, created_at: 0, owner: Some("a".into()) },
            Pin { kind: "file".into(), resource_id: "f-b".into(), key_id: 2, created_at: 0, owner: Some("b".into()) },
            Pin { kind: "file".into(), resource_id: "f-old".into(), key_id: 3, created_at: 0, owner: None },
        ]);
        let a = Caller::Client(Some("a"));
        assert!(pins.visible(PinKind::File, "f-a", a));
        assert!(!pins.visible(PinKind::File, "f-b", a));
        assert!(pins.visible(PinKind::File, "f-old", a));
        assert_eq!(pins.owners(PinKind::File, a), vec![1, 3]);
        assert_eq!(pins.owners(PinKind::File, Caller::Admin), vec![1, 2, 3]);
        assert!(pins.visible(PinKind::File, "f-b", Caller::Client(None)), "an open gateway has no identities");
    }
}
