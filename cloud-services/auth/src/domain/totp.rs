//! TOTP second factor (RFC 6238: HMAC-SHA-1, 6 digits, 30 s steps — what every authenticator app
//! supports), on `totp-rs`.
//!
//! A code is accepted for the current step and one step either side (clock drift), and for a step
//! later than the last one accepted for the user only (`users.mfa_last_step`, RFC 6238 §5.2):
//! an observed code cannot be replayed.

use totp_rs::{Algorithm, TOTP};

const DIGITS: usize = 6;
const STEP_SECS: u64 = 30;
/// 160 bits, RFC 4226's recommended secret length.
const SECRET_BYTES: usize = 20;

/// A user's TOTP secret (plaintext: only ever in memory; sealed at rest by `mfa_key`).
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn generate() -> TotpSecret {
        TotpSecret(episante_kit::vault::random_bytes::<SECRET_BYTES>().to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> TotpSecret {
        TotpSecret(bytes)
    }

    /// From the base32 form an app is given (`None` if it is not base32).
    pub fn from_base32(encoded: &str) -> Option<TotpSecret> {
        totp_rs::Secret::Encoded(encoded.trim().to_uppercase())
            .to_bytes()
            .ok()
            .map(TotpSecret)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self) -> TOTP {
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 1, STEP_SECS, self.0.clone())
    }

    /// Base32 (RFC 4648, no padding), what apps accept for manual entry.
    pub fn base32(&self) -> String {
        self.totp().get_secret_base32()
    }

    /// `otpauth://totp/Issuer:account?secret=…&issuer=…` (Key Uri Format).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", encode(issuer), encode(account));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            self.base32(),
            encode(issuer)
        )
    }

    /// The code of time step `step`.
    pub fn code_at_step(&self, step: u64) -> String {
        self.totp().generate(step * STEP_SECS)
    }

    /// The time step `code` is valid for at `unix_secs` (current, previous or next), if any.
    pub fn matching_step(&self, code: &str, unix_secs: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = unix_secs / STEP_SECS;
        let candidates = [now.saturating_sub(1), now, now + 1];
        // Every candidate is computed and compared: the time taken does not depend on which one
        // matched.
        let mut found = None;
        for step in candidates {
            if constant_time_eq(self.code_at_step(step).as_bytes(), code.as_bytes()) {
                found = Some(step);
            }
        }
        found
    }
}

/// The current time step (for tests and the CLI's own checks).
pub fn current_step() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64 / STEP_SECS
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Percent-encoding for a URI label or query value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.code_at_step(1), "287082");
        assert_eq!(secret.matching_step("287082", 59), Some(1));
        assert_eq!(secret.matching_step("287082", 89), Some(1), "previous step");
        assert_eq!(secret.matching_step("287082", 150), None, "too old");
        assert_eq!(secret.matching_step("28708", 59), None);
        assert_eq!(secret.matching_step("abcdef", 59), None);
    }

    #[test]
    fn uri_carries_the_secret_and_escapes_the_label() {
        let secret = TotpSecret::generate();
        let uri = secret.otpauth_uri("EpiSante", "dr who@x.org");
        assert!(uri.starts_with("otpauth://totp/EpiSante:dr%20who@x.org?secret="));
        assert!(uri.contains(&secret.base32()));
        assert_eq!(secret.base32().len(), 32);
    }
}
