//! The chain rule, pure: how each audit entry is bound to the one before it, and how a walk over
//! the stored entries decides where the trail stops being trustworthy.
//!
//! Why keyed: with a plain hash (`SHA-256(prev ‖ fields)`, the rule before) anyone who can write
//! the table can also write a fresh, self-consistent chain. Here every link is
//! `HMAC-SHA-256(key, prev ‖ n ‖ at ‖ fields)` with a key held in Vault KV (a local 0600 file in
//! development), so rewriting the trail needs the key, not just the database. `n` is the entry's
//! position (1, 2, 3…): gaps and duplicates show, whatever `seq` the database handed out.
//!
//! Entries written before the key existed (moved from `public.audit_events`, `legacy`) keep the
//! old rule; they may only form the chain's prefix, as long as the migration recorded.

use chrono::{DateTime, Utc};
use ring::hmac;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The chain's first `prev_hash`.
pub const GENESIS: [u8; 32] = [0; 32];

/// Domain separation: entries and checkpoints are MACed under the same key.
const ENTRY_TAG: &[u8] = b"episante-audit-entry-v2";
const CHECKPOINT_TAG: &[u8] = b"episante-audit-checkpoint-v1";

/// The fields of one entry that the chain binds.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub n: i64,
    pub at: DateTime<Utc>,
    pub service: &'a str,
    pub actor: &'a str,
    pub actor_role: &'a str,
    pub patient_id: Option<Uuid>,
    pub action: &'a str,
    pub purpose: &'a str,
    pub detail: &'a str,
    pub event_id: Option<Uuid>,
}

/// The audit chain's HMAC key.
pub struct ChainKey(hmac::Key);

impl ChainKey {
    pub fn new(key: &[u8]) -> ChainKey {
        ChainKey(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// The MAC of `link` chained to `prev`.
    pub fn entry_mac(&self, prev: &[u8], link: &Link<'_>) -> Vec<u8> {
        let mut ctx = hmac::Context::with_key(&self.0);
        ctx.update(ENTRY_TAG);
        ctx.update(prev);
        ctx.update(&link.n.to_be_bytes());
        ctx.update(&link.at.timestamp_micros().to_be_bytes());
        let patient = link.patient_id.map(|p| p.to_string()).unwrap_or_default();
        let event = link.event_id.map(|e| e.to_string()).unwrap_or_default();
        for field in [
            link.service,
            link.actor,
            link.actor_role,
            &patient,
            link.action,
            link.purpose,
            link.detail,
            &event,
        ] {
            ctx.update(&(field.len() as u64).to_be_bytes());
            ctx.update(field.as_bytes());
        }
        ctx.sign().as_ref().to_vec()
    }

    /// The tag that vouches for a checkpoint: "the chain had `n` entries, the last one `hash`".
    pub fn checkpoint_tag(&self, n: i64, hash: &[u8]) -> Vec<u8> {
        hmac::sign(&self.0, &checkpoint_message(n, hash))
            .as_ref()
            .to_vec()
    }

    /// Whether `tag` vouches for (`n`, `hash`) (constant time).
    pub fn checkpoint_ok(&self, n: i64, hash: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.0, &checkpoint_message(n, hash), tag).is_ok()
    }
}

fn checkpoint_message(n: i64, hash: &[u8]) -> Vec<u8> {
    let mut message = CHECKPOINT_TAG.to_vec();
    message.extend_from_slice(&n.to_be_bytes());
    message.extend_from_slice(hash);
    message
}

/// The rule before the key: `SHA-256(prev ‖ at ‖ actor, role, patient, action, purpose, detail)`.
pub fn legacy_hash(prev: &[u8], link: &Link<'_>) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(link.at.timestamp_micros().to_be_bytes());
    let patient = link.patient_id.map(|p| p.to_string()).unwrap_or_default();
    for field in [
        link.actor,
        link.actor_role,
        &patient,
        link.action,
        link.purpose,
        link.detail,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().to_vec()
}

/// Checks stored entries one by one, oldest first.
pub struct Walker<'k> {
    key: &'k ChainKey,
    legacy_entries: i64,
    prev: Vec<u8>,
    n: i64,
}

impl<'k> Walker<'k> {
    /// `legacy_entries`: how many entries the migration moved from before the key.
    pub fn new(key: &'k ChainKey, legacy_entries: i64) -> Walker<'k> {
        Walker {
            key,
            legacy_entries,
            prev: GENESIS.to_vec(),
            n: 0,
        }
    }

    /// Whether the next stored entry continues the chain; on `false` the walk must stop.
    pub fn next(&mut self, link: &Link<'_>, legacy: bool, prev_hash: &[u8], hash: &[u8]) -> bool {
        let n = self.n + 1;
        if link.n != n || prev_hash != self.prev.as_slice() {
            return false;
        }
        let expected = if legacy {
            if n > self.legacy_entries {
                return false;
            }
            legacy_hash(&self.prev, link)
        } else {
            self.key.entry_mac(&self.prev, link)
        };
        // Both sides are public values (stored in the table): no constant-time need.
        if expected != hash {
            return false;
        }
        self.n = n;
        self.prev = hash.to_vec();
        true
    }

    /// Entries accepted so far (the chain's length when the walk ends intact).
    pub fn entries(&self) -> i64 {
        self.n
    }

    /// The last accepted entry's hash.
    pub fn head(&self) -> &[u8] {
        &self.prev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(n: i64, actor: &str) -> Link<'_> {
        Link {
            n,
            at: DateTime::from_timestamp(1_764_000_000, 123_000).unwrap(),
            service: "records",
            actor,
            actor_role: "clinician",
            patient_id: None,
            action: "patient.read",
            purpose: "TREAT",
            detail: "{}",
            event_id: None,
        }
    }

    #[test]
    fn a_chain_written_with_the_key_verifies_and_one_without_does_not() {
        let key = ChainKey::new(&[7; 32]);
        let mut prev = GENESIS.to_vec();
        let mut stored = Vec::new();
        for n in 1..=3 {
            let hash = key.entry_mac(&prev, &link(n, "a"));
            stored.push((n, prev.clone(), hash.clone()));
            prev = hash;
        }
        let mut walker = Walker::new(&key, 0);
        for (n, prev, hash) in &stored {
            assert!(walker.next(&link(*n, "a"), false, prev, hash));
        }
        assert_eq!(walker.entries(), 3);

        // The same entries chained by someone without the key (plain SHA-256, or another key).
        let forger = ChainKey::new(&[8; 32]);
        let mut walker = Walker::new(&key, 0);
        let forged = forger.entry_mac(&GENESIS, &link(1, "a"));
        assert!(!walker.next(&link(1, "a"), false, &GENESIS, &forged));
        let plain = legacy_hash(&GENESIS, &link(1, "a"));
        let mut walker = Walker::new(&key, 0);
        assert!(
            !walker.next(&link(1, "a"), true, &GENESIS, &plain),
            "legacy entries beyond what the migration moved are refused"
        );
    }

    #[test]
    fn edits_gaps_and_reorderings_break_the_walk() {
        let key = ChainKey::new(&[7; 32]);
        let h1 = key.entry_mac(&GENESIS, &link(1, "a"));
        let h2 = key.entry_mac(&h1, &link(2, "a"));
        let mut walker = Walker::new(&key, 0);
        assert!(walker.next(&link(1, "a"), false, &GENESIS, &h1));
        assert!(!walker.next(&link(2, "b"), false, &h1, &h2), "edited");
        let mut walker = Walker::new(&key, 0);
        assert!(!walker.next(&link(2, "a"), false, &h1, &h2), "gap");
    }

    #[test]
    fn legacy_prefix_then_keyed_entries() {
        let key = ChainKey::new(&[7; 32]);
        let h1 = legacy_hash(&GENESIS, &link(1, "a"));
        let h2 = key.entry_mac(&h1, &link(2, "a"));
        let mut walker = Walker::new(&key, 1);
        assert!(walker.next(&link(1, "a"), true, &GENESIS, &h1));
        assert!(walker.next(&link(2, "a"), false, &h1, &h2));
        assert_eq!(walker.head(), h2.as_slice());
    }

    #[test]
    fn checkpoints_are_tagged() {
        let key = ChainKey::new(&[7; 32]);
        let tag = key.checkpoint_tag(10, b"head");
        assert!(key.checkpoint_ok(10, b"head", &tag));
        assert!(!key.checkpoint_ok(9, b"head", &tag));
        assert!(!ChainKey::new(&[8; 32]).checkpoint_ok(10, b"head", &tag));
    }
}
