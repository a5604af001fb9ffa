//! The EpiSante wire protocol.
//!
//! Every component that puts bytes on MQTT or Kafka (edge agent, broker, services, simulator)
//! depends on this crate and nothing else for the *shape* of those bytes, so a change of format is
//! a change in one place, versioned. It does no I/O on purpose: it must build for a small hub as
//! well as for the cloud, and be trivially testable.

pub mod ack;
pub mod alerts;
pub mod bookings;
pub mod reading;
pub mod records;
pub mod registry;
pub mod sessions;
pub mod stream;
pub mod topics;

pub use ack::{DeadLetter, ReadingsAck};
pub use reading::{
    is_valid_device_id, Reading, ReadingBatch, ReadingError, VitalKind, MAX_SEQ,
    READING_BATCH_VERSION,
};
pub use records::{CareTeamEvent, DeviceAssignmentEvent};
pub use sessions::{SecurityNotice, SecurityNoticeKind, SessionRevoked};
pub use stream::{StreamPosition, StreamRefusal};
