//! Labelled anomaly scenarios and their ground truth.
//!
//! A scenario assigns anomaly windows to devices, deterministically from the seed; the windows
//! are written as JSON lines (`device`, `kind`, `start_ms`, `end_ms`) so an alerting run can be
//! scored for recall (every window alerted) and false alarms (alerts outside any window).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    Tachycardia,
    Bradycardia,
    Hypoxia,
    Fever,
    Hypotension,
    Flatline,
    Dropout,
    Offline,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 8] = [
        AnomalyKind::Tachycardia,
        AnomalyKind::Bradycardia,
        AnomalyKind::Hypoxia,
        AnomalyKind::Fever,
        AnomalyKind::Hypotension,
        AnomalyKind::Flatline,
        AnomalyKind::Dropout,
        AnomalyKind::Offline,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioName {
    /// No anomalies: for false-alarm rates.
    Normal,
    /// Each anomaly kind on its own share of the devices, the rest normal.
    Mixed,
    Tachycardia,
    Bradycardia,
    Hypoxia,
    Fever,
    Hypotension,
    Flatline,
    Dropout,
    Offline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnomalyWindow {
    pub device: String,
    pub kind: AnomalyKind,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The windows of `scenario` for `devices` (ids), over `[start_ms, start_ms + duration_ms)` of
/// simulated time. Windows last a fifth of the run (at least 2 simulated minutes) and start in
/// its second fifth, so every one is complete within the run.
pub fn plan(
    scenario: ScenarioName,
    devices: &[String],
    seed: u64,
    start_ms: i64,
    duration_ms: i64,
) -> Vec<AnomalyWindow> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5CE7_A810);
    let single = |kind| Some(kind);
    let kind_of = |i: usize| -> Option<AnomalyKind> {
        match scenario {
            ScenarioName::Normal => None,
            ScenarioName::Mixed => {
                // Two in three devices get an anomaly, kinds round-robin.
                (i % 3 != 2).then(|| AnomalyKind::ALL[(i - i / 3) % AnomalyKind::ALL.len()])
            }
            ScenarioName::Tachycardia => single(AnomalyKind::Tachycardia),
            ScenarioName::Bradycardia => single(AnomalyKind::Bradycardia),
            ScenarioName::Hypoxia => single(AnomalyKind::Hypoxia),
            ScenarioName::Fever => single(AnomalyKind::Fever),
            ScenarioName::Hypotension => single(AnomalyKind::Hypotension),
            ScenarioName::Flatline => single(AnomalyKind::Flatline),
            ScenarioName::Dropout => single(AnomalyKind::Dropout),
            ScenarioName::Offline => single(AnomalyKind::Offline),
        }
    };
    let length = (duration_ms / 5).max(120_000).min(duration_ms / 2);
    devices
        .iter()
        .enumerate()
        .filter_map(|(i, device)| {
            let kind = kind_of(i)?;
            let offset = duration_ms / 5 + rng.gen_range(0..=(duration_ms / 5).max(1));
            Some(AnomalyWindow {
                device: device.clone(),
                kind,
                start_ms: start_ms + offset,
                end_ms: start_ms + offset + length,
            })
        })
        .collect()
}

/// Writes the ground truth as JSON lines.
pub fn write_ground_truth(path: &std::path::Path, windows: &[AnomalyWindow]) -> anyhow::Result<()> {
    let mut out = String::new();
    for w in windows {
        out.push_str(&serde_json::to_string(w)?);
        out.push('\n');
    }
    std::fs::write(path, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("sim{i}")).collect()
    }

    #[test]
    fn plans_are_reproducible_and_complete() {
        let a = plan(ScenarioName::Mixed, &ids(30), 42, 0, 3_600_000);
        assert_eq!(a, plan(ScenarioName::Mixed, &ids(30), 42, 0, 3_600_000));
        assert_ne!(a, plan(ScenarioName::Mixed, &ids(30), 43, 0, 3_600_000));
        assert_eq!(a.len(), 20, "two devices in three");
        for kind in AnomalyKind::ALL {
            assert!(a.iter().any(|w| w.kind == kind), "{kind:?} present");
        }
        for w in &a {
            assert!(w.start_ms >= 0 && w.end_ms <= 3_600_000 && w.end_ms - w.start_ms >= 120_000);
        }
        assert!(plan(ScenarioName::Normal, &ids(30), 42, 0, 3_600_000).is_empty());
        assert!(plan(ScenarioName::Fever, &ids(5), 1, 0, 600_000)
            .iter()
            .all(|w| w.kind == AnomalyKind::Fever));
    }
}
