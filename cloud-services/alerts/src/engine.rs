//! The rule engine: turns each device's reading stream into alert signals.
//!
//! It keeps, per device, a short window of recent samples per vital and, per rule, whether the
//! stream is currently abnormal. A rule *triggers* when the stream turns abnormal, *continues*
//! (throttled) while it stays so, and *clears* once it has been normal — beyond the rule's
//! hysteresis — for the hold time.
//!
//! Two clocks, on purpose. What a rule *measures* (sustain windows, rates of change, flatlines,
//! gaps, the NEWS2 freshness) runs on the readings' own timestamps, so a backlog replayed after an
//! outage is judged as it happened. How long an episode is *held* before it auto-resolves runs on
//! the platform's clock — the broker's receive time of each batch, `now_ms` below — because a hub
//! clock that runs fast or jumps forward must never close an alert earlier, in wall-clock time,
//! than the hold: the hold is a promise to clinicians, not a property of the signal. The receive
//! time travels with the batch, so a replay after a crash decides exactly as the first run did.
//!
//! State is in memory and rebuilt after a restart: windows refill from new readings, and the
//! consumer seeds "abnormal" for rules that still have an open alert, so an episode that ended
//! while the service was down still clears, and one that continues is not raised twice (the
//! database allows one open alert per patient and rule anyway).

use std::collections::{HashMap, VecDeque};

use episante_protocol::stream::StreamPosition;
use episante_protocol::{Reading, VitalKind};

use crate::domain::alert::Severity;
use crate::domain::news2;
use crate::domain::rules::{AlertRule, Direction, RuleKind};

/// Samples older than the longest rule window plus this are dropped.
const MARGIN_MS: i64 = 60_000;
/// At most one `Continue` per rule and this much stream time.
const CONTINUE_EVERY_MS: i64 = 10_000;
/// Latest values older than this do not count towards the NEWS2 aggregate.
const AGGREGATE_FRESH_MS: i64 = 300_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    Trigger,
    Continue,
    Clear,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub device_id: String,
    pub rule_key: String,
    pub vital: Option<VitalKind>,
    pub kind: SignalKind,
    /// The value the rule judged (a mean, a delta, a gap in seconds…).
    pub value: f64,
    /// When it was observed: the reading's measurement time, but never later than the platform
    /// received it (a hub clock running ahead cannot date an alert in the future).
    pub ts_ms: i64,
    pub severity: Severity,
    pub message: String,
}

#[derive(Debug, Default)]
struct RuleState {
    abnormal: bool,
    /// Platform time (`now_ms`) of the first normal verdict of the current recovery.
    normal_since: Option<i64>,
    /// Measurement time of the last `Trigger` or `Continue`.
    last_continue: i64,
}

/// The two clocks of one observation (see the module docs).
#[derive(Debug, Clone, Copy)]
struct When {
    /// Measurement time (the reading's `ts_ms`).
    ts: i64,
    /// Platform time: when the batch was received.
    now: i64,
}

#[derive(Debug, Default)]
struct DeviceStream {
    last_ts: Option<i64>,
    /// The last stream position this engine applied: if the database says otherwise, another
    /// instance handled the device in between and this state is stale.
    position: Option<StreamPosition>,
    samples: HashMap<VitalKind, VecDeque<(i64, f64)>>,
    latest: HashMap<VitalKind, (i64, f64)>,
    states: HashMap<String, RuleState>,
}

pub struct RuleEngine {
    streams: HashMap<String, DeviceStream>,
    hold_ms: i64,
}

/// What a rule sees at one instant: abnormal, clearly normal, or neither (not enough data, or
/// inside the hysteresis band).
struct Verdict {
    abnormal: bool,
    normal: bool,
    value: f64,
}

impl RuleEngine {
    pub fn new(hold_secs: u64) -> Self {
        RuleEngine {
            streams: HashMap::new(),
            hold_ms: hold_secs as i64 * 1000,
        }
    }

    pub fn knows(&self, device: &str) -> bool {
        self.streams.contains_key(device)
    }

    pub fn position(&self, device: &str) -> Option<StreamPosition> {
        self.streams.get(device).and_then(|s| s.position)
    }

    /// Starts tracking `device`: its last reading time (for gaps) and the rules with an open alert.
    pub fn seed(
        &mut self,
        device: &str,
        position: Option<StreamPosition>,
        last_ts: Option<i64>,
        open_rules: &[String],
    ) {
        let stream = self.streams.entry(device.to_string()).or_default();
        stream.position = position;
        stream.last_ts = last_ts;
        for key in open_rules {
            stream.states.entry(key.clone()).or_default().abnormal = true;
        }
    }

    /// Stops tracking `device` (unassigned: its episodes belong to the old patient).
    pub fn forget(&mut self, device: &str) {
        self.streams.remove(device);
    }

    /// The aggregate NEWS2 floor of a stream at `ts`.
    fn severity_floor(stream: &DeviceStream, ts: i64) -> Option<Severity> {
        news2::severity_floor(news2::aggregate(
            stream
                .latest
                .iter()
                .filter(|(_, (t, _))| ts - t <= AGGREGATE_FRESH_MS)
                .map(|(k, (_, v))| (*k, *v)),
        ))
    }

    /// Feeds one new reading of `device` (stream `epoch`) through `rules`; `now_ms` is when the
    /// platform received it (the clock of holds).
    pub fn observe(
        &mut self,
        device: &str,
        rules: &[AlertRule],
        epoch: u64,
        reading: &Reading,
        now_ms: i64,
    ) -> Vec<Signal> {
        let hold_ms = self.hold_ms;
        let stream = self.streams.entry(device.to_string()).or_default();
        let ts = reading.ts_ms;
        let when = When { ts, now: now_ms };
        let mut signals = Vec::new();
        stream.position = Some(StreamPosition::new(epoch, reading.seq));

        // Gaps: judged on arrival of the reading after the silence.
        let gap = stream.last_ts.map(|last| ts - last);
        if stream.last_ts.is_none_or(|last| ts > last) {
            stream.last_ts = Some(ts);
        }
        for rule in rules {
            if let RuleKind::Dropout { after_secs } = rule.kind {
                let silent = gap.is_some_and(|g| g >= after_secs as i64 * 1000);
                let verdict = Verdict {
                    abnormal: silent,
                    normal: !silent,
                    value: gap.unwrap_or(0) as f64 / 1000.0,
                };
                step(
                    device,
                    rule,
                    stream,
                    verdict,
                    when,
                    hold_ms,
                    None,
                    &mut signals,
                );
            }
        }

        let kind = reading.kind;
        let keep_ms = rules
            .iter()
            .filter(|r| r.vital() == Some(kind))
            .map(|r| window_ms(&r.kind))
            .max()
            .unwrap_or(0)
            + MARGIN_MS;
        let samples = stream.samples.entry(kind).or_default();
        samples.push_back((ts, reading.value));
        while samples.front().is_some_and(|(t, _)| *t < ts - keep_ms) {
            samples.pop_front();
        }
        stream.latest.insert(kind, (ts, reading.value));
        let floor = Self::severity_floor(stream, ts);

        for rule in rules.iter().filter(|r| r.vital() == Some(kind)) {
            let samples = &stream.samples[&kind];
            let verdict = judge(&rule.kind, samples, ts, reading.value);
            step(
                device,
                rule,
                stream,
                verdict,
                when,
                hold_ms,
                floor,
                &mut signals,
            );
        }
        signals
    }

    /// For the watchdog: `device` has been silent for `silent_for_ms` (wall clock), so its
    /// dropout rules trigger now (at `now_ms`) rather than when readings resume.
    pub fn silent_since(
        &mut self,
        device: &str,
        rules: &[AlertRule],
        now_ms: i64,
        silent_for_ms: i64,
    ) -> Vec<Signal> {
        let hold_ms = self.hold_ms;
        let Some(stream) = self.streams.get_mut(device) else {
            return Vec::new();
        };
        let mut signals = Vec::new();
        for rule in rules {
            if let RuleKind::Dropout { .. } = rule.kind {
                let verdict = Verdict {
                    abnormal: true,
                    normal: false,
                    value: silent_for_ms as f64 / 1000.0,
                };
                if !stream.states.get(&rule.key).is_some_and(|s| s.abnormal) {
                    step(
                        device,
                        rule,
                        stream,
                        verdict,
                        When {
                            ts: now_ms,
                            now: now_ms,
                        },
                        hold_ms,
                        None,
                        &mut signals,
                    );
                }
            }
        }
        signals
    }
}

fn window_ms(kind: &RuleKind) -> i64 {
    1000 * match kind {
        RuleKind::Threshold { sustain_secs, .. } => *sustain_secs as i64,
        RuleKind::RateOfChange { window_secs, .. } | RuleKind::Flatline { window_secs, .. } => {
            *window_secs as i64
        }
        RuleKind::Dropout { .. } => 0,
    }
}

/// The samples of the last `window` ms, or `None` if the stream does not reach that far back.
fn covered(samples: &VecDeque<(i64, f64)>, ts: i64, window: i64) -> Option<Vec<f64>> {
    let reaches = samples.front().is_some_and(|(t, _)| *t <= ts - window);
    reaches.then(|| {
        samples
            .iter()
            .filter(|(t, _)| *t >= ts - window)
            .map(|(_, v)| *v)
            .collect()
    })
}

fn judge(kind: &RuleKind, samples: &VecDeque<(i64, f64)>, ts: i64, value: f64) -> Verdict {
    let undecided = Verdict {
        abnormal: false,
        normal: false,
        value,
    };
    let window = window_ms(kind);
    match kind {
        RuleKind::Threshold {
            direction,
            threshold,
            hysteresis,
            ..
        } => {
            let Some(values) = covered(samples, ts, window).filter(|v| !v.is_empty()) else {
                return undecided;
            };
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let (abnormal, normal) = match direction {
                Direction::Above => (mean >= *threshold, mean < threshold - hysteresis),
                Direction::Below => (mean <= *threshold, mean > threshold + hysteresis),
            };
            Verdict {
                abnormal,
                normal,
                value: (mean * 10.0).round() / 10.0,
            }
        }
        RuleKind::RateOfChange {
            direction, delta, ..
        } => {
            let Some(values) = covered(samples, ts, window) else {
                return undecided;
            };
            let moved = match direction {
                Direction::Above => value - values.iter().cloned().fold(f64::INFINITY, f64::min),
                Direction::Below => {
                    values.iter().cloned().fold(f64::NEG_INFINITY, f64::max) - value
                }
            };
            Verdict {
                abnormal: moved >= *delta,
                normal: moved < delta / 2.0,
                value: moved,
            }
        }
        RuleKind::Flatline { .. } => {
            let Some(values) = covered(samples, ts, window).filter(|v| v.len() >= 3) else {
                return undecided;
            };
            let flat = values.iter().all(|v| *v == values[0]);
            Verdict {
                abnormal: flat,
                normal: !flat,
                value,
            }
        }
        RuleKind::Dropout { .. } => undecided,
    }
}

#[allow(clippy::too_many_arguments)]
fn step(
    device: &str,
    rule: &AlertRule,
    stream: &mut DeviceStream,
    verdict: Verdict,
    when: When,
    hold_ms: i64,
    floor: Option<Severity>,
    out: &mut Vec<Signal>,
) {
    let ts = when.ts;
    let state = stream.states.entry(rule.key.clone()).or_default();
    let kind = if verdict.abnormal {
        state.normal_since = None;
        if !state.abnormal {
            state.abnormal = true;
            state.last_continue = ts;
            Some(SignalKind::Trigger)
        } else if ts - state.last_continue >= CONTINUE_EVERY_MS {
            state.last_continue = ts;
            Some(SignalKind::Continue)
        } else {
            None
        }
    } else if verdict.normal && state.abnormal {
        // The hold runs on the platform's clock: device time could be ahead, or jump.
        let since = *state.normal_since.get_or_insert(when.now);
        if when.now - since >= hold_ms {
            state.abnormal = false;
            state.normal_since = None;
            Some(SignalKind::Clear)
        } else {
            None
        }
    } else {
        if state.abnormal && !verdict.normal {
            // Inside the hysteresis band: not normal yet.
            state.normal_since = None;
        }
        None
    };
    if let Some(kind) = kind {
        let severity = floor.map_or(rule.severity, |f| f.max(rule.severity));
        out.push(Signal {
            device_id: device.to_string(),
            rule_key: rule.key.clone(),
            vital: rule.vital(),
            kind,
            value: verdict.value,
            ts_ms: ts.min(when.now),
            severity,
            message: rule.describe(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::default_rules;

    fn reading(seq: u64, ts_s: i64, kind: VitalKind, value: f64) -> Reading {
        Reading {
            seq,
            ts_ms: ts_s * 1000,
            kind,
            value,
            unit: kind.unit().into(),
        }
    }

    /// Feeds `hr(t)` every 5 s from `from` to `to` seconds, each received when measured; returns
    /// the signals.
    fn feed(engine: &mut RuleEngine, from: i64, to: i64, hr: impl Fn(i64) -> f64) -> Vec<Signal> {
        feed_skewed(engine, from, to, 0, hr)
    }

    /// Like [`feed`], with device clocks `ahead_s` seconds ahead of the platform's (`t` is
    /// platform time).
    fn feed_skewed(
        engine: &mut RuleEngine,
        from: i64,
        to: i64,
        ahead_s: i64,
        hr: impl Fn(i64) -> f64,
    ) -> Vec<Signal> {
        let rules = default_rules();
        let mut out = Vec::new();
        for t in (from..to).step_by(5) {
            out.extend(engine.observe(
                "d1",
                &rules,
                0,
                &reading(t as u64, t + ahead_s, VitalKind::HeartRate, hr(t)),
                t * 1000,
            ));
        }
        out
    }

    fn kinds(signals: &[Signal], key: &str) -> Vec<SignalKind> {
        signals
            .iter()
            .filter(|s| s.rule_key == key && s.kind != SignalKind::Continue)
            .map(|s| s.kind)
            .collect()
    }

    #[test]
    fn sustained_tachycardia_triggers_once_and_clears_after_the_hold() {
        let mut engine = RuleEngine::new(120);
        let noisy = |t: i64| if t % 10 == 0 { 72.3 } else { 74.1 };
        let mut s = feed(&mut engine, 0, 600, noisy);
        assert!(s.is_empty(), "{s:?}");
        // A 30-second spike is not sustained.
        s = feed(&mut engine, 600, 630, |_| 150.0);
        s.extend(feed(&mut engine, 630, 900, noisy));
        assert!(kinds(&s, "heart_rate.high").is_empty(), "{s:?}");
        // Five minutes at 138: one trigger, continues, then one clear 120 s after recovery.
        s = feed(&mut engine, 900, 1200, |t| 138.0 + (t % 3) as f64);
        s.extend(feed(&mut engine, 1200, 1600, noisy));
        assert_eq!(
            kinds(&s, "heart_rate.high"),
            [SignalKind::Trigger, SignalKind::Clear]
        );
        let trigger = s.iter().find(|x| x.kind == SignalKind::Trigger).unwrap();
        // The mean of the last 60 s crosses 131 once most of the window is tachycardic.
        assert!(
            trigger.ts_ms >= 945_000,
            "needs most of 60 s: {}",
            trigger.ts_ms
        );
        assert_eq!(trigger.severity, Severity::High);
    }

    #[test]
    fn hysteresis_keeps_an_episode_open_near_the_threshold() {
        let mut engine = RuleEngine::new(60);
        let mut s = feed(&mut engine, 0, 300, |_| 135.0);
        // 128 is below 131 but inside the 6-beat hysteresis: still the same episode.
        s.extend(feed(&mut engine, 300, 900, |_| 128.0));
        s.extend(feed(&mut engine, 900, 1000, |_| 136.0));
        assert_eq!(kinds(&s, "heart_rate.high"), [SignalKind::Trigger]);
    }

    #[test]
    fn flatline_and_dropout() {
        let mut engine = RuleEngine::new(60);
        let s = feed(&mut engine, 0, 200, |_| 71.0);
        assert_eq!(kinds(&s, "heart_rate.flatline"), [SignalKind::Trigger]);
        let mut engine = RuleEngine::new(60);
        let mut s = feed(&mut engine, 0, 100, |t| 70.0 + (t % 2) as f64);
        // 90 s of silence, then readings again: one dropout alert, cleared after the hold.
        s.extend(feed(&mut engine, 190, 400, |t| 70.0 + (t % 2) as f64));
        assert_eq!(
            kinds(&s, "device.dropout"),
            [SignalKind::Trigger, SignalKind::Clear]
        );
    }

    #[test]
    fn aggregate_news2_raises_severity_to_critical() {
        let mut engine = RuleEngine::new(60);
        let rules = default_rules();
        let mut out = Vec::new();
        for t in (0..200).step_by(5) {
            for (kind, v) in [
                (VitalKind::Spo2, 88.0),
                (VitalKind::RespiratoryRate, 27.0),
                (VitalKind::HeartRate, 140.0),
            ] {
                out.extend(engine.observe(
                    "d1",
                    &rules,
                    0,
                    &reading(t as u64, t, kind, v),
                    t * 1000,
                ));
            }
        }
        let hr = out
            .iter()
            .find(|s| s.rule_key == "heart_rate.high" && s.kind == SignalKind::Trigger)
            .unwrap();
        assert_eq!(hr.severity, Severity::Critical);
    }

    #[test]
    fn rate_of_change_rules_fire_on_a_fast_rise_only() {
        let mut engine = RuleEngine::new(60);
        let mut rules = default_rules();
        rules.push(AlertRule {
            key: "heart_rate.rise".into(),
            kind: RuleKind::RateOfChange {
                vital: VitalKind::HeartRate,
                direction: Direction::Above,
                delta: 30.0,
                window_secs: 300,
            },
            severity: Severity::Medium,
            enabled: true,
        });
        let mut out = Vec::new();
        // A slow drift of 20 bpm over 10 minutes: nothing. Then +35 within 2 minutes: one alert.
        for (i, t) in (0..600).step_by(10).enumerate() {
            let hr = 70.0 + t as f64 / 30.0 + (i % 2) as f64 * 0.5;
            out.extend(engine.observe(
                "d1",
                &rules,
                0,
                &reading(i as u64, t, VitalKind::HeartRate, hr),
                t * 1000,
            ));
        }
        assert!(kinds(&out, "heart_rate.rise").is_empty(), "{out:?}");
        for (i, t) in (600..720).step_by(10).enumerate() {
            let hr = 90.0 + (t - 600) as f64 * 0.3 + (i % 2) as f64 * 0.5;
            out.extend(engine.observe(
                "d1",
                &rules,
                0,
                &reading(100 + i as u64, t, VitalKind::HeartRate, hr),
                t * 1000,
            ));
        }
        assert_eq!(kinds(&out, "heart_rate.rise"), [SignalKind::Trigger]);
    }

    #[test]
    fn seeded_open_episodes_clear_after_a_restart() {
        let mut engine = RuleEngine::new(60);
        engine.seed("d1", None, Some(0), &["heart_rate.high".to_string()]);
        let s = feed(&mut engine, 5, 400, |t| 70.0 + (t % 2) as f64);
        assert_eq!(kinds(&s, "heart_rate.high"), [SignalKind::Clear]);
    }

    #[test]
    fn a_hub_clock_running_ahead_cannot_end_the_hold_early() {
        let mut engine = RuleEngine::new(120);
        let rules = default_rules();
        let noisy = |t: i64| 72.0 + (t % 2) as f64;
        let mut s = feed(&mut engine, 0, 300, |_| 140.0);
        assert_eq!(kinds(&s, "heart_rate.high"), [SignalKind::Trigger]);
        // Recovery arrives in one batch received at 300 s whose readings the hub timed up to five
        // minutes later: in device time the hold is over, on the platform's clock it has not begun.
        s.clear();
        for t in (300..600).step_by(5) {
            s.extend(engine.observe(
                "d1",
                &rules,
                0,
                &reading(t as u64, t, VitalKind::HeartRate, noisy(t)),
                300_000,
            ));
        }
        // The hub stays five minutes ahead.
        s.extend(feed_skewed(&mut engine, 305, 420, 300, noisy));
        assert!(kinds(&s, "heart_rate.high").is_empty(), "{s:?}");
        s = feed_skewed(&mut engine, 420, 500, 300, noisy);
        let clear = s
            .iter()
            .find(|x| x.rule_key == "heart_rate.high" && x.kind == SignalKind::Clear)
            .expect("cleared once the hold is over on the platform's clock");
        assert_eq!(
            clear.ts_ms, 420_000,
            "dated by the platform, not the hub's future"
        );
    }

    #[test]
    fn the_stream_position_follows_epoch_and_seq() {
        let mut engine = RuleEngine::new(60);
        let rules = default_rules();
        engine.observe(
            "d1",
            &rules,
            7,
            &reading(3, 10, VitalKind::HeartRate, 70.0),
            10_000,
        );
        assert_eq!(engine.position("d1"), Some(StreamPosition::new(7, 3)));
        engine.forget("d1");
        assert_eq!(engine.position("d1"), None);
    }
}
