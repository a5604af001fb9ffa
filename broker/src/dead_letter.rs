//! Dead letters as the broker writes them: what was refused, why, and a bounded copy of it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use episante_protocol::ack::DEAD_LETTER_HEAD_BYTES;
use episante_protocol::DeadLetter;
use sha2::{Digest, Sha256};

/// What a dead letter says about a payload: its size and hash always, its bytes within a bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadSummary {
    pub bytes: u64,
    pub sha256_hex: String,
    /// The payload, or its first bytes when `truncated`.
    pub kept: Vec<u8>,
    pub truncated: bool,
}

impl PayloadSummary {
    /// The whole payload (it was within the size limit).
    pub fn whole(payload: &[u8]) -> Self {
        PayloadSummary {
            bytes: payload.len() as u64,
            sha256_hex: hex::encode(Sha256::digest(payload)),
            kept: payload.to_vec(),
            truncated: false,
        }
    }

    /// Size, hash and the first bytes only.
    pub fn head(payload: &[u8]) -> Self {
        let mut summary = Self::whole(&payload[..payload.len().min(DEAD_LETTER_HEAD_BYTES)]);
        summary.bytes = payload.len() as u64;
        summary.sha256_hex = hex::encode(Sha256::digest(payload));
        summary.truncated = payload.len() > DEAD_LETTER_HEAD_BYTES;
        summary
    }
}

pub fn letter(
    device: &str,
    topic: &str,
    code: &str,
    reason: String,
    payload: PayloadSummary,
) -> DeadLetter {
    DeadLetter {
        device_id: device.to_string(),
        topic: topic.to_string(),
        reason,
        reason_code: code.to_string(),
        received_at_ms: chrono::Utc::now().timestamp_millis(),
        payload_bytes: payload.bytes,
        payload_sha256: payload.sha256_hex,
        payload_base64: STANDARD.encode(&payload.kept),
        truncated: payload.truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_is_bounded_and_hash_covers_everything() {
        let big = vec![7u8; DEAD_LETTER_HEAD_BYTES * 3];
        let s = PayloadSummary::head(&big);
        assert_eq!(s.bytes, big.len() as u64);
        assert_eq!(s.kept.len(), DEAD_LETTER_HEAD_BYTES);
        assert!(s.truncated);
        assert_eq!(s.sha256_hex, PayloadSummary::whole(&big).sha256_hex);
        assert!(!PayloadSummary::head(b"small").truncated);
    }
}
