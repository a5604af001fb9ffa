//! The `care_teams` table: each patient's clinicians, from `records.care-teams.v1`.

use sqlx::PgExecutor;
use uuid::Uuid;

/// Replaces `patient`'s clinicians (the latest event is the whole truth).
pub async fn set(
    db: impl PgExecutor<'_>,
    patient: Uuid,
    clinicians: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO care_teams (patient_id, clinicians) VALUES ($1, $2) \
         ON CONFLICT (patient_id) DO UPDATE SET clinicians = EXCLUDED.clinicians, updated_at = now()",
    )
    .bind(patient)
    .bind(clinicians)
    .execute(db)
    .await
    .map(|_| ())
}

/// `patient`'s clinicians (none when no event named the patient yet).
pub async fn clinicians(db: impl PgExecutor<'_>, patient: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar::<_, Vec<Uuid>>("SELECT clinicians FROM care_teams WHERE patient_id = $1")
        .bind(patient)
        .fetch_optional(db)
        .await
        .map(Option::unwrap_or_default)
}
