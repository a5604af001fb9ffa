//! The registry's devices as FHIR R4 `Device` resources (read, and search by `_id`), with the
//! access rule of `GET /v1/devices`. Errors leave as `OperationOutcome`s
//! (`episante_kit::fhir::operation_outcomes`, applied by the kit's server).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use episante_kit::fhir::{fhir_response, searchset, OperationOutcome, SearchParams};
use episante_kit::{ApiError, ApiResult, AuthUser, Scope};
use serde_json::{json, Value};

use super::devices::{Device, ALLOWED};
use super::AppState;
use crate::db;

/// Identifier system of device ids.
pub const DEVICE_ID_SYSTEM: &str = "urn:episante:device-id";

pub fn device_resource(d: &Device) -> Value {
    let mut resource = json!({
        "resourceType": "Device",
        "id": d.device_id,
        "identifier": [{ "system": DEVICE_ID_SYSTEM, "value": d.device_id }],
        "status": if d.revoked { "inactive" } else { "active" },
        "deviceName": [{ "name": d.label, "type": "user-friendly-name" }],
        "type": { "text": "Vital-signs monitoring hub" },
    });
    if let Some(version) = &d.agent_version {
        resource["version"] = json!([{ "type": { "text": "edge agent" }, "value": version }]);
    }
    resource
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no Device {id}"))
}

/// `GET /v1/fhir/Device/{id}`.
#[utoipa::path(get, path = "/v1/fhir/Device/{id}", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, description = "Device", content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 404, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn device(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(ALLOWED)?;
    caller.require_service_scope(Scope::DevicesRead)?;
    if !episante_protocol::is_valid_device_id(&id) {
        return Err(not_found(&id));
    }
    let row = db::devices::get(&state.pool, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(fhir_response(device_resource(&row.into())))
}

/// `GET /v1/fhir/Device?_id&_count&_offset`: devices by id.
#[utoipa::path(get, path = "/v1/fhir/Device", tag = "fhir", security(("bearer" = [])),
    params(("_id" = Option<String>, Query, description = "Device id"),
        ("_count" = Option<String>, Query, description = "Page size, 1 to 1000 (default 100)"),
        ("_offset" = Option<String>, Query, description = "Matches to skip")),
    responses((status = 200, description = "searchset Bundle of Device", content_type = "application/fhir+json"),
        (status = 400, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 401, body = OperationOutcome, content_type = "application/fhir+json"),
        (status = 403, body = OperationOutcome, content_type = "application/fhir+json")))]
pub async fn devices(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    caller.require(ALLOWED)?;
    caller.require_service_scope(Scope::DevicesRead)?;
    let mut params = SearchParams::new(pairs);
    let id = params.take("_id")?;
    let (count, offset) = params.take_page()?;
    params.finish()?;
    let (limit, offset) = episante_kit::paging::page(count, offset, 100, 1000)?;
    let (rows, total) = match id {
        Some(id) => {
            let row = if episante_protocol::is_valid_device_id(&id) {
                db::devices::get(&state.pool, &id).await?
            } else {
                None
            };
            let total = i64::from(row.is_some());
            (row.into_iter().skip(offset as usize).collect(), total)
        }
        None => (
            db::devices::list(&state.pool, false, limit, offset).await?,
            db::devices::count(&state.pool).await?,
        ),
    };
    let resources = rows
        .into_iter()
        .map(|row| device_resource(&row.into()))
        .collect();
    Ok(fhir_response(searchset(resources, total.max(0) as usize)))
}
