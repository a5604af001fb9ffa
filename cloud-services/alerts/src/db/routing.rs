//! Who is who: device → patient (from assignment events) and patient → clinicians (from
//! care-team events).

use sqlx::PgExecutor;
use uuid::Uuid;

pub async fn set_device_patient(
    db: impl PgExecutor<'_>,
    device: &str,
    patient: Option<Uuid>,
) -> sqlx::Result<()> {
    match patient {
        Some(p) => sqlx::query(
            "INSERT INTO device_patients (device_id, patient_id) VALUES ($1, $2) \
             ON CONFLICT (device_id) DO UPDATE SET patient_id = EXCLUDED.patient_id, changed_at = now()",
        )
        .bind(device)
        .bind(p)
        .execute(db)
        .await?,
        None => sqlx::query("DELETE FROM device_patients WHERE device_id = $1")
            .bind(device)
            .execute(db)
            .await?,
    };
    Ok(())
}

/// Replaces the clinicians of `patient`.
pub async fn set_clinicians(
    conn: &mut sqlx::PgConnection,
    patient: Uuid,
    clinicians: &[Uuid],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM patient_clinicians WHERE patient_id = $1")
        .bind(patient)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO patient_clinicians (patient_id, clinician_id) \
         SELECT $1, c FROM UNNEST($2::uuid[]) AS c ON CONFLICT DO NOTHING",
    )
    .bind(patient)
    .bind(clinicians)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn in_care(
    db: impl PgExecutor<'_>,
    clinician: Uuid,
    patient: Uuid,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM patient_clinicians WHERE clinician_id = $1 AND patient_id = $2)",
    )
    .bind(clinician)
    .bind(patient)
    .fetch_one(db)
    .await
}

pub async fn patients_of(db: impl PgExecutor<'_>, clinician: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("SELECT patient_id FROM patient_clinicians WHERE clinician_id = $1")
        .bind(clinician)
        .fetch_all(db)
        .await
}

/// The patient each of `devices` is assigned to (unassigned devices are left out).
pub async fn device_patients(
    db: impl PgExecutor<'_>,
    devices: &[String],
) -> sqlx::Result<Vec<(String, Uuid)>> {
    sqlx::query_as("SELECT device_id, patient_id FROM device_patients WHERE device_id = ANY($1)")
        .bind(devices)
        .fetch_all(db)
        .await
}
