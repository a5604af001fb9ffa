//! Assigning registered devices to patients. The registry (the broker's HTTP API) is asked, with
//! records' own service token, whether the device exists and is not revoked; the change is
//! published on `records.device-assignments.v1` through the outbox.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use episante_kit::{ApiError, ApiResult, Problem, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppState, Caller};
use crate::db::devices::DeviceAssignment;
use crate::db::{self, CONSTRAINTS};

/// Devices assigned to the patient.
#[utoipa::path(operation_id = "list_devices", get, path = "/v1/patients/{id}/devices", tag = "devices", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, body = Vec<DeviceAssignment>), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<DeviceAssignment>>> {
    caller.scope()?.check(&state.pool, id).await?;
    let devices = db::devices::for_patient(&state.pool, id).await?;
    state
        .audit
        .record(vec![caller.audit(
            "device.list",
            Some(id),
            json!({ "devices": devices.len() }),
        )])
        .await?;
    Ok(Json(devices))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssignDevice {
    #[schema(pattern = "^[A-Za-z0-9]{1,64}$")]
    pub device_id: String,
}

/// Assigns a registered device (admin, or a clinician in the patient's care team). Assigning a
/// device already assigned to this patient is a no-op (200); to another patient, 409.
#[utoipa::path(post, path = "/v1/patients/{id}/devices", tag = "devices", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id")), request_body = AssignDevice,
    responses((status = 201, body = DeviceAssignment), (status = 200, body = DeviceAssignment),
        (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, description = "Unknown or revoked device", body = Problem),
        (status = 503, description = "Registry unreachable", body = Problem)))]
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    Json(body): Json<AssignDevice>,
) -> ApiResult<(StatusCode, Json<DeviceAssignment>)> {
    caller.user.require(&[Role::Admin, Role::Clinician])?;
    caller.scope()?.check(&state.pool, id).await?;
    if !episante_protocol::is_valid_device_id(&body.device_id) {
        return Err(ApiError::Invalid(format!(
            "{:?} is not a valid device id",
            body.device_id
        )));
    }
    if let Some(existing) = db::devices::by_device(&state.pool, &body.device_id).await? {
        if existing.patient_id == id {
            return Ok((StatusCode::OK, Json(existing)));
        }
        return Err(ApiError::Conflict(
            "this device is assigned to another patient; unassign it first".into(),
        ));
    }
    match state.peers.device(&body.device_id).await? {
        None => {
            return Err(ApiError::Invalid(format!(
                "device {} is not registered",
                body.device_id
            )))
        }
        Some(d) if d.revoked => {
            return Err(ApiError::Invalid(format!(
                "device {} is revoked",
                body.device_id
            )))
        }
        Some(_) => {}
    }
    let mut tx = state.pool.begin().await?;
    let assignment = db::devices::insert(&mut *tx, &body.device_id, id, caller.id())
        .await
        .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    crate::events::device_assignment(&mut tx, &body.device_id, Some(id)).await?;
    state
        .audit
        .record(vec![caller.audit(
            "device.assign",
            Some(id),
            json!({ "device_id": body.device_id }),
        )])
        .await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok((StatusCode::CREATED, Json(assignment)))
}

/// Unassigns a device from the patient.
#[utoipa::path(delete, path = "/v1/patients/{id}/devices/{device_id}", tag = "devices", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Patient id"), ("device_id" = String, Path, description = "Device id")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, device_id)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    caller.user.require(&[Role::Admin, Role::Clinician])?;
    caller.scope()?.check(&state.pool, id).await?;
    let mut tx = state.pool.begin().await?;
    if !db::devices::delete(&mut *tx, &device_id, id).await? {
        return Err(ApiError::NotFound(format!(
            "device {device_id} is not assigned to this patient"
        )));
    }
    crate::events::device_assignment(&mut tx, &device_id, None).await?;
    state
        .audit
        .record(vec![caller.audit(
            "device.unassign",
            Some(id),
            json!({ "device_id": device_id }),
        )])
        .await?;
    tx.commit().await?;
    state.outbox.wake();
    Ok(StatusCode::NO_CONTENT)
}
