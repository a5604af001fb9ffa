//! Medical history entries of a patient.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use episante_kit::{ApiResult, Problem, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AppState, Caller};
use crate::db;
use crate::domain::history::{HistoryContent, HistoryKind};
use crate::store::HistoryEntry;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    pub kind: Option<HistoryKind>,
}

/// The patient's history, oldest first.
#[utoipa::path(operation_id = "list_history", get, path = "/v1/patients/{id}/history", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), HistoryParams),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Query(params): Query<HistoryParams>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    caller.scope()?.check(&state.pool, id).await?;
    let rows =
        db::history::for_patient(&state.pool, id, params.kind.map(HistoryKind::as_str)).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        entries.push(state.store.open_history(row).await?);
    }
    state
        .audit
        .record(vec![caller.audit(
            "history.read",
            Some(id),
            json!({ "entries": entries.len() }),
        )])
        .await?;
    Ok(Json(entries))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateHistoryEntry {
    pub kind: HistoryKind,
    #[serde(flatten)]
    pub content: HistoryContent,
}

/// Adds an entry (admin, or a clinician in the patient's care team).
#[utoipa::path(operation_id = "create_history", post, path = "/v1/patients/{id}/history", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")), request_body = CreateHistoryEntry,
    responses((status = 201, body = HistoryEntry), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<CreateHistoryEntry>,
) -> ApiResult<(StatusCode, Json<HistoryEntry>)> {
    caller.user.require(&[Role::Admin, Role::Clinician])?;
    caller.scope()?.check(&state.pool, id).await?;
    let content = body.content.validated()?;
    let entry = state
        .store
        .add_history(&state.pool, id, body.kind, &content, caller.id())
        .await?;
    state
        .audit
        .record(vec![caller.audit(
            "history.create",
            Some(id),
            json!({ "entry": entry.id, "kind": body.kind }),
        )])
        .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}
