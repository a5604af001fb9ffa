//! Vital-sign readings as they travel from a hub to the cloud.
//!
//! Readings travel in batches: one MQTT message and one Kafka record carry many readings, which is
//! what makes the spine fast. Every batch carries its format version so that old hubs keep working
//! while the format evolves, and every reading a per-device monotonic `seq`, which is what lets the
//! broker acknowledge "everything up to N" and consumers drop duplicates.

use serde::{Deserialize, Serialize};

/// The batch format this crate writes and accepts.
pub const READING_BATCH_VERSION: u32 = 1;
/// Most readings accepted in one batch: bounds memory per message.
pub const MAX_READINGS_PER_BATCH: usize = 1_000;
/// Longest device id accepted (device ids are also MQTT client ids and topic levels).
pub const MAX_DEVICE_ID_LEN: usize = 64;
/// Largest `seq` accepted: 2^53, so seqs stay exact in JSON numbers (JavaScript, PostgreSQL
/// `double precision`) and a hub would need 285,000 years at 1,000 readings/s to reach it. A seq
/// near `u64::MAX` can only be a fault or an attack (see [`crate::stream`]).
pub const MAX_SEQ: u64 = 1 << 53;

/// Which vital sign a reading measures. The unit is fixed per kind (UCUM code in [`unit`]).
///
/// [`unit`]: VitalKind::unit
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VitalKind {
    HeartRate,
    Spo2,
    BodyTemperature,
    RespiratoryRate,
    SystolicBp,
    DiastolicBp,
}

impl VitalKind {
    pub const ALL: [VitalKind; 6] = [
        VitalKind::HeartRate,
        VitalKind::Spo2,
        VitalKind::BodyTemperature,
        VitalKind::RespiratoryRate,
        VitalKind::SystolicBp,
        VitalKind::DiastolicBp,
    ];

    /// UCUM unit every reading of this kind must carry.
    pub fn unit(self) -> &'static str {
        match self {
            VitalKind::HeartRate => "/min",
            VitalKind::Spo2 => "%",
            VitalKind::BodyTemperature => "Cel",
            VitalKind::RespiratoryRate => "/min",
            VitalKind::SystolicBp | VitalKind::DiastolicBp => "mm[Hg]",
        }
    }

    /// LOINC code of the observation (FHIR `Observation.code`), as listed by the FHIR vital-signs
    /// profile.
    pub fn loinc(self) -> &'static str {
        match self {
            VitalKind::HeartRate => "8867-4",
            VitalKind::Spo2 => "59408-5",
            VitalKind::BodyTemperature => "8310-5",
            VitalKind::RespiratoryRate => "9279-1",
            VitalKind::SystolicBp => "8480-6",
            VitalKind::DiastolicBp => "8462-4",
        }
    }

    /// Human-readable name (LOINC display).
    pub fn display(self) -> &'static str {
        match self {
            VitalKind::HeartRate => "Heart rate",
            VitalKind::Spo2 => "Oxygen saturation in Arterial blood by Pulse oximetry",
            VitalKind::BodyTemperature => "Body temperature",
            VitalKind::RespiratoryRate => "Respiratory rate",
            VitalKind::SystolicBp => "Systolic blood pressure",
            VitalKind::DiastolicBp => "Diastolic blood pressure",
        }
    }

    /// The snake_case name used on the wire and in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            VitalKind::HeartRate => "heart_rate",
            VitalKind::Spo2 => "spo2",
            VitalKind::BodyTemperature => "body_temperature",
            VitalKind::RespiratoryRate => "respiratory_rate",
            VitalKind::SystolicBp => "systolic_bp",
            VitalKind::DiastolicBp => "diastolic_bp",
        }
    }

    /// Physically plausible range; values outside are sensor faults, not patients.
    pub fn plausible_range(self) -> (f64, f64) {
        match self {
            VitalKind::HeartRate => (20.0, 300.0),
            VitalKind::Spo2 => (50.0, 100.0),
            VitalKind::BodyTemperature => (25.0, 45.0),
            VitalKind::RespiratoryRate => (2.0, 80.0),
            VitalKind::SystolicBp => (40.0, 300.0),
            VitalKind::DiastolicBp => (20.0, 200.0),
        }
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Per-device sequence number, strictly increasing within a batch and across batches.
    pub seq: u64,
    /// Measurement time, milliseconds since the Unix epoch (UTC).
    pub ts_ms: i64,
    pub kind: VitalKind,
    pub value: f64,
    /// UCUM unit; must equal [`VitalKind::unit`].
    pub unit: String,
}

/// A device's batch of readings: the payload of `/tenants/{id}/readings` and of a Kafka record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingBatch {
    /// Format version, [`READING_BATCH_VERSION`].
    pub v: u32,
    pub device_id: String,
    /// The device's stream epoch (see [`crate::stream`]): a hub that starts a new buffer, and so
    /// starts its seqs over, starts a new, larger epoch. 0 for hubs that predate epochs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    /// When the broker received the batch, ms since the Unix epoch (UTC). Set by the broker, never
    /// trusted from a device: consumers measure wall-clock time with it, not with device clocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at_ms: Option<i64>,
    pub readings: Vec<Reading>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Why a payload is not a valid reading batch; the text goes to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadingError {
    #[error("payload is not a reading batch: {0}")]
    Malformed(String),
    #[error("unsupported batch version {0} (supported: {READING_BATCH_VERSION})")]
    UnsupportedVersion(u32),
    #[error("invalid device id")]
    InvalidDeviceId,
    #[error("batch is for device {batch} but was sent by {sender}")]
    DeviceMismatch { batch: String, sender: String },
    #[error("batch has no readings")]
    Empty,
    #[error("batch has {0} readings (max {MAX_READINGS_PER_BATCH})")]
    TooManyReadings(usize),
    #[error("seq {seq} does not increase (previous {previous})")]
    SeqNotIncreasing { seq: u64, previous: u64 },
    #[error("{kind:?} value {value} outside plausible range")]
    OutOfRange { kind: VitalKind, value: f64 },
    #[error("{kind:?} must be in {expected}, not {got}")]
    WrongUnit {
        kind: VitalKind,
        expected: &'static str,
        got: String,
    },
    #[error("timestamp {0} is not a plausible time")]
    BadTimestamp(i64),
    #[error("seq {0} exceeds the largest allowed ({MAX_SEQ})")]
    SeqTooLarge(u64),
    #[error(
        "reading time {ts_ms} is {ahead_ms} ms ahead of the broker's clock (max {max_skew_ms} ms)"
    )]
    ClockSkew {
        ts_ms: i64,
        ahead_ms: i64,
        max_skew_ms: i64,
    },
}

/// Whether a string may be used as a device id: ASCII letters and digits only, because the id is
/// also the MQTT client id, a topic level, and the Organization of the device's certificate, which
/// rumqttd accepts as a tenant only when alphanumeric.
pub fn is_valid_device_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_DEVICE_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl ReadingError {
    /// Short stable code for metrics labels and dead letters.
    pub fn code(&self) -> &'static str {
        match self {
            ReadingError::Malformed(_) => "malformed",
            ReadingError::UnsupportedVersion(_) => "version",
            ReadingError::InvalidDeviceId => "device_id",
            ReadingError::DeviceMismatch { .. } => "device_mismatch",
            ReadingError::Empty => "empty",
            ReadingError::TooManyReadings(_) => "too_many",
            ReadingError::SeqNotIncreasing { .. } => "seq",
            ReadingError::OutOfRange { .. } => "out_of_range",
            ReadingError::WrongUnit { .. } => "unit",
            ReadingError::BadTimestamp(_) => "timestamp",
            ReadingError::SeqTooLarge(_) => "seq_bound",
            ReadingError::ClockSkew { .. } => "clock_skew",
        }
    }
}

impl ReadingBatch {
    /// Parses and validates a payload. Only structurally and physically valid batches pass, so
    /// nothing downstream has to re-check.
    pub fn parse(payload: &[u8]) -> Result<Self, ReadingError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version: Version =
            serde_json::from_slice(payload).map_err(|e| ReadingError::Malformed(e.to_string()))?;
        if version.v != READING_BATCH_VERSION {
            return Err(ReadingError::UnsupportedVersion(version.v));
        }
        let batch: ReadingBatch =
            serde_json::from_slice(payload).map_err(|e| ReadingError::Malformed(e.to_string()))?;
        batch.validate()?;
        Ok(batch)
    }

    /// Checks the invariants [`ReadingBatch::parse`] promises.
    pub fn validate(&self) -> Result<(), ReadingError> {
        if !is_valid_device_id(&self.device_id) {
            return Err(ReadingError::InvalidDeviceId);
        }
        if self.readings.is_empty() {
            return Err(ReadingError::Empty);
        }
        if self.readings.len() > MAX_READINGS_PER_BATCH {
            return Err(ReadingError::TooManyReadings(self.readings.len()));
        }
        // 2000-01-01 .. 2200-01-01: catches seconds-vs-milliseconds and uninitialised clocks.
        const MIN_TS: i64 = 946_684_800_000;
        const MAX_TS: i64 = 7_258_118_400_000;
        let mut previous: Option<u64> = None;
        for r in &self.readings {
            if let Some(p) = previous {
                if r.seq <= p {
                    return Err(ReadingError::SeqNotIncreasing {
                        seq: r.seq,
                        previous: p,
                    });
                }
            }
            previous = Some(r.seq);
            if r.seq > MAX_SEQ {
                return Err(ReadingError::SeqTooLarge(r.seq));
            }
            if !(MIN_TS..MAX_TS).contains(&r.ts_ms) {
                return Err(ReadingError::BadTimestamp(r.ts_ms));
            }
            if r.unit != r.kind.unit() {
                return Err(ReadingError::WrongUnit {
                    kind: r.kind,
                    expected: r.kind.unit(),
                    got: r.unit.clone(),
                });
            }
            let (lo, hi) = r.kind.plausible_range();
            if !r.value.is_finite() || r.value < lo || r.value > hi {
                return Err(ReadingError::OutOfRange {
                    kind: r.kind,
                    value: r.value,
                });
            }
        }
        Ok(())
    }

    /// Refuses readings timed more than `max_skew_ms` after `now_ms` (the broker's clock): a hub
    /// whose clock runs ahead would otherwise end alert holds early and hide later readings.
    pub fn check_clock(&self, now_ms: i64, max_skew_ms: i64) -> Result<(), ReadingError> {
        match self.readings.iter().map(|r| r.ts_ms).max() {
            Some(ts_ms) if ts_ms - now_ms > max_skew_ms => Err(ReadingError::ClockSkew {
                ts_ms,
                ahead_ms: ts_ms - now_ms,
                max_skew_ms,
            }),
            _ => Ok(()),
        }
    }

    /// Lowest `seq` in the batch.
    pub fn first_seq(&self) -> Option<u64> {
        self.readings.first().map(|r| r.seq)
    }

    /// Highest `seq` in the batch (batches are never empty once validated).
    pub fn last_seq(&self) -> Option<u64> {
        self.readings.last().map(|r| r.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(seq: u64, kind: VitalKind, value: f64) -> Reading {
        Reading {
            seq,
            ts_ms: 1_764_000_000_000,
            kind,
            value,
            unit: kind.unit().to_string(),
        }
    }

    fn batch(readings: Vec<Reading>) -> ReadingBatch {
        ReadingBatch {
            v: READING_BATCH_VERSION,
            device_id: "hub1".into(),
            epoch: 0,
            received_at_ms: None,
            readings,
        }
    }

    #[test]
    fn valid_batch_round_trips() {
        let b = batch(vec![
            reading(1, VitalKind::HeartRate, 72.0),
            reading(2, VitalKind::Spo2, 98.0),
        ]);
        let bytes = serde_json::to_vec(&b).unwrap();
        assert_eq!(ReadingBatch::parse(&bytes).unwrap(), b);
        assert_eq!(b.last_seq(), Some(2));
    }

    #[test]
    fn rejects_what_it_should() {
        assert!(matches!(
            ReadingBatch::parse(b"{not json"),
            Err(ReadingError::Malformed(_))
        ));
        assert_eq!(
            ReadingBatch::parse(br#"{"v":2,"device_id":"a","readings":[]}"#),
            Err(ReadingError::UnsupportedVersion(2))
        );
        assert_eq!(batch(vec![]).validate(), Err(ReadingError::Empty));
        let b = batch(vec![
            reading(2, VitalKind::HeartRate, 70.0),
            reading(2, VitalKind::HeartRate, 70.0),
        ]);
        assert!(matches!(
            b.validate(),
            Err(ReadingError::SeqNotIncreasing { .. })
        ));
        let b = batch(vec![reading(1, VitalKind::Spo2, 130.0)]);
        assert!(matches!(b.validate(), Err(ReadingError::OutOfRange { .. })));
        let mut r = reading(1, VitalKind::BodyTemperature, 37.0);
        r.unit = "[degF]".into();
        assert!(matches!(
            batch(vec![r]).validate(),
            Err(ReadingError::WrongUnit { .. })
        ));
        let mut r = reading(1, VitalKind::HeartRate, 60.0);
        r.ts_ms = 1_764_000_000; // seconds, not milliseconds
        assert!(matches!(
            batch(vec![r]).validate(),
            Err(ReadingError::BadTimestamp(_))
        ));
        assert_eq!(
            batch(vec![reading(u64::MAX, VitalKind::HeartRate, 60.0)]).validate(),
            Err(ReadingError::SeqTooLarge(u64::MAX))
        );
        assert!(batch(vec![reading(MAX_SEQ, VitalKind::HeartRate, 60.0)])
            .validate()
            .is_ok());
        let b = batch(vec![reading(1, VitalKind::HeartRate, 60.0)]);
        let ts = b.readings[0].ts_ms;
        assert!(b.check_clock(ts - 120_000, 120_000).is_ok());
        assert!(matches!(
            b.check_clock(ts - 120_001, 120_000),
            Err(ReadingError::ClockSkew {
                ahead_ms: 120_001,
                ..
            })
        ));
        assert!(
            b.check_clock(ts + 3_600_000, 120_000).is_ok(),
            "the past is fine"
        );
        let mut b = batch(vec![reading(1, VitalKind::HeartRate, 60.0)]);
        b.device_id = "hub-1".into();
        assert_eq!(b.validate(), Err(ReadingError::InvalidDeviceId));
    }
}
