//! NEWS2 (Royal College of Physicians, 2017) sub-scores for the vitals a hub measures.
//!
//! The default rules alert where NEWS2 says a single parameter needs an urgent response (sub-score
//! 3, or 2 for high temperature) and the aggregate score raises an alert's severity: 5–6 is a
//! "medium" clinical risk (at least `high` here), 7 or more "high" risk (`critical`). Consciousness
//! and supplemental oxygen are not measured by hubs and count as normal.

use episante_protocol::VitalKind;

use super::alert::Severity;

/// One vital's row of the NEWS2 chart: ascending bands `(highest value, sub-score)`, the
/// sub-score above the last band, and the resolution a hub reports the vital at (the chart's
/// bands meet at that step: heart rate 130 scores 2, 131 scores 3).
pub struct ChartRow {
    pub bands: &'static [(f64, u8)],
    pub above: u8,
    pub resolution: f64,
}

/// The chart (SpO2 on scale 1); `None` for vitals NEWS2 ignores.
pub fn chart_row(kind: VitalKind) -> Option<ChartRow> {
    let (bands, above, resolution): (&'static [(f64, u8)], u8, f64) = match kind {
        VitalKind::RespiratoryRate => (&[(8.0, 3), (11.0, 1), (20.0, 0), (24.0, 2)], 3, 1.0),
        VitalKind::Spo2 => (&[(91.0, 3), (93.0, 2), (95.0, 1)], 0, 1.0),
        VitalKind::SystolicBp => (&[(90.0, 3), (100.0, 2), (110.0, 1), (219.0, 0)], 3, 1.0),
        VitalKind::HeartRate => (
            &[(40.0, 3), (50.0, 1), (90.0, 0), (110.0, 1), (130.0, 2)],
            3,
            1.0,
        ),
        VitalKind::BodyTemperature => (&[(35.0, 3), (36.0, 1), (38.0, 0), (39.0, 1)], 2, 0.1),
        VitalKind::DiastolicBp => return None,
    };
    Some(ChartRow {
        bands,
        above,
        resolution,
    })
}

/// The NEWS2 sub-score of one observation; `None` for vitals NEWS2 ignores.
pub fn sub_score(kind: VitalKind, value: f64) -> Option<u8> {
    let row = chart_row(kind)?;
    Some(
        row.bands
            .iter()
            .find(|(highest, _)| value <= *highest)
            .map_or(row.above, |(_, score)| *score),
    )
}

/// The highest value at or below which the chart scores at least `score` on its low side
/// (heart rate, 3: 40); `None` if no low band scores that much.
pub fn low_edge(kind: VitalKind, score: u8) -> Option<f64> {
    let row = chart_row(kind)?;
    row.bands
        .iter()
        .take_while(|(_, s)| *s >= score)
        .last()
        .map(|(highest, _)| *highest)
}

/// The lowest value at or above which the chart scores at least `score` on its high side
/// (heart rate, 3: 131); `None` if the chart's top does not score that much.
pub fn high_edge(kind: VitalKind, score: u8) -> Option<f64> {
    let row = chart_row(kind)?;
    if row.above < score {
        return None;
    }
    let below = row.bands.iter().rev().find(|(_, s)| *s < score)?;
    // Rounded to the resolution: 39.0 + 0.1 is 39.1, not 39.100000000000001.
    Some(((below.0 + row.resolution) / row.resolution).round() * row.resolution)
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
        assert_eq!(low_edge(HeartRate, 3), Some(40.0));
        assert_eq!(high_edge(HeartRate, 3), Some(131.0));
        assert_eq!(high_edge(BodyTemperature, 2), Some(39.1));
        assert_eq!(high_edge(Spo2, 1), None);
        assert_eq!(low_edge(DiastolicBp, 3), None);
        assert_eq!(severity_floor(4), None);
    }
}
