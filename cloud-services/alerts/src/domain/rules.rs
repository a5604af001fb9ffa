//! Alert rules: what counts as abnormal, for how long, and how bad it is.
//!
//! Every patient gets [`default_rules`] (from the NEWS2 bands, see [`super::news2`]); clinicians
//! override them per patient by key: an override with the same key replaces the default (or
//! disables it with `enabled: false`), a new key adds a rule. Overrides are validated here, at the
//! edge, so the engine only ever sees sane rules.

use episante_kit::Invalid;
use episante_protocol::VitalKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::alert::Severity;
use super::news2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Above,
    Below,
}

/// How a rule decides a reading stream is abnormal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RuleKind {
    /// The mean over the last `sustain_secs` is at or beyond `threshold`; back to normal once
    /// the mean is `hysteresis` inside it.
    Threshold {
        #[schema(value_type = String)]
        vital: VitalKind,
        direction: Direction,
        threshold: f64,
        #[schema(minimum = 0)]
        hysteresis: f64,
        #[schema(maximum = 3600)]
        sustain_secs: u32,
    },
    /// The value moved by at least `delta` (up for `above`, down for `below`) within
    /// `window_secs`.
    RateOfChange {
        #[schema(value_type = String)]
        vital: VitalKind,
        direction: Direction,
        #[schema(exclusive_minimum = 0)]
        delta: f64,
        #[schema(minimum = 10, maximum = 3600)]
        window_secs: u32,
    },
    /// The same value, exactly, for `window_secs`: a stuck or detached sensor.
    Flatline {
        #[schema(value_type = String)]
        vital: VitalKind,
        #[schema(minimum = 10, maximum = 3600)]
        window_secs: u32,
    },
    /// No reading from the device for `after_secs`.
    Dropout {
        #[schema(minimum = 10, maximum = 86_400)]
        after_secs: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AlertRule {
    /// Stable name, e.g. `heart_rate.high`: lowercase letters, digits, `.`, `_`, `-`.
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub key: String,
    #[serde(flatten)]
    pub kind: RuleKind,
    pub severity: Severity,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

impl AlertRule {
    pub fn vital(&self) -> Option<VitalKind> {
        match &self.kind {
            RuleKind::Threshold { vital, .. }
            | RuleKind::RateOfChange { vital, .. }
            | RuleKind::Flatline { vital, .. } => Some(*vital),
            RuleKind::Dropout { .. } => None,
        }
    }

    /// A human sentence for the alert message.
    pub fn describe(&self) -> String {
        match &self.kind {
            RuleKind::Threshold {
                vital,
                direction,
                threshold,
                sustain_secs,
                ..
            } => format!(
                "{} {} {} {} for {} s",
                vital.display(),
                match direction {
                    Direction::Above => "at or above",
                    Direction::Below => "at or below",
                },
                threshold,
                vital.unit(),
                sustain_secs
            ),
            RuleKind::RateOfChange {
                vital,
                direction,
                delta,
                window_secs,
            } => format!(
                "{} {} by {} {} within {} s",
                vital.display(),
                match direction {
                    Direction::Above => "rose",
                    Direction::Below => "fell",
                },
                delta,
                vital.unit(),
                window_secs
            ),
            RuleKind::Flatline { vital, window_secs } => {
                format!(
                    "{} flat for {} s (sensor fault?)",
                    vital.display(),
                    window_secs
                )
            }
            RuleKind::Dropout { after_secs } => {
                format!("no readings from the device for {after_secs} s")
            }
        }
    }

    /// Checks ranges; the error names the rule and the field.
    pub fn validate(&self) -> Result<(), Invalid> {
        let bad = |msg: String| Err(Invalid(format!("rule {}: {msg}", self.key)));
        let key_ok = (1..=64).contains(&self.key.len())
            && self
                .key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !key_ok {
            return Err(Invalid(format!(
                "rule key {:?} must be 1 to 64 lowercase letters, digits, '.', '_' or '-'",
                self.key
            )));
        }
        match &self.kind {
            RuleKind::Threshold {
                vital,
                threshold,
                hysteresis,
                sustain_secs,
                ..
            } => {
                let (lo, hi) = vital.plausible_range();
                if !threshold.is_finite() || *threshold < lo || *threshold > hi {
                    return bad(format!(
                        "threshold must be within {lo}..{hi} {}",
                        vital.unit()
                    ));
                }
                if !hysteresis.is_finite() || *hysteresis < 0.0 || *hysteresis > (hi - lo) / 4.0 {
                    return bad("hysteresis must be ≥ 0 and small beside the range".into());
                }
                if *sustain_secs > 3600 {
                    return bad("sustain_secs must be at most 3600".into());
                }
            }
            RuleKind::RateOfChange {
                vital,
                delta,
                window_secs,
                ..
            } => {
                let (lo, hi) = vital.plausible_range();
                if !delta.is_finite() || *delta <= 0.0 || *delta > hi - lo {
                    return bad("delta must be positive and within the vital's range".into());
                }
                if !(10..=3600).contains(window_secs) {
                    return bad("window_secs must be 10 to 3600".into());
                }
            }
            RuleKind::Flatline { window_secs, .. } => {
                if !(10..=3600).contains(window_secs) {
                    return bad("window_secs must be 10 to 3600".into());
                }
            }
            RuleKind::Dropout { after_secs } => {
                if !(10..=86_400).contains(after_secs) {
                    return bad("after_secs must be 10 to 86400".into());
                }
            }
        }
        Ok(())
    }
}

fn threshold(
    key: &str,
    vital: VitalKind,
    direction: Direction,
    threshold: f64,
    hysteresis: f64,
    severity: Severity,
) -> AlertRule {
    AlertRule {
        key: key.into(),
        kind: RuleKind::Threshold {
            vital,
            direction,
            threshold,
            hysteresis,
            sustain_secs: 60,
        },
        severity,
        enabled: true,
    }
}

/// NEWS2's single-parameter "red" score: an urgent response.
const RED: u8 = 3;
/// Temperature scores at most 2 on the high side: fever alerts there.
const FEVER: u8 = 2;

/// A threshold rule at the edge of a NEWS2 band (`news2.rs` holds the numbers).
fn news2_edge(
    key: &str,
    vital: VitalKind,
    direction: Direction,
    score: u8,
    hysteresis: f64,
    severity: Severity,
) -> AlertRule {
    let edge = match direction {
        Direction::Above => news2::high_edge(vital, score),
        Direction::Below => news2::low_edge(vital, score),
    };
    let edge = edge.unwrap_or_else(|| panic!("NEWS2 has no {direction:?} edge for {key}"));
    threshold(key, vital, direction, edge, hysteresis, severity)
}

/// Every patient's rules unless overridden: the NEWS2 "red" bands held for a minute, fever,
/// a stuck heart-rate sensor, and a silent device.
pub fn default_rules() -> Vec<AlertRule> {
    use Direction::*;
    use Severity::*;
    use VitalKind::*;
    vec![
        news2_edge("heart_rate.high", HeartRate, Above, RED, 6.0, High),
        news2_edge("heart_rate.low", HeartRate, Below, RED, 4.0, High),
        news2_edge("spo2.low", Spo2, Below, RED, 2.0, High),
        news2_edge(
            "temperature.high",
            BodyTemperature,
            Above,
            FEVER,
            0.4,
            Medium,
        ),
        news2_edge("temperature.low", BodyTemperature, Below, RED, 0.4, High),
        news2_edge(
            "respiratory_rate.high",
            RespiratoryRate,
            Above,
            RED,
            2.0,
            High,
        ),
        news2_edge(
            "respiratory_rate.low",
            RespiratoryRate,
            Below,
            RED,
            1.0,
            High,
        ),
        news2_edge("systolic_bp.low", SystolicBp, Below, RED, 5.0, High),
        news2_edge("systolic_bp.high", SystolicBp, Above, RED, 10.0, High),
        AlertRule {
            key: "heart_rate.flatline".into(),
            kind: RuleKind::Flatline {
                vital: HeartRate,
                window_secs: 60,
            },
            severity: Severity::Medium,
            enabled: true,
        },
        AlertRule {
            key: "device.dropout".into(),
            kind: RuleKind::Dropout { after_secs: 60 },
            severity: Severity::Medium,
            enabled: true,
        },
    ]
}

/// Defaults with `overrides` applied (same key replaces; new keys add; disabled ones drop out).
pub fn effective_rules(overrides: &[AlertRule]) -> Vec<AlertRule> {
    let mut rules = default_rules();
    for o in overrides {
        match rules.iter_mut().find(|r| r.key == o.key) {
            Some(r) => *r = o.clone(),
            None => rules.push(o.clone()),
        }
    }
    rules.retain(|r| r.enabled);
    rules
}

/// Validates a clinician's override list.
pub fn validate_overrides(overrides: &[AlertRule]) -> Result<(), Invalid> {
    if overrides.len() > 50 {
        return Err(Invalid("at most 50 rule overrides per patient".into()));
    }
    for (i, r) in overrides.iter().enumerate() {
        r.validate()?;
        if overrides[..i].iter().any(|o| o.key == r.key) {
            return Err(Invalid(format!("rule {} appears twice", r.key)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_overrides_apply_by_key() {
        for r in default_rules() {
            r.validate().unwrap();
        }
        let mut tighter = default_rules()[0].clone();
        if let RuleKind::Threshold { threshold, .. } = &mut tighter.kind {
            *threshold = 120.0;
        }
        let mut off = default_rules()[1].clone();
        off.enabled = false;
        let rules = effective_rules(&[tighter.clone(), off]);
        assert_eq!(rules[0], tighter);
        assert!(!rules.iter().any(|r| r.key == "heart_rate.low"));
    }

    #[test]
    fn bad_rules_are_refused() {
        let json = serde_json::json!([
            {"key": "x", "kind": "threshold", "vital": "heart_rate", "direction": "above",
             "threshold": 900, "hysteresis": 1, "sustain_secs": 60, "severity": "high"}
        ]);
        let rules: Vec<AlertRule> = serde_json::from_value(json).unwrap();
        assert!(validate_overrides(&rules).is_err());
        let json = serde_json::json!([
            {"key": "Bad Key", "kind": "dropout", "after_secs": 60, "severity": "low"}
        ]);
        let rules: Vec<AlertRule> = serde_json::from_value(json).unwrap();
        assert!(validate_overrides(&rules).is_err());
    }

    #[test]
    fn default_thresholds_sit_on_the_news2_band_edges() {
        let mut edges = Vec::new();
        for rule in default_rules() {
            let RuleKind::Threshold {
                vital,
                direction,
                threshold,
                ..
            } = rule.kind
            else {
                continue;
            };
            let step = news2::chart_row(vital).unwrap().resolution;
            let (at, inside) = match direction {
                Direction::Above => (threshold, threshold - step),
                Direction::Below => (threshold, threshold + step),
            };
            let scored = news2::sub_score(vital, at).unwrap();
            assert!(scored >= 2, "{}: {at} scores {scored}", rule.key);
            assert!(
                news2::sub_score(vital, inside).unwrap() < scored,
                "{}: one step inside ({inside}) scores as much",
                rule.key
            );
            edges.push((rule.key, threshold));
        }
        // The chart's edges, as clinicians read them.
        let expected = [
            ("heart_rate.high", 131.0),
            ("heart_rate.low", 40.0),
            ("spo2.low", 91.0),
            ("temperature.high", 39.1),
            ("temperature.low", 35.0),
            ("respiratory_rate.high", 25.0),
            ("respiratory_rate.low", 8.0),
            ("systolic_bp.low", 90.0),
            ("systolic_bp.high", 220.0),
        ];
        assert_eq!(edges, expected.map(|(k, v)| (k.to_string(), v)).to_vec());
    }
}
