//! Alert events (`alerts.events.v1`) → pages (`domain::page` says who, `domain::message` what):
//! keeps each alert's state current (a page still queued when somebody acknowledges the alert is
//! withdrawn at send time) and pages every recipient through their chosen channels. A page whose
//! audience is empty goes to the on-call staff instead (a patient whose care team is empty still
//! reaches someone); with nobody on call either it is counted (`episante_notify_unpaged_alerts`)
//! and logged as an error.

use episante_kit::Language;
use episante_protocol::alerts::{AlertNotice, AlertSeverity, AlertStatus};

use crate::compose::{About, Composer, Stop};
use crate::db;
use crate::domain::message::MessageKind;
use crate::domain::page::{page_for, recipients, Audience};

/// Handles one alert event in the consumer's transaction `tx`; the kind of page written, if one
/// was.
pub async fn write(
    composer: &Composer,
    tx: &mut sqlx::PgConnection,
    notice: &AlertNotice,
) -> Result<Option<MessageKind>, Stop> {
    db::alerts::set(
        &mut *tx,
        notice.alert_id,
        notice.snapshot.state == AlertStatus::Active,
    )
    .await?;
    let Some((kind, audience)) = page_for(notice) else {
        return Ok(None);
    };
    // Who is on call is read only when they are the audience (or the fallback).
    let care_team = match audience {
        Audience::CareTeam => db::care_teams::clinicians(&mut *tx, notice.patient_id).await?,
        _ => Vec::new(),
    };
    let mut people = recipients(audience, &care_team, &[]);
    if people.is_empty() {
        if audience != Audience::OnCall {
            tracing::warn!(alert = %notice.alert_id, "nobody to page in the care team: paging the on-call staff");
        }
        let on_call = db::preferences::on_call(&mut *tx).await?;
        people = recipients(Audience::OnCall, &[], &on_call);
    }
    if people.is_empty() {
        composer.metrics.unpaged.inc();
        tracing::error!(alert = %notice.alert_id, patient = %notice.patient_id, "alert page reaches nobody: empty care team and nobody on call");
        return Ok(None);
    }
    let about = About {
        alert_id: Some(notice.alert_id),
        ..About::default()
    };
    let link = composer.link("/board");
    let waited = (notice.at - notice.snapshot.created_at)
        .num_minutes()
        .max(0);
    let severity = notice.snapshot.severity;
    let event_id = notice.event_uuid();
    let mut written = false;
    for person in people {
        written |= composer
            .write(&mut *tx, event_id, person, kind, &about, |language, _| {
                vec![
                    ("severity", severity_word(severity, language).to_string()),
                    ("waiting", format!("{waited} min")),
                    ("link", link.clone()),
                ]
            })
            .await?;
    }
    Ok(written.then_some(kind))
}

fn severity_word(severity: AlertSeverity, language: Language) -> &'static str {
    match (severity, language) {
        (AlertSeverity::Critical, Language::En) => "critical",
        (AlertSeverity::Critical, Language::Fr) => "critique",
        (AlertSeverity::High, Language::En) => "high",
        (AlertSeverity::High, Language::Fr) => "élevée",
        (AlertSeverity::Medium, Language::En) => "medium",
        (AlertSeverity::Medium, Language::Fr) => "moyenne",
        (AlertSeverity::Low, Language::En) => "low",
        (AlertSeverity::Low, Language::Fr) => "faible",
    }
}
