//! Service clients for the client-credentials grant. Admin only. The secret is returned once, at
//! creation; only its hash is stored.

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

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateServiceClient {
    /// e.g. `records`; lowercase letters, digits and '-'.
    pub client_id: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ServiceClient {
    pub client_id: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedServiceClient {
    pub client_id: String,
    /// Shown only in this response.
    pub client_secret: String,
}

/// Registers a service client and returns its secret (once).
#[utoipa::path(post, path = "/v1/auth/service-clients", tag = "service-clients",
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
    let secret = opaque_token::generate();
    db::service_clients::insert(
        &state.pool,
        client_id.as_str(),
        &opaque_token::digest(&secret),
    )
    .await
    .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedServiceClient {
            client_id: client_id.as_str().to_string(),
            client_secret: secret,
        }),
    ))
}

/// Lists service clients (without secrets).
#[utoipa::path(get, path = "/v1/auth/service-clients", tag = "service-clients",
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
            })
            .collect(),
    ))
}

/// Deactivates a service client: it gets no new tokens.
#[utoipa::path(post, path = "/v1/auth/service-clients/{client_id}/deactivate", tag = "service-clients",
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
