//! Register, list, rotate and revoke devices. Admins and services (e.g. records, checking a device
//! before assigning it) may call these; a service token needs the scope of each action
//! (`devices:read`, `devices:register`, `devices:manage`), so a leaked records secret cannot
//! take over the fleet. A device's private key is shown to admins only: a service gets the
//! certificate, never the key that would let it impersonate the device.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use crate::db::{self, devices::DeviceRow, CONSTRAINTS};
use crate::device_ca::IssuedCert;
use crate::domain::{generate_secret, secret_digest, DeviceId};
use crate::revocation;
use episante_protocol::registry::DeviceChange;

pub const ALLOWED: &[Role] = &[Role::Admin, Role::Service];

/// A device and its fleet health (connection state and what it last did).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub device_id: String,
    pub label: String,
    pub revoked: bool,
    pub created_at: DateTime<Utc>,
    pub credentials_issued_at: DateTime<Utc>,
    /// Whether an MQTT session of the device is open on some broker instance.
    pub online: bool,
    pub last_connect_at: Option<DateTime<Utc>>,
    /// When the broker last accepted readings from it.
    pub last_reading_at: Option<DateTime<Utc>>,
    /// When its agent last sent a status heartbeat.
    pub last_status_at: Option<DateTime<Utc>>,
    /// The latest of connect, reading and heartbeat.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Readings buffered on the hub and not yet acknowledged, as its agent last reported.
    pub backlog: Option<i64>,
    pub agent_version: Option<String>,
}

impl From<DeviceRow> for Device {
    fn from(row: DeviceRow) -> Self {
        let last_seen_at = [row.last_connect_at, row.last_reading_at, row.last_status_at]
            .into_iter()
            .flatten()
            .max();
        Device {
            device_id: row.device_id,
            label: row.label,
            revoked: row.revoked_at.is_some(),
            created_at: row.created_at,
            credentials_issued_at: row.credentials_issued_at,
            online: row.online.unwrap_or(false),
            last_connect_at: row.last_connect_at,
            last_reading_at: row.last_reading_at,
            last_status_at: row.last_status_at,
            last_seen_at,
            backlog: row.backlog,
            agent_version: row.agent_version,
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
    /// The certificate's private key (PEM): in answers to admins only, absent for services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_pem: Option<String>,
    /// The CA that signed the broker's certificate and this one.
    pub ca_pem: String,
    pub mqtt_port: u16,
    /// Topic prefix the device is confined to.
    pub topic_prefix: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RegisterDevice {
    /// 1 to 64 ASCII letters or digits.
    #[schema(pattern = "^[A-Za-z0-9]{1,64}$")]
    pub device_id: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub label: String,
}

fn credentials(
    state: &AppState,
    caller: &AuthUser,
    device_id: &str,
    secret: String,
    cert: IssuedCert,
) -> DeviceCredentials {
    DeviceCredentials {
        device_id: device_id.to_string(),
        secret,
        certificate_pem: cert.cert_pem,
        private_key_pem: (caller.role() == Role::Admin).then_some(cert.key_pem),
        ca_pem: state.ca.ca_pem().to_string(),
        mqtt_port: state.mqtt_port,
        topic_prefix: format!("/tenants/{device_id}/"),
    }
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
    caller.require_service_scope(Scope::DevicesRegister)?;
    let id = DeviceId::parse(&body.device_id)?;
    if body.label.chars().count() > 200 {
        return Err(ApiError::Invalid(
            "label must be at most 200 characters".into(),
        ));
    }
    let secret = generate_secret();
    let cert = state.ca.issue_device(id.as_str())?;
    db::devices::insert(
        &state.pool,
        id.as_str(),
        body.label.trim(),
        &secret_digest(&secret),
        &cert.serial_hex,
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
        Json(credentials(&state, &caller, id.as_str(), secret, cert)),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListDevices {
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    #[param(minimum = 0, maximum = 1_000_000_000)]
    pub offset: Option<i64>,
    /// Only active devices with no open session (silent hubs).
    #[serde(default)]
    pub offline: bool,
}

/// Lists devices by id, with their fleet health.
#[utoipa::path(get, path = "/v1/devices", tag = "devices", security(("bearer" = [])), params(ListDevices),
    responses((status = 200, body = Vec<Device>), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Query(query): Query<ListDevices>,
) -> ApiResult<Json<Vec<Device>>> {
    caller.require(ALLOWED)?;
    caller.require_service_scope(Scope::DevicesRead)?;
    let (limit, offset) = episante_kit::paging::page(query.limit, query.offset, 100, 1000)?;
    let rows = db::devices::list(&state.pool, query.offline, limit, offset).await?;
    Ok(Json(rows.into_iter().map(Device::from).collect()))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no device {id}"))
}

/// One device.
#[utoipa::path(get, path = "/v1/devices/{id}", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = Device), (status = 404, body = Problem),
              (status = 403, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Device>> {
    caller.require(ALLOWED)?;
    caller.require_service_scope(Scope::DevicesRead)?;
    db::devices::get(&state.pool, &id)
        .await?
        .map(|row| Json(row.into()))
        .ok_or_else(|| not_found(&id))
}

/// Issues a new secret and certificate; the old secret and certificate stop working at once and
/// a session opened with them is cut (on every broker instance).
#[utoipa::path(post, path = "/v1/devices/{id}/rotate", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = DeviceCredentials), (status = 404, body = Problem),
              (status = 409, description = "Device revoked", body = Problem),
              (status = 403, body = Problem)))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceCredentials>> {
    caller.require(ALLOWED)?;
    caller.require_service_scope(Scope::DevicesManage)?;
    let id = DeviceId::parse(&id).map_err(|_| not_found(&id))?;
    let id = id.as_str();
    let secret = generate_secret();
    let cert = state.ca.issue_device(id)?;
    let rotated =
        db::devices::rotate_credentials(&state.pool, id, &secret_digest(&secret), &cert.serial_hex)
            .await?;
    match rotated {
        Some(issued_at) => {
            revocation::apply(
                &state.auth,
                &state.sessions,
                id,
                DeviceChange::Rotated,
                issued_at,
            );
            revocation::announce(state.bus.as_ref(), id, DeviceChange::Rotated, issued_at).await;
            tracing::info!(
                device = id,
                by = caller.subject(),
                "device credentials rotated"
            );
            Ok(Json(credentials(&state, &caller, id, secret, cert)))
        }
        None => match db::devices::get(&state.pool, id).await? {
            Some(_) => Err(ApiError::Conflict(format!("device {id} is revoked"))),
            None => Err(not_found(id)),
        },
    }
}

/// Revokes a device: it cannot connect again, and its open session is cut (on every broker
/// instance).
#[utoipa::path(post, path = "/v1/devices/{id}/revoke", tag = "devices", security(("bearer" = [])),
    params(("id" = String, Path, description = "Device id")),
    responses((status = 200, body = Device), (status = 404, body = Problem),
              (status = 403, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Device>> {
    caller.require(ALLOWED)?;
    caller.require_service_scope(Scope::DevicesManage)?;
    if !db::devices::revoke(&state.pool, &id).await? {
        return Err(not_found(&id));
    }
    let now = Utc::now();
    revocation::apply(
        &state.auth,
        &state.sessions,
        &id,
        DeviceChange::Revoked,
        now,
    );
    revocation::announce(state.bus.as_ref(), &id, DeviceChange::Revoked, now).await;
    tracing::info!(device = %id, by = caller.subject(), "device revoked");
    let row = db::devices::get(&state.pool, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(row.into()))
}
