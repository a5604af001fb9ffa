//! The alert lifecycle: active (unacknowledged) → acknowledged → resolved, with severities.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Raised, nobody has acknowledged it yet.
    Active,
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Active => "active",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertState> {
        AlertState::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Active and acknowledged: the states of an open episode.
    pub const OPEN: [AlertState; 2] = [AlertState::Active, AlertState::Acknowledged];
    pub const ALL: [AlertState; 3] = [
        AlertState::Active,
        AlertState::Acknowledged,
        AlertState::Resolved,
    ];

    /// The lifecycle, in one place: the state after `transition` is done to an alert in this
    /// state (`escalation_level`: how many times it was escalated already), or why it cannot be.
    /// Every caller (clinicians' actions over HTTP, the escalation timer) asks here before writing.
    ///
    /// | from \ do   | acknowledge  | resolve  | assign   | escalate                          |
    /// |--------------|--------------|----------|----------|-----------------------------------|
    /// | active       | acknowledged | resolved | active   | active (once per level, up to [`LAST_ESCALATION_LEVEL`]) |
    /// | acknowledged | refused      | resolved | same     | refused              |
    /// | resolved     | refused      | refused  | refused  | refused              |
    ///
    /// Raising (a new episode is `active`) and the engine's own clearing (an open episode whose
    /// vitals stayed normal for the hold is `resolved` by `system`) are the two other edges.
    pub fn after(
        self,
        escalation_level: i16,
        transition: Transition,
    ) -> Result<AlertState, Refusal> {
        use AlertState::*;
        match (self, transition) {
            (Resolved, _) => Err(Refusal::AlreadyResolved),
            (Active, Transition::Acknowledge) => Ok(Acknowledged),
            (state, Transition::Acknowledge) => Err(Refusal::NotActive(state)),
            (_, Transition::Resolve) => Ok(Resolved),
            (state, Transition::Assign) => Ok(state),
            (Active, Transition::Escalate) if escalation_level >= LAST_ESCALATION_LEVEL => {
                Err(Refusal::AlreadyEscalated)
            }
            (Active, Transition::Escalate) => Ok(Active),
            (state, Transition::Escalate) => Err(Refusal::NotActive(state)),
        }
    }
}

/// How far an unacknowledged critical alert is escalated, each level after its own delay from
/// the alert's creation (`AlertsConfig::escalation_delays`), and who the notify service pages at
/// each (`cloud-services/notify/src/domain/page.rs`):
///
/// | level | reached after (default)                 | paged                                      |
/// |-------|-----------------------------------------|--------------------------------------------|
/// | 0     | raised                                  | the assigned clinician, else the care team |
/// | 1     | `escalate_after_secs` (300 s)           | the whole care team                        |
/// | 2     | `escalate_to_on_call_after_secs` (600 s)| the on-call staff                          |
pub const LAST_ESCALATION_LEVEL: i16 = 2;

/// What is done to a raised alert: by a clinician, or (escalation) by the platform when a
/// critical alert stays unacknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Acknowledge,
    Resolve,
    Assign,
    Escalate,
}

impl Transition {
    /// The history entry the transition writes.
    pub fn event_kind(self) -> EventKind {
        match self {
            Transition::Acknowledge => EventKind::Acknowledged,
            Transition::Resolve => EventKind::Resolved,
            Transition::Assign => EventKind::Assigned,
            Transition::Escalate => EventKind::Escalated,
        }
    }
}

/// Why a transition is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Only an active (unacknowledged) alert can be acknowledged or escalated.
    NotActive(AlertState),
    AlreadyResolved,
    AlreadyEscalated,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotActive(state) => write!(f, "alert is {}, not active", state.as_str()),
            Refusal::AlreadyResolved => f.write_str("alert is already resolved"),
            Refusal::AlreadyEscalated => f.write_str("alert is already escalated"),
        }
    }
}

/// What happened to an alert (the `kind` of its history entries and stream events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Created,
    Updated,
    Acknowledged,
    Resolved,
    Assigned,
    Escalated,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Created,
        EventKind::Updated,
        EventKind::Acknowledged,
        EventKind::Resolved,
        EventKind::Assigned,
        EventKind::Escalated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Resolved => "resolved",
            EventKind::Assigned => "assigned",
            EventKind::Escalated => "escalated",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::AlertState::*;
    use super::Transition::*;
    use super::*;

    #[test]
    fn the_lifecycle_table() {
        let refused_resolved = Err(Refusal::AlreadyResolved);
        #[rustfmt::skip]
        let table = [
            // (from, escalation level, transition, outcome)
            (Active, 0, Acknowledge, Ok(Acknowledged)),
            (Active, 2, Acknowledge, Ok(Acknowledged)),
            (Acknowledged, 0, Acknowledge, Err(Refusal::NotActive(Acknowledged))),
            (Resolved, 0, Acknowledge, refused_resolved),
            (Active, 0, Resolve, Ok(Resolved)),
            (Acknowledged, 1, Resolve, Ok(Resolved)),
            (Resolved, 0, Resolve, refused_resolved),
            (Active, 0, Assign, Ok(Active)),
            (Acknowledged, 0, Assign, Ok(Acknowledged)),
            (Resolved, 0, Assign, refused_resolved),
            (Active, 0, Escalate, Ok(Active)),
            (Active, 1, Escalate, Ok(Active)),
            (Active, 2, Escalate, Err(Refusal::AlreadyEscalated)),
            (Acknowledged, 0, Escalate, Err(Refusal::NotActive(Acknowledged))),
            (Resolved, 2, Escalate, refused_resolved),
        ];
        for (from, level, transition, outcome) in table {
            assert_eq!(
                from.after(level, transition),
                outcome,
                "{from:?} (escalation level: {level}) + {transition:?}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.as_str()), Some(s));
        }
        for s in AlertState::ALL {
            assert_eq!(AlertState::parse(s.as_str()), Some(s));
        }
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
    }
}
