//! Whether a patient is in a caller's scope (`domain::access`).

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::access::PatientScope;

/// Whether `patient` exists and is in `scope`.
pub async fn in_scope(pool: &PgPool, scope: PatientScope, patient: Uuid) -> sqlx::Result<bool> {
    match scope {
        PatientScope::All => {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1)")
                .bind(patient)
                .fetch_one(pool)
                .await
        }
        PatientScope::CareOf(clinician) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM care_team_patients p \
                 JOIN care_team_members m ON m.team_id = p.team_id \
                 WHERE p.patient_id = $1 AND m.clinician_id = $2)",
            )
            .bind(patient)
            .bind(clinician)
            .fetch_one(pool)
            .await
        }
        PatientScope::Own(user) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1 AND user_id = $2)",
            )
            .bind(patient)
            .bind(user)
            .fetch_one(pool)
            .await
        }
    }
}
