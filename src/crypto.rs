//! Secrets at rest: AES-256-GCM sealing of merchants' Stripe keys, bound to the row they belong to.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;
use stripe_client::secret::Secret;

/// Seals and opens secrets with one 256-bit key. The output is `base64(nonce ‖ ciphertext)`.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> SecretBox {
        SecretBox {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// Parses a key given as 64 hex digits or base64 of 32 bytes.
    pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| e.to_string())?
        } else {
            B64.decode(text)
                .map_err(|_| "must be 32 bytes as 64 hex digits or base64".to_string())?
        };
        bytes
            .try_into()
            .map_err(|_| "must be exactly 32 bytes (64 hex digits or base64)".to_string())
    }

    /// Encrypts `plaintext`; `context` (e.g. the account id) must be given again to open it.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        B64.encode(out)
    }

    /// Decrypts what `seal` produced for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<Secret<String>, String> {
        let raw = B64
            .decode(sealed)
            .map_err(|_| "sealed value is not base64".to_string())?;
        if raw.len() < 12 + 16 {
            return Err("sealed value is too short".into());
        }
        let (nonce, ciphertext) = raw.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| "sealed value does not open with this key and context".to_string())?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| "sealed value is not UTF-8".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let sb = SecretBox::new(&[7u8; 32]);
        let sealed = sb.seal("sk_test_abc", "acct-1");
        assert!(!sealed.contains("sk_test_abc"));
        assert_eq!(sb.open(&sealed, "acct-1").unwrap().expose(), "sk_test_abc");
        assert!(sb.open(&sealed, "acct-2").is_err());
        assert!(SecretBox::new(&[8u8; 32]).open(&sealed, "acct-1").is_err());
        assert_ne!(sealed, sb.seal("sk_test_abc", "acct-1"), "nonces differ");
    }

    #[test]
    fn parses_hex_and_base64_keys() {
        assert_eq!(SecretBox::parse_key(&"ab".repeat(32)).unwrap(), [0xab; 32]);
        assert_eq!(
            SecretBox::parse_key(&B64.encode([1u8; 32])).unwrap(),
            [1; 32]
        );
        assert!(SecretBox::parse_key("short").is_err());
        assert!(SecretBox::parse_key(&B64.encode([1u8; 16])).is_err());
    }
}
