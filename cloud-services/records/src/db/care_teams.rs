//! Care teams: clinicians and the patients they look after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgExecutor, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow, Serialize, Deserialize, ToSchema)]
pub struct CareTeamRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<CareTeamRow> {
    sqlx::query_as(
        "INSERT INTO care_teams (id, name) VALUES ($1, $2) RETURNING id, name, created_at",
    )
    .bind(Uuid::new_v4())
    .bind(name)
    .fetch_one(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<CareTeamRow>> {
    sqlx::query_as("SELECT id, name, created_at FROM care_teams WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

pub async fn list(pool: &PgPool, limit: i64, offset: i64) -> sqlx::Result<Vec<CareTeamRow>> {
    sqlx::query_as("SELECT id, name, created_at FROM care_teams ORDER BY name LIMIT $1 OFFSET $2")
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await
}

pub async fn members(db: impl PgExecutor<'_>, team: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT clinician_id FROM care_team_members WHERE team_id = $1 ORDER BY clinician_id",
    )
    .bind(team)
    .fetch_all(db)
    .await
}

pub async fn patients(db: impl PgExecutor<'_>, team: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT patient_id FROM care_team_patients WHERE team_id = $1 ORDER BY patient_id",
    )
    .bind(team)
    .fetch_all(db)
    .await
}

pub async fn add_member(db: impl PgExecutor<'_>, team: Uuid, clinician: Uuid) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO care_team_members (team_id, clinician_id) VALUES ($1, $2)")
        .bind(team)
        .bind(clinician)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn remove_member(
    db: impl PgExecutor<'_>,
    team: Uuid,
    clinician: Uuid,
) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM care_team_members WHERE team_id = $1 AND clinician_id = $2")
            .bind(team)
            .bind(clinician)
            .execute(db)
            .await?
            .rows_affected()
            == 1,
    )
}

pub async fn add_patient(db: impl PgExecutor<'_>, team: Uuid, patient: Uuid) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO care_team_patients (team_id, patient_id) VALUES ($1, $2)")
        .bind(team)
        .bind(patient)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn remove_patient(
    db: impl PgExecutor<'_>,
    team: Uuid,
    patient: Uuid,
) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM care_team_patients WHERE team_id = $1 AND patient_id = $2")
            .bind(team)
            .bind(patient)
            .execute(db)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Every clinician who may see `patient` now, through any team.
pub async fn clinicians_of(db: impl PgExecutor<'_>, patient: Uuid) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT DISTINCT m.clinician_id FROM care_team_patients p \
         JOIN care_team_members m ON m.team_id = p.team_id \
         WHERE p.patient_id = $1 ORDER BY m.clinician_id",
    )
    .bind(patient)
    .fetch_all(db)
    .await
}
