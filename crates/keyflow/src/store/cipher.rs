//! Encryption at rest of stored keys with `KEYFLOW_SECRET`.
//!
//! A stored key is `enc:v1:` + base64(nonce ‖ ChaCha20-Poly1305 ciphertext),
//! the cipher key being SHA-256 of the secret. Rows written before a secret
//! was set stay readable (plain) and are encrypted when the store opens.

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::secret::Secret;

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 12;

pub struct SecretCipher {
    cipher: ChaCha20Poly1305,
}

impl SecretCipher {
    pub fn new(secret: &Secret) -> SecretCipher {
        let key = Sha256::digest(secret.expose().as_bytes());
        SecretCipher { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) }
    }

    pub fn encrypt(&self, plain: &str) -> Result<String, StoreError> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .map_err(|_| StoreError::Secret("encrypting a key failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)))
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, StoreError> {
        let Some(encoded) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_string()) };
        let wrong = || StoreError::Secret("KEYFLOW_SECRET does not match the secret the keys were stored with".into());
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded).map_err(|_| wrong())?;
        if bytes.len() <= NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| wrong())?;
        String::from_utf8(plain).map_err(|_| wrong())
    }
}

pub fn is_encrypted(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

/// Reads a stored key with or without a cipher.
pub fn reveal(cipher: Option<&SecretCipher>, stored: &str) -> Result<String, StoreError> {
    match cipher {
        Some(c) => c.decrypt(stored),
        None if is_encrypted(stored) => {
            Err(StoreError::Secret("the stored keys are encrypted: start keyflow with the same KEYFLOW_SECRET".into()))
        }
        None => Ok(stored.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_wrong_secret() {
        let cipher = SecretCipher::new(&Secret::new("s3cret"));
        let sealed = cipher.encrypt("sk-abc").expect("encrypt");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("sk-abc"));
        assert_eq!(cipher.decrypt(&sealed).expect("decrypt"), "sk-abc");
        assert_ne!(cipher.encrypt("sk-abc").expect("encrypt"), sealed, "fresh nonce each time");
        let other = SecretCipher::new(&Secret::new("other"));
        assert!(other.decrypt(&sealed).is_err());
        assert!(reveal(None, &sealed).is_err());
        assert_eq!(reveal(None, "sk-plain").expect("plain"), "sk-plain");
    }
}
