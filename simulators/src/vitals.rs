//! A patient's vital signs over simulated time: a plausible baseline per patient, a circadian
//! rhythm, activity bouts, sensor noise, and labelled anomalies layered on top.
//!
//! Everything is a pure function of (seed, device index, simulated time), so a run with the same
//! seed produces the same readings and the same ground truth — which is what lets alert recall be
//! scored reproducibly.

use episante_protocol::VitalKind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::scenario::{AnomalyKind, AnomalyWindow};

/// One sample: every vital at one instant (a dropout yields none).
pub type Sample = Vec<(VitalKind, f64)>;

pub struct VitalsModel {
    rng: StdRng,
    hr: f64,
    spo2: f64,
    temp: f64,
    rr: f64,
    sys: f64,
    dia: f64,
    /// Remaining simulated seconds of the current activity bout.
    active_for: f64,
    flat_hr: Option<f64>,
}

fn gauss(rng: &mut StdRng, sd: f64) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    sd * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn round1(v: f64, kind: VitalKind) -> f64 {
    let (lo, hi) = kind.plausible_range();
    ((v * 10.0).round() / 10.0).clamp(lo, hi)
}

impl VitalsModel {
    pub fn new(seed: u64, device_index: u64) -> Self {
        let mut rng =
            StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ device_index);
        VitalsModel {
            hr: rng.gen_range(60.0..80.0),
            spo2: rng.gen_range(96.0..99.0),
            temp: rng.gen_range(36.5..37.1),
            rr: rng.gen_range(12.0..18.0),
            sys: rng.gen_range(110.0..130.0),
            dia: rng.gen_range(70.0..85.0),
            active_for: 0.0,
            flat_hr: None,
            rng,
        }
    }

    /// The sample at `t_ms` (simulated), `dt_s` simulated seconds after the previous one.
    pub fn sample(
        &mut self,
        t_ms: i64,
        dt_s: f64,
        device: &str,
        windows: &[AnomalyWindow],
    ) -> Sample {
        let active_anomaly = windows
            .iter()
            .find(|w| w.device == device && (w.start_ms..w.end_ms).contains(&t_ms))
            .map(|w| w.kind);
        // Activity bouts: on average one 10-minute bout every two hours.
        if self.active_for > 0.0 {
            self.active_for -= dt_s;
        } else if self.rng.gen_bool((dt_s / 7200.0).clamp(0.0, 1.0)) {
            self.active_for = self.rng.gen_range(300.0..900.0);
        }
        let activity = if self.active_for > 0.0 { 1.0 } else { 0.0 };
        let hours = (t_ms as f64 / 3_600_000.0) % 24.0;
        let circadian = ((hours - 4.0) / 24.0 * std::f64::consts::TAU).sin();
        let rng = &mut self.rng;
        let mut hr = self.hr + 6.0 * circadian + 25.0 * activity + gauss(rng, 1.5);
        let mut spo2 = (self.spo2 + gauss(rng, 0.4)).min(100.0);
        let mut temp = self.temp + 0.3 * circadian + gauss(rng, 0.05);
        let rr = self.rr + 4.0 * activity + gauss(rng, 0.8);
        let mut sys = self.sys + 10.0 * activity + gauss(rng, 4.0);
        let mut dia = self.dia + 5.0 * activity + gauss(rng, 3.0);
        match active_anomaly {
            Some(AnomalyKind::Tachycardia) => hr = 138.0 + gauss(rng, 3.0),
            Some(AnomalyKind::Bradycardia) => hr = 38.0 + gauss(rng, 1.5),
            Some(AnomalyKind::Hypoxia) => spo2 = 86.0 + gauss(rng, 1.0),
            Some(AnomalyKind::Fever) => temp = 39.4 + gauss(rng, 0.1),
            Some(AnomalyKind::Hypotension) => {
                sys = 82.0 + gauss(rng, 2.0);
                dia = 50.0 + gauss(rng, 2.0);
            }
            Some(AnomalyKind::Flatline) => hr = *self.flat_hr.get_or_insert(hr),
            Some(AnomalyKind::Dropout) | Some(AnomalyKind::Offline) => return Vec::new(),
            None => {}
        }
        if active_anomaly != Some(AnomalyKind::Flatline) {
            self.flat_hr = None;
        }
        vec![
            (VitalKind::HeartRate, round1(hr, VitalKind::HeartRate)),
            (VitalKind::Spo2, round1(spo2, VitalKind::Spo2)),
            (
                VitalKind::BodyTemperature,
                round1(temp, VitalKind::BodyTemperature),
            ),
            (
                VitalKind::RespiratoryRate,
                round1(rr, VitalKind::RespiratoryRate),
            ),
            (VitalKind::SystolicBp, round1(sys, VitalKind::SystolicBp)),
            (VitalKind::DiastolicBp, round1(dia, VitalKind::DiastolicBp)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_vitals_other_seed_other_vitals() {
        let run = |seed| {
            let mut m = VitalsModel::new(seed, 3);
            (0..600)
                .map(|i| m.sample(1_764_000_000_000 + i * 1000, 1.0, "d3", &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn normal_vitals_stay_in_normal_bands_and_anomalies_leave_them() {
        let mut m = VitalsModel::new(1, 0);
        for i in 0..3600 {
            for (kind, v) in m.sample(1_764_000_000_000 + i * 1000, 1.0, "d0", &[]) {
                let ok = match kind {
                    VitalKind::HeartRate => (45.0..=125.0).contains(&v),
                    VitalKind::Spo2 => v >= 94.0,
                    VitalKind::BodyTemperature => (35.5..=38.0).contains(&v),
                    _ => true,
                };
                assert!(ok, "{kind:?} = {v} at {i}");
            }
        }
        let window = AnomalyWindow {
            device: "d0".into(),
            kind: AnomalyKind::Hypoxia,
            start_ms: 0,
            end_ms: i64::MAX,
        };
        let sample = m.sample(1_764_000_000_000, 1.0, "d0", std::slice::from_ref(&window));
        assert!(sample
            .iter()
            .any(|(k, v)| *k == VitalKind::Spo2 && *v < 90.0));
        let dropout = AnomalyWindow {
            kind: AnomalyKind::Dropout,
            ..window
        };
        assert!(m
            .sample(1_764_000_000_000, 1.0, "d0", &[dropout])
            .is_empty());
    }
}
