//! Where a device's reading stream stands, and the one rule for what may come next.
//!
//! A device's readings form a stream ordered by `(epoch, seq)`. Within an epoch, seqs only grow
//! (the edge agent's `ReadingBuffer` never reuses one); a hub that loses its buffer and starts its
//! seqs over must start a **new, larger epoch** (the agent uses the buffer's creation time in ms),
//! or every reading it sends would look like a duplicate of one already counted and the patient
//! would go unmonitored without anyone being told.
//!
//! Two places apply the rule, so it lives here once:
//! - the broker ([`StreamPosition::admit`]) refuses, before anything is acknowledged, a batch whose
//!   seqs jump further than a window ahead of the device's position (a single bad seq would
//!   otherwise swallow the device's future readings), or whose epoch is older than the one it knows;
//! - consumers ([`StreamPosition::is_new`]) drop a reading exactly when it is not after the position
//!   (a redelivery), which is what makes processing effectively-once.

use serde::{Deserialize, Serialize};

/// The last accepted `(epoch, seq)` of one device.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct StreamPosition {
    pub epoch: u64,
    pub seq: u64,
}

/// Why the broker refuses a batch that is otherwise valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefusal {
    #[error("seq {first_seq} jumps more than {window} past the device's last seq {last_seq}")]
    SeqJump {
        first_seq: u64,
        last_seq: u64,
        window: u64,
    },
    #[error(
        "a new stream (epoch {epoch}) must start at a seq of at most {window}, not {first_seq}"
    )]
    NewStreamTooFar {
        epoch: u64,
        first_seq: u64,
        window: u64,
    },
    #[error("epoch {epoch} is older than the device's current epoch {current}")]
    StaleEpoch { epoch: u64, current: u64 },
}

impl StreamRefusal {
    /// Short stable code for metrics labels and dead letters.
    pub fn code(&self) -> &'static str {
        match self {
            StreamRefusal::SeqJump { .. } | StreamRefusal::NewStreamTooFar { .. } => "seq_jump",
            StreamRefusal::StaleEpoch { .. } => "stale_epoch",
        }
    }
}

impl StreamPosition {
    pub fn new(epoch: u64, seq: u64) -> Self {
        StreamPosition { epoch, seq }
    }

    /// Whether a reading `(epoch, seq)` comes after this position: a newer epoch always does, an
    /// older one never, the same one when its seq is higher.
    pub fn is_new(&self, epoch: u64, seq: u64) -> bool {
        (epoch, seq) > (self.epoch, self.seq)
    }

    /// The broker's admission rule for a batch `(epoch, first_seq..=last_seq)` given the device's
    /// position (`None`: never seen, any seq up to `MAX_SEQ` is accepted). Resends (seqs at or
    /// before the position) are admitted: they are acknowledged again and consumers drop them.
    pub fn admit(
        position: Option<StreamPosition>,
        epoch: u64,
        first_seq: u64,
        window: u64,
    ) -> Result<(), StreamRefusal> {
        let Some(pos) = position else {
            return Ok(());
        };
        if epoch < pos.epoch {
            return Err(StreamRefusal::StaleEpoch {
                epoch,
                current: pos.epoch,
            });
        }
        if epoch > pos.epoch {
            return if first_seq <= window {
                Ok(())
            } else {
                Err(StreamRefusal::NewStreamTooFar {
                    epoch,
                    first_seq,
                    window,
                })
            };
        }
        if first_seq > pos.seq.saturating_add(window) {
            return Err(StreamRefusal::SeqJump {
                first_seq,
                last_seq: pos.seq,
                window,
            });
        }
        Ok(())
    }

    /// The position after accepting `(epoch, last_seq)`: never moves backwards.
    pub fn advanced(position: Option<StreamPosition>, epoch: u64, last_seq: u64) -> Self {
        let next = StreamPosition::new(epoch, last_seq);
        position.map_or(next, |p| p.max(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_new_orders_by_epoch_then_seq() {
        let p = StreamPosition::new(5, 100);
        assert!(!p.is_new(5, 100), "the same reading again is a duplicate");
        assert!(!p.is_new(5, 3));
        assert!(p.is_new(5, 101));
        assert!(p.is_new(6, 1), "a new epoch starts over");
        assert!(!p.is_new(4, 1_000_000), "an older epoch is never new");
    }

    #[test]
    fn admit_table() {
        let w = 1_000;
        let at = Some(StreamPosition::new(5, 100));
        assert_eq!(
            StreamPosition::admit(None, 0, crate::reading::MAX_SEQ, w),
            Ok(())
        );
        assert_eq!(StreamPosition::admit(at, 5, 1, w), Ok(()), "resend");
        assert_eq!(StreamPosition::admit(at, 5, 1_100, w), Ok(()));
        assert_eq!(
            StreamPosition::admit(at, 5, 1_101, w).unwrap_err().code(),
            "seq_jump"
        );
        assert_eq!(StreamPosition::admit(at, 6, 1, w), Ok(()), "new stream");
        assert_eq!(
            StreamPosition::admit(at, 6, 1_001, w).unwrap_err().code(),
            "seq_jump"
        );
        assert_eq!(
            StreamPosition::admit(at, 4, 1, w).unwrap_err().code(),
            "stale_epoch"
        );
        let top = Some(StreamPosition::new(0, u64::MAX));
        assert_eq!(
            StreamPosition::admit(top, 0, u64::MAX, w),
            Ok(()),
            "no overflow"
        );
    }

    #[test]
    fn advanced_never_moves_back() {
        let p = Some(StreamPosition::new(5, 100));
        assert_eq!(
            StreamPosition::advanced(p, 5, 50),
            StreamPosition::new(5, 100)
        );
        assert_eq!(StreamPosition::advanced(p, 6, 2), StreamPosition::new(6, 2));
        assert_eq!(
            StreamPosition::advanced(None, 0, 7),
            StreamPosition::new(0, 7)
        );
    }
}
