//! `POST /v1/auth/register`: a patient creates their own account (the portal's sign-up).
//!
//! Only the `patient` role can be had this way; clinicians and admins are created by an admin.
//! Each address is limited by the same per-minute budget as logins (429), so a script cannot mint
//! accounts or probe for taken emails at speed. A taken email is a 409: the portal must say so,
//! and the login endpoint does not reveal it any more slowly than this one.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use episante_kit::{ApiError, ApiResult, Problem, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use crate::db::{self, CONSTRAINTS};
use crate::domain::credentials::{DisplayName, Email, NewPassword};
use crate::domain::user::User;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    pub email: String,
    #[schema(min_length = 1, max_length = 100, format = "single-line")]
    pub display_name: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

/// Creates a patient account; log in with it next (`/v1/auth/login`).
#[utoipa::path(post, path = "/v1/auth/register", tag = "users", request_body = Registration,
    responses(
        (status = 201, body = User),
        (status = 409, description = "Email taken", body = Problem),
        (status = 422, description = "Invalid field", body = Problem),
        (status = 429, description = "Too many attempts from this address", body = Problem)))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<Registration>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let ip = state.client_ip(peer, &headers);
    if let Err(wait) = state.throttle.check(ip) {
        return Err(ApiError::TooManyRequests {
            detail: "too many attempts from this address".into(),
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let email = Email::parse(&body.email)?;
    let name = DisplayName::parse(&body.display_name)?;
    let password = NewPassword::parse(&body.password)?;
    let hash = state.hasher.hash(password.expose()).await?;
    let row = db::users::insert(
        &state.pool,
        email.as_str(),
        name.as_str(),
        Role::Patient,
        &hash,
    )
    .await
    .map_err(|e| ApiError::from_db(e, CONSTRAINTS))?;
    tracing::info!(user = %row.id, "patient registered");
    Ok((StatusCode::CREATED, Json(row.to_user())))
}
