//! Care teams (admin): which clinicians look after which patients. Every change publishes the
//! affected patients' clinician lists on `records.care-teams.v1`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use episante_kit::{ApiError, ApiResult, Problem, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access::not_found;
use super::{page, AppState, Caller};
use crate::db::care_teams::CareTeamRow;
use crate::db::{self, CONSTRAINTS};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateCareTeam {
    #[schema(min_length = 1, max_length = 100, format = "single-line")]
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CareTeam {
    pub id: Uuid,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Clinician user ids.
    pub members: Vec<Uuid>,
    pub patients: Vec<Uuid>,
}

async fn load(state: &AppState, id: Uuid) -> Result<CareTeam, ApiError> {
    let team = db::care_teams::by_id(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no care team {id}")))?;
    Ok(CareTeam {
        id: team.id,
        name: team.name,
        created_at: team.created_at,
        members: db::care_teams::members(&state.pool, id).await?,
        patients: db::care_teams::patients(&state.pool, id).await?,
    })
}

/// Creates a care team.
#[utoipa::path(operation_id = "create_care_teams", post, path = "/v1/care-teams", tag = "care-teams", security(("bearer" = [])),
    request_body = CreateCareTeam,
    responses((status = 201, body = CareTeam), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<CreateCareTeam>,
) -> ApiResult<(StatusCode, Json<CareTeam>)> {
    caller.user.require(&[Role::Admin])?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::Invalid("name must be 1 to 100 characters".into()));
    }
    let row = db::care_teams::insert(&state.pool, name)
        .await
        .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    Ok((StatusCode::CREATED, Json(load(&state, row.id).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TeamListParams {
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
}

/// Lists care teams.
#[utoipa::path(operation_id = "list_care_teams", get, path = "/v1/care-teams", tag = "care-teams", security(("bearer" = [])),
    params(TeamListParams), responses((status = 200, body = Vec<CareTeamRow>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<TeamListParams>,
) -> ApiResult<Json<Vec<CareTeamRow>>> {
    caller.user.require(&[Role::Admin])?;
    let (limit, offset) = page(params.limit, params.offset)?;
    Ok(Json(
        db::care_teams::list(&state.pool, limit, offset).await?,
    ))
}

/// One care team with its members and patients.
#[utoipa::path(operation_id = "get_care_teams", get, path = "/v1/care-teams/{id}", tag = "care-teams", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id")),
    responses((status = 200, body = CareTeam), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<CareTeam>> {
    caller.user.require(&[Role::Admin])?;
    Ok(Json(load(&state, id).await?))
}

/// Starts a team change: 404 unless the team exists.
async fn begin(
    state: &AppState,
    id: Uuid,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ApiError> {
    let mut tx = state.pool.begin().await?;
    db::care_teams::by_id(&mut *tx, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no care team {id}")))?;
    Ok(tx)
}

/// Publishes the new clinician lists of `affected` patients, audits, commits.
async fn finish(
    state: &AppState,
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    id: Uuid,
    affected: &[Uuid],
    entry: crate::audit::AuditEntry,
) -> Result<Json<CareTeam>, ApiError> {
    crate::events::care_team_changed(&mut tx, affected).await?;
    state.audit.record(vec![entry]).await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(Json(load(state, id).await?))
}

/// Adds a clinician (auth user id) to the team.
#[utoipa::path(put, path = "/v1/care-teams/{id}/members/{clinician_id}", tag = "care-teams", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id"), ("clinician_id" = Uuid, Path, description = "Clinician user id")),
    responses((status = 200, body = CareTeam), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, clinician)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<CareTeam>> {
    caller.user.require(&[Role::Admin])?;
    let mut tx = begin(&state, id).await?;
    db::care_teams::add_member(&mut *tx, id, clinician)
        .await
        .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    let affected = db::care_teams::patients(&mut *tx, id).await?;
    let detail = json!({ "team": id, "clinician": clinician });
    finish(
        &state,
        tx,
        id,
        &affected,
        caller.audit("care_team.add_member", None, detail),
    )
    .await
}

/// Removes a clinician from the team.
#[utoipa::path(delete, path = "/v1/care-teams/{id}/members/{clinician_id}", tag = "care-teams", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id"), ("clinician_id" = Uuid, Path, description = "Clinician user id")),
    responses((status = 200, body = CareTeam), (status = 404, body = Problem)))]
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, clinician)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<CareTeam>> {
    caller.user.require(&[Role::Admin])?;
    let mut tx = begin(&state, id).await?;
    if !db::care_teams::remove_member(&mut *tx, id, clinician).await? {
        return Err(ApiError::NotFound(format!(
            "{clinician} is not in this team"
        )));
    }
    let affected = db::care_teams::patients(&mut *tx, id).await?;
    let detail = json!({ "team": id, "clinician": clinician });
    finish(
        &state,
        tx,
        id,
        &affected,
        caller.audit("care_team.remove_member", None, detail),
    )
    .await
}

/// Puts a patient in the team's care.
#[utoipa::path(put, path = "/v1/care-teams/{id}/patients/{patient_id}", tag = "care-teams", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id"), ("patient_id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, body = CareTeam), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn add_patient(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, patient)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<CareTeam>> {
    caller.user.require(&[Role::Admin])?;
    let mut tx = begin(&state, id).await?;
    db::patients::by_id(&mut *tx, patient)
        .await?
        .ok_or_else(|| not_found(patient))?;
    db::care_teams::add_patient(&mut *tx, id, patient)
        .await
        .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    let detail = json!({ "team": id });
    finish(
        &state,
        tx,
        id,
        &[patient],
        caller.audit("care_team.add_patient", Some(patient), detail),
    )
    .await
}

/// Takes a patient out of the team's care.
#[utoipa::path(delete, path = "/v1/care-teams/{id}/patients/{patient_id}", tag = "care-teams", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Team id"), ("patient_id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, body = CareTeam), (status = 404, body = Problem)))]
pub async fn remove_patient(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, patient)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<CareTeam>> {
    caller.user.require(&[Role::Admin])?;
    let mut tx = begin(&state, id).await?;
    if !db::care_teams::remove_patient(&mut *tx, id, patient).await? {
        return Err(ApiError::NotFound(format!(
            "patient {patient} is not in this team"
        )));
    }
    let detail = json!({ "team": id });
    finish(
        &state,
        tx,
        id,
        &[patient],
        caller.audit("care_team.remove_patient", Some(patient), detail),
    )
    .await
}
