//! What travels between instances: a topic name (`keys`, `settings`, …,
//! sent by the database's triggers), one pin (`pin KIND ID`, also from a
//! trigger), or a message an instance sends itself: `cooldown {json}` and
//! `login {json}`, each naming the sender so it skips its own.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::pins::{Caller, PinKind};
use crate::pool::{Scope, Trip};
use crate::state::AppState;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Topic(String),
    Pin { kind: PinKind, id: String },
    Cooldown(CooldownMessage),
    Login(LoginMessage),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CooldownMessage {
    from: String,
    /// The account id, when the key's account is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    /// Otherwise the key's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<i64>,
    model: String,
    wait_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginMessage {
    from: String,
    ip: IpAddr,
}

const TOPICS: &[&str] = &["keys", "settings", "tokens", "sessions", "prices", "models", "pins"];

impl Message {
    pub fn parse(text: &str) -> Option<Message> {
        let (head, rest) = text.split_once(' ').unwrap_or((text, ""));
        match head {
            "pin" => {
                let (kind, id) = rest.split_once(' ')?;
                Some(Message::Pin { kind: crate::pins::kind_of(kind)?, id: id.to_string() })
            }
            "cooldown" => serde_json::from_str(rest).ok().map(Message::Cooldown),
            "login" => serde_json::from_str(rest).ok().map(Message::Login),
            topic if rest.is_empty() && TOPICS.contains(&topic) => Some(Message::Topic(topic.to_string())),
            _ => None,
        }
    }

    pub fn cooldown(state: &AppState, trip: &Trip) -> String {
        let (account, key) = match &trip.scope {
            Scope::Account(account) => (Some(account.to_string()), None),
            Scope::Key(id) => (None, Some(*id)),
        };
        let message = CooldownMessage {
            from: state.membership.instance.to_string(),
            account,
            key,
            model: trip.model.to_string(),
            wait_ms: trip.wait.as_millis().min(u128::from(u64::MAX)) as u64,
        };
        format!("cooldown {}", serde_json::to_string(&message).unwrap_or_default())
    }

    pub fn login(state: &AppState, ip: IpAddr) -> String {
        let message = LoginMessage { from: state.membership.instance.to_string(), ip };
        format!("login {}", serde_json::to_string(&message).unwrap_or_default())
    }

    /// Applies a message that is not a topic to reload.
    pub async fn apply(self, state: &AppState) {
        let me = &*state.membership.instance;
        match self {
            Message::Topic(_) => {}
            Message::Pin { kind, id } => {
                // Found through the store and kept, for list unions.
                if let Err(e) = state.pins.find(state.store.as_ref(), kind, &id, Caller::Admin).await {
                    tracing::debug!(error = %e, "reading an announced pin failed");
                }
            }
            Message::Cooldown(m) if m.from != me => {
                let scope = match (m.account, m.key) {
                    (Some(account), _) => Scope::Account(Arc::from(account)),
                    (None, Some(id)) => Scope::Key(id),
                    (None, None) => return,
                };
                let trip = Trip { scope, model: Arc::from(m.model), wait: Duration::from_millis(m.wait_ms) };
                state.pool.cooldowns().adopt(trip);
            }
            Message::Login(m) if m.from != me => state.logins.heard(m.ip),
            Message::Cooldown(_) | Message::Login(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_triggers_and_instances_send() {
        assert_eq!(Message::parse("keys"), Some(Message::Topic("keys".into())));
        assert_eq!(
            Message::parse("pin file file-abc"),
            Some(Message::Pin { kind: PinKind::File, id: "file-abc".into() })
        );
        let text = r#"cooldown {"from":"a","account":"acct","model":"m","wait_ms":60000}"#;
        let Some(Message::Cooldown(m)) = Message::parse(text) else { panic!("a cool-down") };
        assert_eq!((m.account.as_deref(), m.key, m.wait_ms), (Some("acct"), None, 60_000));
        let Some(Message::Login(m)) = Message::parse(r#"login {"from":"b","ip":"10.0.0.7"}"#) else {
            panic!("a login")
        };
        assert_eq!(m.ip.to_string(), "10.0.0.7");
        assert_eq!(Message::parse("dinner"), None);
        assert_eq!(Message::parse("pin spaceship x"), None);
        assert_eq!(Message::parse("cooldown {broken"), None);
    }
}
