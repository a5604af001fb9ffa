//! Protecting patient identity at rest.
//!
//! - [`key_wrapper`]: who holds the key-encryption key — Vault transit (production) or a local
//!   master key file (dev only, logged loudly).
//! - [`envelope`]: envelope encryption of PII fields with AES-256-GCM data keys, wrapped by the
//!   key wrapper and stored beside each row; data keys are reused within limits and unwrapped keys
//!   cached so Vault is not on every request's path.
//! - [`blind_index`]: keyed HMACs of normalised names and national ids, so records can be found by
//!   them without storing them in clear.

pub mod blind_index;
pub mod envelope;
pub mod key_wrapper;

pub use blind_index::BlindIndex;
pub use envelope::{PiiCipher, Sealed};
pub use key_wrapper::KeyWrapper;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// Length of every symmetric key here (AES-256, HMAC-SHA-256).
pub const KEY_LEN: usize = 32;

/// `KEY_LEN` fresh random bytes.
pub fn random_key() -> [u8; KEY_LEN] {
    episante_kit::vault::random_bytes()
}

pub(crate) fn decode_key(encoded: &str) -> anyhow::Result<[u8; KEY_LEN]> {
    let bytes = B64.decode(encoded.trim())?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("a key must be {KEY_LEN} bytes"))
}

/// Reads a base64 key from a 0600 file, creating it with fresh random bytes if absent.
pub(crate) fn load_or_create_key_file(path: &std::path::Path) -> anyhow::Result<[u8; KEY_LEN]> {
    match std::fs::read_to_string(path) {
        Ok(text) => decode_key(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let key = random_key();
            episante_kit::private_file::write_private_file(path, B64.encode(key).as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}
