//! Register, list, rotate and revoke devices. Admins and services (e.g. records, checking a device
//! before assigning it) may call these.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use crate::db::{self, devices::DeviceRow, CONSTRAINTS};
use crate::domain::{generate_secret, secret_digest, DeviceId};

const ALLOWED: &[Role] = &[Role::Admin, Role::Service];

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub device_id: String,
    pub label: String,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
    pub credentials_issued_at: DateTime<Utc>,
}

impl From<DeviceRow> for Device {
    fn from(row: DeviceRow) -> Self {
        Device {
            device_id: row.device_id,
            label: row.label,
            revoked: row.revoked_at.is_some(),
            created_at: row.created_at,
            credentials_issued_at: row.credentials_issued_at,
        }
    }
}

/// Everything a device needs to connect; the secret and private key are shown only here.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviceCredentials {
    pub device_id: String,
    /// MQTT password (username and client id are the device id).
    pub secret: String,
    /// Client certificate (PEM); its Organization is the device id.
    pub certificate_pem: String,
    pub private_key_pem: String,
    /// The CA that signed the broker's certificate and this one.
    pub ca_pem: String,
    pub mqtt_port: u16,
    /// Topic prefix the device is confined to.
    pub topic_prefix: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterDevice {
    /// 1 to 64 ASCII letters or digits.
    pub device_id: String,
    #[serde(default)]
    pub label: String,
}

fn credentials(state: &AppState, device_id: &str, secret: String) -> ApiResult<DeviceCredentials> {
    let cert = state.ca.issue_device(device_id)?;
    Ok(DeviceCredentials {
        device_id: device_id.to_string(),
        secret,
        certificate_pem: cert.cert_pem,
        private_key_pem: cert.key_pem,
        ca_pem: state.ca.ca_pem().to_string(),
        mqtt_port: state.mqtt_port,
        topic_prefix: format!("/tenants/{device_id}/"),
    })
}

/// Registers a device and issues its credentials.
#[utoipa::path(post, path = "/v1/devices", tag = "devices", security(("bearer" = [])),
    request_body = RegisterDevice,
    responses((status = 201, body = DeviceCredentials), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn register(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<RegisterDevice>,
) -> ApiResult<(StatusCode, Json<DeviceCredentials>)> {
    caller.require(ALLOWED)?;
    let id = DeviceId::parse(&body.device_id)?;
    if body.label.chars().count() > 200 {
        return Err(ApiError::Invalid(
            "label must be at most 200 characters".into(),
        ));
    }
    let secret = generate_secret();
    db::devices::insert(
        &state.pool,
        id.as_str(),
        body.label.trim(),
        &secret_digest(&secret),
    )
    .await
    .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    state.auth.invalidate(id.as_str());
    tracing::info!(
        device = id.as_str(),
        by = caller.subject(),
        "device registered"
    );
    Ok((
        StatusCode::CREATED,
        Json(credentials(&state, id.as_str(), secret)?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct Page {
    /// 1 to 1000, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// Lists devices by id.
#[utoipa::path(get, path = "/v1/devices", tag = "devices", security(("bearer" = [])), params(Page),
    responses((status = 200, body = Vec<Device>), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(page): Query<Page>,
) -> ApiResult<Json<Vec<Device>>> {
    caller.require(ALLOWED)?;
    let (limit, offset) = episante_kit::paging::page(page.limit, page.offset, 100, 1000)?;
    let rows = db::devices::list(&state.pool, limit, offset).await?;
    Ok(Json(rows.into_iter().map(Device::from).collect()))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no device {id}"))
}

/// One device.
#[utoipa::path(get, path = "/v1/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = Device), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Device>> {
    caller.require(ALLOWED)?;
    db::devices::get(&state.pool, &id)
        .await?
        .map(|row| Json(row.into()))
        .ok_or_else(|| not_found(&id))
}

/// Issues a new secret and certificate; the old secret stops working at once.
#[utoipa::path(post, path = "/v1/devices/{id}/rotate", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = DeviceCredentials), (status = 404, body = Problem),
              (status = 409, description = "Device revoked", body = Problem)))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceCredentials>> {
    caller.require(ALLOWED)?;
    let secret = generate_secret();
    let rotated = db::devices::rotate_secret(&state.pool, &id, &secret_digest(&secret)).await?;
    state.auth.invalidate(&id);
    match rotated {
        Some(_) => Ok(Json(credentials(&state, &id, secret)?)),
        None => match db::devices::get(&state.pool, &id).await? {
            Some(_) => Err(ApiError::Conflict(format!("device {id} is revoked"))),
            None => Err(not_found(&id)),
        },
    }
}

/// Revokes a device: it cannot connect again.
#[utoipa::path(post, path = "/v1/devices/{id}/revoke", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = Device), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Device>> {
    caller.require(ALLOWED)?;
    let row = db::devices::revoke(&state.pool, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    state.auth.invalidate(&id);
    tracing::info!(device = %id, by = caller.subject(), "device revoked");
    Ok(Json(row.into()))
}
