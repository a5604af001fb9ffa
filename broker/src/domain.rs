//! The registry's domain: device ids and device secrets.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use episante_kit::Invalid;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A device id: ASCII letters and digits, 1 to 64 (see `episante_protocol::is_valid_device_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId(String);

impl DeviceId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if episante_protocol::is_valid_device_id(raw) {
            Ok(DeviceId(raw.to_string()))
        } else {
            Err(Invalid(format!(
                "device id {raw:?} must be 1 to 64 ASCII letters or digits"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A fresh device secret (256 random bits, base64url).
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn secret_digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets() {
        assert!(DeviceId::parse("hub42").is_ok());
        for bad in ["", "hub-42", "a/b", "+", "x".repeat(65).as_str()] {
            assert!(DeviceId::parse(bad).is_err(), "{bad}");
        }
        let s = generate_secret();
        assert!(constant_time_eq(&secret_digest(&s), &secret_digest(&s)));
        assert!(!constant_time_eq(
            &secret_digest(&s),
            &secret_digest("other")
        ));
    }
}
