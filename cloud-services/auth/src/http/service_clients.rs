//! Service clients for the client-credentials grant. Admin only. The secret is returned once, at
//! creation; only its hash is stored.
//!
//! Each client holds scopes (`episante_kit::Scope`), granted by the admin who registers it and
//! nothing by default: a service token can do only what its scopes name (least privilege; a leaked
//! client secret of records cannot register devices or list appointments).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use crate::db::{self, CONSTRAINTS};
use crate::domain::credentials::ClientId;
use crate::domain::opaque_token;
use crate::domain::service_scopes::ServiceScopes;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceClient {
    /// e.g. `records`; lowercase letters, digits and '-'.
    #[schema(pattern = "^[a-z0-9-]{3,64}$")]
    pub client_id: String,
    /// What the client may do, e.g. `["devices:read", "vitals:read"]` (known scopes only;
    /// default none).
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceClient {
    pub client_id: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedServiceClient {
    pub client_id: String,
    /// Shown only in this response.
    pub client_secret: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetScopes {
    /// The client's new scopes (replacing the old ones; known scopes only).
    pub scopes: Vec<String>,
}

/// Registers a service client and returns its secret (once).
#[utoipa::path(operation_id = "create_service_clients", post, path = "/v1/auth/service-clients", tag = "service-clients",
    security(("bearer" = [])), request_body = CreateServiceClient,
    responses((status = 201, body = CreatedServiceClient), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 403, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<CreateServiceClient>,
) -> ApiResult<(StatusCode, Json<CreatedServiceClient>)> {
    caller.require(&[Role::Admin])?;
    let client_id = ClientId::parse(&body.client_id)?;
    let scopes = ServiceScopes::parse(&body.scopes)?.to_strings();
    let secret = opaque_token::generate();
    db::service_clients::insert(
        &state.pool,
        client_id.as_str(),
        &opaque_token::digest(&secret),
        &scopes,
    )
    .await
    .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedServiceClient {
            client_id: client_id.as_str().to_string(),
            client_secret: secret,
            scopes,
        }),
    ))
}

/// Lists service clients (without secrets).
#[utoipa::path(operation_id = "list_service_clients", get, path = "/v1/auth/service-clients", tag = "service-clients",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<ServiceClient>), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<Json<Vec<ServiceClient>>> {
    caller.require(&[Role::Admin])?;
    let rows = db::service_clients::list(&state.pool).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| ServiceClient {
                client_id: r.client_id,
                active: r.active,
                created_at: r.created_at,
                scopes: ServiceScopes::from_stored(&r.scopes).to_strings(),
            })
            .collect(),
    ))
}

/// Deactivates a service client: it gets no new tokens.
#[utoipa::path(operation_id = "deactivate_service_clients", post, path = "/v1/auth/service-clients/{client_id}/deactivate", tag = "service-clients",
    security(("bearer" = [])), params(("client_id" = String, Path, description = "Client id")),
    responses((status = 204), (status = 404, body = Problem), (status = 403, body = Problem)))]
pub async fn deactivate(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(client_id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(&[Role::Admin])?;
    if db::service_clients::deactivate(&state.pool, &client_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("no service client {client_id}")))
    }
}

/// Replaces a client's scopes. Tokens already issued keep their scopes until they expire (one
/// access-token lifetime).
#[utoipa::path(put, path = "/v1/auth/service-clients/{client_id}/scopes", tag = "service-clients",
    security(("bearer" = [])), params(("client_id" = String, Path, description = "Client id")),
    request_body = SetScopes,
    responses((status = 200, body = ServiceClient), (status = 404, body = Problem),
              (status = 422, body = Problem), (status = 403, body = Problem)))]
pub async fn set_scopes(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(client_id): Path<String>,
    Json(body): Json<SetScopes>,
) -> ApiResult<Json<ServiceClient>> {
    caller.require(&[Role::Admin])?;
    let scopes = ServiceScopes::parse(&body.scopes)?.to_strings();
    if !db::service_clients::set_scopes(&state.pool, &client_id, &scopes).await? {
        return Err(ApiError::NotFound(format!("no service client {client_id}")));
    }
    let row = db::service_clients::by_id(&state.pool, &client_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no service client {client_id}")))?;
    Ok(Json(ServiceClient {
        client_id: row.client_id,
        active: row.active,
        created_at: row.created_at,
        scopes: ServiceScopes::from_stored(&row.scopes).to_strings(),
    }))
}

/// The access token of a service client: role `service`, its scopes in the `scope` claim, no
/// session id. Built here (not in `AppState::access_token`, which is the users' path) so the
/// client-credentials grant has one place that decides what a service token carries.
pub fn service_access_token(
    state: &AppState,
    client: &db::service_clients::ServiceClientRow,
) -> Result<(String, u64), ApiError> {
    let now = Utc::now().timestamp();
    let ttl = state.config.access_ttl_secs;
    let claims = episante_kit::Claims {
        iss: state.tokens.issuer.clone(),
        aud: state.tokens.audience.clone(),
        sub: client.client_id.clone(),
        role: Role::Service,
        iat: now,
        nbf: now,
        exp: now + ttl as i64,
        jti: uuid::Uuid::new_v4().to_string(),
        sid: None,
        scope: ServiceScopes::from_stored(&client.scopes).to_claim(),
    };
    Ok((state.keys.sign(&claims)?, ttl))
}
