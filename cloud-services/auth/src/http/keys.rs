//! JWKS publication and signing-key rotation.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use episante_kit::authz::JwkSet;
use episante_kit::{ApiResult, AuthUser, Problem, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;

/// Public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "JSON Web Key Set", body = JwkSet)))]
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(state.keys.jwks()),
    )
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedKey {
    /// The key id new tokens are signed with.
    pub kid: String,
}

/// Rotates the signing key. Tokens signed by the old key stay valid until they expire.
#[utoipa::path(post, path = "/v1/auth/signing-keys/rotate", tag = "keys",
    security(("bearer" = [])),
    responses(
        (status = 200, body = RotatedKey),
        (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub async fn rotate(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<RotatedKey>> {
    user.require(&[Role::Admin])?;
    let kid = state.keys.rotate().await?;
    Ok(Json(RotatedKey { kid }))
}
