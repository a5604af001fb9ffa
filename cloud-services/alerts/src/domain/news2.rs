//! NEWS2 (Royal College of Physicians, 2017) sub-scores for the vitals a hub measures.
//!
//! The default rules alert where NEWS2 says a single parameter needs an urgent response (sub-score
//! 3, or 2 for high temperature) and the aggregate score raises an alert's severity: 5–6 is a
//! "medium" clinical risk (at least `high` here), 7 or more "high" risk (`critical`). Consciousness
//! and supplemental oxygen are not measured by hubs and count as normal.

use episante_protocol::VitalKind;

use super::alert::Severity;

/// The NEWS2 sub-score of one observation (SpO2 on scale 1); `None` for vitals NEWS2 ignores.
pub fn sub_score(kind: VitalKind, value: f64) -> Option<u8> {
    Some(match kind {
        VitalKind::RespiratoryRate => match value {
            v if v <= 8.0 => 3,
            v if v <= 11.0 => 1,
            v if v <= 20.0 => 0,
            v if v <= 24.0 => 2,
            _ => 3,
        },
        VitalKind::Spo2 => match value {
            v if v <= 91.0 => 3,
            v if v <= 93.0 => 2,
            v if v <= 95.0 => 1,
            _ => 0,
        },
        VitalKind::SystolicBp => match value {
            v if v <= 90.0 => 3,
            v if v <= 100.0 => 2,
            v if v <= 110.0 => 1,
            v if v <= 219.0 => 0,
            _ => 3,
        },
        VitalKind::HeartRate => match value {
            v if v <= 40.0 => 3,
            v if v <= 50.0 => 1,
            v if v <= 90.0 => 0,
            v if v <= 110.0 => 1,
            v if v <= 130.0 => 2,
            _ => 3,
        },
        VitalKind::BodyTemperature => match value {
            v if v <= 35.0 => 3,
            v if v <= 36.0 => 1,
            v if v <= 38.0 => 0,
            v if v <= 39.0 => 1,
            _ => 2,
        },
        VitalKind::DiastolicBp => return None,
    })
}

/// The aggregate score of the latest values (one per vital).
pub fn aggregate(latest: impl IntoIterator<Item = (VitalKind, f64)>) -> u8 {
    latest
        .into_iter()
        .filter_map(|(k, v)| sub_score(k, v))
        .sum()
}

/// The least severity an alert gets from the patient's aggregate score.
pub fn severity_floor(aggregate: u8) -> Option<Severity> {
    match aggregate {
        0..=4 => None,
        5 | 6 => Some(Severity::High),
        _ => Some(Severity::Critical),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_match_the_news2_chart() {
        use VitalKind::*;
        for (kind, value, score) in [
            (RespiratoryRate, 8.0, 3),
            (RespiratoryRate, 12.0, 0),
            (RespiratoryRate, 21.0, 2),
            (RespiratoryRate, 25.0, 3),
            (Spo2, 91.0, 3),
            (Spo2, 93.0, 2),
            (Spo2, 95.0, 1),
            (Spo2, 96.0, 0),
            (SystolicBp, 90.0, 3),
            (SystolicBp, 111.0, 0),
            (SystolicBp, 220.0, 3),
            (HeartRate, 40.0, 3),
            (HeartRate, 51.0, 0),
            (HeartRate, 111.0, 2),
            (HeartRate, 131.0, 3),
            (BodyTemperature, 35.0, 3),
            (BodyTemperature, 37.0, 0),
            (BodyTemperature, 39.1, 2),
        ] {
            assert_eq!(sub_score(kind, value), Some(score), "{kind:?} {value}");
        }
        assert_eq!(
            aggregate([(HeartRate, 140.0), (Spo2, 88.0), (RespiratoryRate, 26.0)]),
            9
        );
        assert_eq!(severity_floor(9), Some(Severity::Critical));
        assert_eq!(severity_floor(4), None);
    }
}
