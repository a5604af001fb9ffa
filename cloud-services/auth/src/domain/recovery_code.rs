//! MFA recovery codes: ten single-use codes shown once at enrolment, for a lost authenticator.
//!
//! Each carries 80 random bits (16 base32 characters, typed as `xxxx-xxxx-xxxx-xxxx`), far too
//! many to guess, so like refresh tokens they are stored as SHA-256 digests of their normalised
//! form (case, spaces and dashes do not matter when typed).

use sha2::{Digest, Sha256};

pub const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A fresh code, `xxxx-xxxx-xxxx-xxxx`.
pub fn generate() -> String {
    let bytes = episante_kit::vault::random_bytes::<10>();
    let mut bits: u128 = 0;
    for b in bytes {
        bits = (bits << 8) | b as u128;
    }
    let chars: Vec<u8> = (0..16)
        .rev()
        .map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize])
        .collect();
    chars
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect::<Vec<_>>()
        .join("-")
}

/// What is stored in place of the code (`None`: not shaped like a code at all).
pub fn digest(code: &str) -> Option<Vec<u8>> {
    let normalised: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if normalised.len() != 16 || !normalised.bytes().all(|b| ALPHABET.contains(&b)) {
        return None;
    }
    Some(Sha256::digest(normalised.as_bytes()).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_typing_variants_digest_alike() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 19);
        let shouted = a.to_uppercase().replace('-', " ");
        assert_eq!(digest(&a), digest(&shouted));
        assert!(digest(&a).is_some());
        assert_eq!(digest("not a code"), None);
    }
}
