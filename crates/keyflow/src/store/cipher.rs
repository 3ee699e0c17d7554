//! Sealing stored secrets (pool keys, secret settings) with `KEYFLOW_SECRET`.
//!
//! A sealed value is `enc:v2:` + base64(nonce ‖ ChaCha20-Poly1305 ciphertext).
//! The cipher key is PBKDF2-HMAC-SHA256 of the secret over a random salt
//! that the database stores once (the settings row [`KDF_ROW`]); the
//! associated data names the row the value belongs to, so a value copied
//! into another row does not open. `enc:v1:` values (unsalted SHA-256 key,
//! no associated data) and plain values still open; the store reseals them
//! as v2 when it opens.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::rand_core::RngCore;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::secret::Secret;

const V1: &str = "enc:v1:";
const V2: &str = "enc:v2:";
const NONCE_LEN: usize = 12;
const SALT_LEN: usize = 32;
/// PBKDF2 rounds for new databases. The count is stored beside the salt, so
/// raising it later leaves existing databases readable.
const ROUNDS: u32 = 300_000;
/// Fewer rounds than this in a stored record means a tampered record.
const MIN_ROUNDS: u32 = 100_000;
/// The settings-table row holding `pbkdf2-sha256$ROUNDS$SALT$CHECK`.
pub const KDF_ROW: &str = "cipher_kdf";
/// What the check value of the KDF row seals: opening it proves the secret.
const CHECK_PLAIN: &str = "keyflow";
/// The settings row holding the runtime settings JSON.
pub const RUNTIME_ROW: &str = "runtime";
/// JSON pointers of the secret fields of the stored runtime settings: the
/// ones `config::RuntimeSettings::redacted` hides (keep the two in step).
const SETTINGS_SECRETS: &[&str] = &["/guest_password", "/image/lsky_token", "/image/shortlink_api_key"];

fn wrong_secret() -> StoreError {
    StoreError::Secret("KEYFLOW_SECRET does not match the secret the stored secrets were sealed with".into())
}

/// The error when sealed values are stored but no secret was given.
pub fn needs_secret() -> StoreError {
    StoreError::Secret("the stored keys or settings are encrypted: start keyflow with the same KEYFLOW_SECRET".into())
}

/// The associated data of a pool key's sealed value: its fingerprint column.
pub fn key_row(fingerprint: &str) -> String {
    format!("keys/{fingerprint}")
}

/// The associated data of a secret field of a settings row.
fn setting_row(row: &str, pointer: &str) -> String {
    format!("settings/{row}{pointer}")
}

pub struct SecretCipher {
    /// The PBKDF2-derived cipher: seals and opens v2.
    current: ChaCha20Poly1305,
    /// SHA-256 of the secret: opens v1 values until they are resealed.
    legacy: ChaCha20Poly1305,
}

impl SecretCipher {
    /// Derives the cipher. Slow on purpose (PBKDF2): call it off the async
    /// workers, as [`unlock`] and [`create`] do.
    fn derive(secret: &Secret, salt: &[u8], rounds: u32) -> SecretCipher {
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(secret.expose().as_bytes(), salt, rounds, &mut key);
        let legacy = Sha256::digest(secret.expose().as_bytes());
        SecretCipher {
            current: ChaCha20Poly1305::new(Key::from_slice(&key)),
            legacy: ChaCha20Poly1305::new(Key::from_slice(&legacy)),
        }
    }

    /// Seals `plain` as v2, bound to `row`.
    pub fn seal(&self, plain: &str, row: &str) -> Result<String, StoreError> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .current
            .encrypt(&nonce, Payload { msg: plain.as_bytes(), aad: row.as_bytes() })
            .map_err(|_| StoreError::Secret("sealing a stored secret failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{V2}{}", STANDARD_NO_PAD.encode(bytes)))
    }

    /// Opens a stored value of `row`: v2, v1, or plain (returned as it is).
    pub fn open(&self, stored: &str, row: &str) -> Result<String, StoreError> {
        let (cipher, aad, encoded) = if let Some(encoded) = stored.strip_prefix(V2) {
            (&self.current, row.as_bytes(), encoded)
        } else if let Some(encoded) = stored.strip_prefix(V1) {
            (&self.legacy, &[][..], encoded)
        } else {
            return Ok(stored.to_string());
        };
        let bytes = STANDARD_NO_PAD.decode(encoded).map_err(|_| wrong_secret())?;
        if bytes.len() <= NONCE_LEN {
            return Err(wrong_secret());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain =
            cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad }).map_err(|_| wrong_secret())?;
        String::from_utf8(plain).map_err(|_| wrong_secret())
    }
}

/// Whether a stored value is sealed (any version).
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(V1) || stored.starts_with(V2)
}

/// Whether a stored value is sealed in the current format.
pub fn is_current(stored: &str) -> bool {
    stored.starts_with(V2)
}

/// Reads a stored value with or without a cipher; sealed without one is an error.
pub fn reveal(cipher: Option<&SecretCipher>, stored: &str, row: &str) -> Result<String, StoreError> {
    match cipher {
        Some(c) => c.open(stored, row),
        None if is_sealed(stored) => Err(needs_secret()),
        None => Ok(stored.to_string()),
    }
}

/// Derives on a blocking thread: PBKDF2 takes long enough to stall a worker.
async fn derive(secret: &Secret, salt: Vec<u8>, rounds: u32) -> Result<SecretCipher, StoreError> {
    let secret = secret.clone();
    tokio::task::spawn_blocking(move || SecretCipher::derive(&secret, &salt, rounds))
        .await
        .map_err(|e| StoreError::Secret(format!("deriving the encryption key failed: {e}")))
}

/// Opens the cipher a stored [`KDF_ROW`] record describes; a secret other
/// than the one the record was made with is an error.
pub async fn unlock(secret: &Secret, record: &str) -> Result<SecretCipher, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("the `{KDF_ROW}` setting is not pbkdf2-sha256$ROUNDS$SALT$CHECK"));
    let parts: Vec<&str> = record.split('$').collect();
    let [scheme, rounds, salt, check] = parts.as_slice() else { return Err(corrupt()) };
    let rounds: u32 = rounds.parse().map_err(|_| corrupt())?;
    let salt = STANDARD_NO_PAD.decode(salt).map_err(|_| corrupt())?;
    if *scheme != "pbkdf2-sha256" || rounds < MIN_ROUNDS || salt.len() < 16 || !check.starts_with(V2) {
        return Err(corrupt());
    }
    let cipher = derive(secret, salt, rounds).await?;
    match cipher.open(check, KDF_ROW) {
        Ok(plain) if plain == CHECK_PLAIN => Ok(cipher),
        _ => Err(wrong_secret()),
    }
}

fn fresh_salt() -> Vec<u8> {
    let mut salt = vec![0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    salt
}

/// A new random salt, its cipher and the [`KDF_ROW`] record to store.
pub async fn create(secret: &Secret) -> Result<(SecretCipher, String), StoreError> {
    let salt = fresh_salt();
    let encoded = STANDARD_NO_PAD.encode(&salt);
    let cipher = derive(secret, salt, ROUNDS).await?;
    let check = cipher.seal(CHECK_PLAIN, KDF_ROW)?;
    Ok((cipher, format!("pbkdf2-sha256${ROUNDS}${encoded}${check}")))
}

/// Applies `each` to every present string secret field of a settings JSON
/// document; `None` when the document is not JSON (stored as it is).
fn map_setting_secrets(
    json: &str,
    row: &str,
    mut each: impl FnMut(&str, &str) -> Result<Option<String>, StoreError>,
) -> Result<Option<String>, StoreError> {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(json) else { return Ok(None) };
    let mut changed = false;
    for pointer in SETTINGS_SECRETS {
        if let Some(field) = value.pointer_mut(pointer) {
            if let Some(text) = field.as_str() {
                if let Some(next) = each(text, &setting_row(row, pointer))? {
                    *field = serde_json::Value::String(next);
                    changed = true;
                }
            }
        }
    }
    if !changed {
        return Ok(Some(json.to_string()));
    }
    serde_json::to_string(&value).map(Some).map_err(|e| StoreError::Corrupt(format!("settings `{row}`: {e}")))
}

/// The settings JSON to store: its secret fields sealed (those not sealed
/// in the current format yet), each bound to its row and field.
pub fn seal_settings(cipher: &SecretCipher, json: &str, row: &str) -> Result<String, StoreError> {
    let sealed = map_setting_secrets(json, row, |text, field_row| {
        if is_current(text) {
            return Ok(None);
        }
        let plain = cipher.open(text, field_row)?;
        cipher.seal(&plain, field_row).map(Some)
    })?;
    Ok(sealed.unwrap_or_else(|| json.to_string()))
}

/// The stored settings JSON with its secret fields opened.
pub fn open_settings(cipher: Option<&SecretCipher>, json: &str, row: &str) -> Result<String, StoreError> {
    let opened = map_setting_secrets(json, row, |text, field_row| {
        if !is_sealed(text) {
            return Ok(None);
        }
        reveal(cipher, text, field_row).map(Some)
    })?;
    Ok(opened.unwrap_or_else(|| json.to_string()))
}

/// Whether a stored settings JSON holds a sealed field (which needs the secret).
pub fn settings_sealed(json: &str) -> bool {
    let mut sealed = false;
    let _ = map_setting_secrets(json, RUNTIME_ROW, |text, _| {
        sealed |= is_sealed(text);
        Ok(None)
    });
    sealed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuntimeSettings;

    /// A fast cipher for tests that do not exercise the KDF itself.
    fn cipher(secret: &str) -> SecretCipher {
        SecretCipher::derive(&Secret::new(secret), b"0123456789abcdef", 1)
    }

    /// The old format: SHA-256 of the secret as the key, no associated data.
    fn seal_v1(secret: &str, plain: &str) -> String {
        let key = Sha256::digest(secret.as_bytes());
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut bytes = nonce.to_vec();
        bytes.extend(cipher.encrypt(&nonce, plain.as_bytes()).expect("encrypt"));
        format!("{V1}{}", STANDARD_NO_PAD.encode(bytes))
    }

    #[test]
    fn round_trips_and_refuses_a_wrong_secret() {
        let c = cipher("s3cret");
        let sealed = c.seal("sk-abc", "keys/f1").expect("seal");
        assert!(sealed.starts_with(V2) && !sealed.contains("sk-abc"));
        assert_eq!(c.open(&sealed, "keys/f1").expect("open"), "sk-abc");
        assert_ne!(c.seal("sk-abc", "keys/f1").expect("seal"), sealed, "fresh nonce each time");
        assert!(cipher("other").open(&sealed, "keys/f1").is_err());
        assert!(reveal(None, &sealed, "keys/f1").is_err());
        assert_eq!(reveal(None, "sk-plain", "keys/f1").expect("plain"), "sk-plain");
    }

    #[test]
    fn a_value_moved_to_another_row_does_not_open() {
        let c = cipher("s3cret");
        let sealed = c.seal("sk-abc", &key_row("f1")).expect("seal");
        let error = c.open(&sealed, &key_row("f2")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("does not match"), "{error}");
    }

    #[test]
    fn the_salt_changes_the_key() {
        let secret = Secret::new("s3cret");
        let a = SecretCipher::derive(&secret, b"0123456789abcdef", 1);
        let b = SecretCipher::derive(&secret, b"fedcba9876543210", 1);
        let sealed = a.seal("sk-abc", "r").expect("seal");
        assert!(b.open(&sealed, "r").is_err(), "same secret, other salt: other key");
    }

    #[test]
    fn v1_values_still_open() {
        let c = cipher("s3cret");
        let old = seal_v1("s3cret", "sk-old");
        assert!(is_sealed(&old) && !is_current(&old));
        assert_eq!(c.open(&old, "keys/any").expect("v1 opens"), "sk-old");
        assert!(cipher("other").open(&old, "keys/any").is_err());
    }

    #[tokio::test]
    async fn the_kdf_record_checks_the_secret() {
        let secret = Secret::new("s3cret");
        let (created, record) = create(&secret).await.expect("create");
        assert!(record.starts_with(&format!("pbkdf2-sha256${ROUNDS}$")) && !record.contains("s3cret"), "{record}");
        let unlocked = unlock(&secret, &record).await.expect("the same secret unlocks");
        let sealed = created.seal("sk-abc", "r").expect("seal");
        assert_eq!(unlocked.open(&sealed, "r").expect("open"), "sk-abc");
        let wrong = unlock(&Secret::new("other"), &record).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(wrong.contains("does not match"), "{wrong}");
        let weak = record.replacen(&ROUNDS.to_string(), "1000", 1);
        assert!(matches!(unlock(&secret, &weak).await, Err(StoreError::Corrupt(_))), "too few rounds refused");
        assert_ne!(fresh_salt(), fresh_salt(), "a fresh salt each time");
    }

    #[test]
    fn settings_secrets_are_sealed_per_field() {
        let c = cipher("s3cret");
        let mut settings = RuntimeSettings { guest_password: Some("guest-pass-123".into()), ..Default::default() };
        settings.image.lsky_token = Some("lsky-token-abcdefgh".into());
        settings.image.lsky_url = Some("https://lsky.example".into());
        let json = serde_json::to_string(&settings).expect("json");
        let sealed = seal_settings(&c, &json, RUNTIME_ROW).expect("seal");
        assert!(!sealed.contains("guest-pass-123") && !sealed.contains("lsky-token-abcdefgh"), "{sealed}");
        assert!(sealed.contains("https://lsky.example") && settings_sealed(&sealed));
        assert_eq!(seal_settings(&c, &sealed, RUNTIME_ROW).expect("again"), sealed, "sealed fields stay as they are");
        let opened = open_settings(Some(&c), &sealed, RUNTIME_ROW).expect("open");
        assert_eq!(serde_json::from_str::<RuntimeSettings>(&opened).expect("settings"), settings);
        assert!(open_settings(None, &sealed, RUNTIME_ROW).is_err(), "sealed settings need the secret");
        assert!(open_settings(Some(&c), &sealed, "other").is_err(), "bound to the row");

        // A field moved onto another field does not open either.
        let mut value: serde_json::Value = serde_json::from_str(&sealed).expect("json");
        value["guest_password"] = value["image"]["lsky_token"].clone();
        assert!(open_settings(Some(&c), &value.to_string(), RUNTIME_ROW).is_err());

        let plain = serde_json::to_string(&RuntimeSettings::default()).expect("json");
        assert!(!settings_sealed(&plain));
        assert_eq!(seal_settings(&c, "not json", RUNTIME_ROW).expect("kept"), "not json");
    }
}
