//! Events records publishes, written to the outbox in the transaction of the change (see
//! `episante_kit::events::outbox`): device assignments and care-team membership, which the alerts
//! service needs to route readings to patients and alerts to clinicians.

use chrono::Utc;
use episante_kit::events::outbox;
use episante_protocol::topics::{KAFKA_CARE_TEAMS, KAFKA_DEVICE_ASSIGNMENTS};
use episante_protocol::{CareTeamEvent, DeviceAssignmentEvent};
use sqlx::PgConnection;
use uuid::Uuid;

/// Topics this service publishes to.
pub const TOPICS: &[&str] = &[KAFKA_DEVICE_ASSIGNMENTS, KAFKA_CARE_TEAMS];

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub async fn device_assignment(
    conn: &mut PgConnection,
    device_id: &str,
    patient: Option<Uuid>,
) -> sqlx::Result<()> {
    let event = DeviceAssignmentEvent {
        device_id: device_id.to_string(),
        patient_id: patient.map(|p| p.to_string()),
        at: now(),
    };
    let payload = serde_json::to_vec(&event).expect("serialisable");
    outbox::enqueue(conn, KAFKA_DEVICE_ASSIGNMENTS, device_id, &payload).await
}

/// Publishes the current set of clinicians of each of `patients`.
pub async fn care_team_changed(conn: &mut PgConnection, patients: &[Uuid]) -> sqlx::Result<()> {
    for patient in patients {
        let clinicians = crate::db::care_teams::clinicians_of(&mut *conn, *patient).await?;
        let event = CareTeamEvent {
            patient_id: patient.to_string(),
            clinicians: clinicians.iter().map(Uuid::to_string).collect(),
            at: now(),
        };
        let payload = serde_json::to_vec(&event).expect("serialisable");
        outbox::enqueue(&mut *conn, KAFKA_CARE_TEAMS, &patient.to_string(), &payload).await?;
    }
    Ok(())
}
