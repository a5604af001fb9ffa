//! Who an alert event pages. The alerts service owns the escalation (its timer raises the level;
//! `cloud-services/alerts/src/domain/alert.rs`, `LAST_ESCALATION_LEVEL`); notify only turns each
//! event into pages:
//!
//! | event (`alerts.events.v1`) | severity         | alert state | message           | paged                                      |
//! |----------------------------|------------------|-------------|-------------------|--------------------------------------------|
//! | `created`                  | critical or high | active      | `alert_page`      | the assigned clinician, else the care team |
//! | `assigned`                 | critical or high | active      | `alert_page`      | the newly assigned clinician               |
//! | `escalated`, level 1       | critical         | active      | `alert_escalated` | the whole care team                        |
//! | `escalated`, level 2       | critical         | active      | `alert_escalated` | the on-call staff                          |
//! | anything else              |                  |             | —                 | nobody                                     |
//!
//! An acknowledged or resolved alert pages nobody, and a page still queued when the alert is
//! acknowledged is withdrawn at send time (`message::still_due`).

use episante_protocol::alerts::{AlertChange, AlertNotice, AlertSeverity, AlertStatus};
use uuid::Uuid;

use super::message::MessageKind;

/// The people a page is for, before they are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The clinician the alert is assigned to.
    Assignee(Uuid),
    /// Every clinician of the patient's care teams.
    CareTeam,
    /// Everyone marked on call in their notification preferences.
    OnCall,
}

/// The page `notice` calls for, if any (the table above).
pub fn page_for(notice: &AlertNotice) -> Option<(MessageKind, Audience)> {
    let alert = &notice.snapshot;
    if alert.state != AlertStatus::Active || alert.severity < AlertSeverity::High {
        return None;
    }
    match notice.kind {
        AlertChange::Created => Some((
            MessageKind::AlertPage,
            alert
                .assigned_to
                .map_or(Audience::CareTeam, Audience::Assignee),
        )),
        AlertChange::Assigned => alert
            .assigned_to
            .map(|to| (MessageKind::AlertPage, Audience::Assignee(to))),
        AlertChange::Escalated if alert.severity == AlertSeverity::Critical => {
            match alert.escalation_level {
                1 => Some((MessageKind::AlertEscalated, Audience::CareTeam)),
                l if l >= 2 => Some((MessageKind::AlertEscalated, Audience::OnCall)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The recipients of a page for `audience`, given the patient's care team and who is on call;
/// each once.
pub fn recipients(audience: Audience, care_team: &[Uuid], on_call: &[Uuid]) -> Vec<Uuid> {
    let mut people = match audience {
        Audience::Assignee(who) => vec![who],
        Audience::CareTeam => care_team.to_vec(),
        Audience::OnCall => on_call.to_vec(),
    };
    people.sort();
    people.dedup();
    people
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use episante_protocol::alerts::AlertSnapshot;

    fn notice(
        kind: AlertChange,
        severity: AlertSeverity,
        state: AlertStatus,
        assigned_to: Option<Uuid>,
        escalation_level: i16,
    ) -> AlertNotice {
        AlertNotice {
            id: 1,
            alert_id: Uuid::nil(),
            patient_id: Uuid::nil(),
            kind,
            at: Utc::now(),
            snapshot: AlertSnapshot {
                severity,
                state,
                assigned_to,
                escalation_level,
                created_at: Utc::now(),
            },
        }
    }

    #[test]
    fn the_paging_table() {
        use AlertChange::*;
        use AlertSeverity::*;
        use AlertStatus as S;
        let doc = Uuid::from_u128(7);
        let page = Some((MessageKind::AlertPage, Audience::CareTeam));
        #[rustfmt::skip]
        let table = [
            // (event, severity, state, assigned, level, page)
            (Created, Critical, S::Active, None, 0, page),
            (Created, High, S::Active, None, 0, page),
            (Created, Critical, S::Active, Some(doc), 0, Some((MessageKind::AlertPage, Audience::Assignee(doc)))),
            (Created, Medium, S::Active, None, 0, None),
            (Created, Low, S::Active, None, 0, None),
            (Assigned, High, S::Active, Some(doc), 0, Some((MessageKind::AlertPage, Audience::Assignee(doc)))),
            (Assigned, High, S::Acknowledged, Some(doc), 0, None),
            (Escalated, Critical, S::Active, None, 1, Some((MessageKind::AlertEscalated, Audience::CareTeam))),
            (Escalated, Critical, S::Active, Some(doc), 2, Some((MessageKind::AlertEscalated, Audience::OnCall))),
            (Escalated, High, S::Active, None, 1, None),
            (Updated, Critical, S::Active, None, 0, None),
            (Acknowledged, Critical, S::Acknowledged, None, 0, None),
            (Resolved, Critical, S::Resolved, None, 1, None),
            (Other, Critical, S::Active, None, 0, None),
        ];
        for (kind, severity, state, assigned, level, expected) in table {
            assert_eq!(
                page_for(&notice(kind, severity, state, assigned, level)),
                expected,
                "{kind:?} {severity:?} {state:?} {assigned:?} level {level}"
            );
        }
    }

    #[test]
    fn each_recipient_once() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(recipients(Audience::CareTeam, &[b, a, b], &[]), vec![a, b]);
        assert_eq!(recipients(Audience::OnCall, &[a], &[b]), vec![b]);
        assert_eq!(recipients(Audience::Assignee(a), &[b], &[b]), vec![a]);
        assert!(recipients(Audience::CareTeam, &[], &[a]).is_empty());
    }
}
