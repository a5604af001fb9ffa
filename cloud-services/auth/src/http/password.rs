//! Passwords: change by the user, admin-initiated reset with a one-time token.
//!
//! A change (`POST /v1/auth/password`) needs the current password (counted like a login, so a
//! stolen access token cannot be used to guess it) and ends every other session of the user. A
//! reset is two-step: an admin asks for a reset token for a user
//! (`POST /v1/auth/users/{id}/password-reset`) and hands it over out of band; whoever holds it sets
//! a new password once (`POST /v1/auth/password/reset`). The token carries 256 random bits, is
//! stored as a SHA-256 digest, expires after `password_reset_ttl_secs` (30 min), works once, and
//! a newer one replaces it. A reset ends every session of the user. A reset does not touch the
//! second factor.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role};
use episante_protocol::SecurityNoticeKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::db;
use crate::domain::credentials::NewPassword;
use crate::domain::opaque_token;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePassword {
    pub current_password: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// Changes the caller's password; every other session of the caller ends (this one stays).
#[utoipa::path(post, path = "/v1/auth/password", tag = "password", security(("bearer" = [])),
    request_body = ChangePassword,
    responses((status = 204, description = "Changed; other sessions revoked"),
        (status = 401, description = "Wrong current password", body = Problem),
        (status = 403, description = "Not a user session", body = Problem),
        (status = 422, description = "New password too weak", body = Problem)))]
pub async fn change(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    caller: AuthUser,
    Json(body): Json<ChangePassword>,
) -> ApiResult<StatusCode> {
    let (Ok(id), Some(session)) = (
        caller.subject().parse::<Uuid>(),
        caller
            .claims
            .sid
            .as_deref()
            .and_then(|s| s.parse::<Uuid>().ok()),
    ) else {
        return Err(ApiError::Forbidden(
            "only a user session can change its password".into(),
        ));
    };
    let new = NewPassword::parse(&body.new_password)?;
    let user = db::users::by_id(&state.pool, id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::Unauthorized("account is not active".into()))?;
    if !state
        .check_password(&user, &body.current_password, &format!("user:{id}"))
        .await?
    {
        return Err(ApiError::Unauthorized(
            "the current password is wrong".into(),
        ));
    }
    let hash = state.hasher.hash(new.expose()).await?;
    let mut tx = state.pool.begin().await?;
    db::users::set_password(&mut *tx, id, &hash).await?;
    let events = crate::sessions::revoke_others(&mut tx, id, session).await?;
    let address = state.client_ip(peer, &headers).to_string();
    crate::events::security_notice(
        &mut tx,
        id,
        SecurityNoticeKind::PasswordChanged,
        Some(&address),
    )
    .await?;
    tx.commit().await?;
    state.revoked(&events);
    state.outbox.wake();
    tracing::info!(user = %id, sessions_ended = events.len(), "password changed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResetToken {
    /// Give this to the user out of band; it sets a new password once.
    pub reset_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Issues a one-time password-reset token for a user (admin only).
#[utoipa::path(post, path = "/v1/auth/users/{id}/password-reset", tag = "password",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "User id")),
    responses((status = 201, body = ResetToken), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn issue_reset(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<(StatusCode, Json<ResetToken>)> {
    caller.require(&[Role::Admin])?;
    if db::users::by_id(&state.pool, id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no user {id}")));
    }
    let token = opaque_token::generate();
    let expires_at = Utc::now() + Duration::seconds(state.config.password_reset_ttl_secs as i64);
    let mut tx = state.pool.begin().await?;
    db::password_resets::replace(
        &mut tx,
        id,
        &opaque_token::digest(&token),
        expires_at,
        caller.subject(),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(admin = %caller.subject(), user = %id, "password reset issued");
    Ok((
        StatusCode::CREATED,
        Json(ResetToken {
            reset_token: token,
            expires_at,
        }),
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResetPassword {
    pub reset_token: String,
    /// 12 to 128 characters.
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

/// Sets a new password with a reset token (once); ends every session of the user.
#[utoipa::path(post, path = "/v1/auth/password/reset", tag = "password",
    request_body = ResetPassword,
    responses((status = 204, description = "Password set; sessions revoked"),
        (status = 401, description = "Unknown, used or expired token", body = Problem),
        (status = 422, description = "New password too weak", body = Problem),
        (status = 429, description = "Too many attempts from this address", body = Problem)))]
pub async fn reset(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<ResetPassword>,
) -> ApiResult<StatusCode> {
    let ip = state.client_ip(peer, &headers);
    if let Err(wait) = state.throttle.check(ip) {
        return Err(ApiError::TooManyRequests {
            detail: "too many attempts from this address".into(),
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    // Validated before the token is spent, so a weak password does not burn it; hashed only
    // once the token proved good, so made-up tokens cost no Argon2 work. The token is spent in
    // the transaction: if anything fails after, it is not.
    let new = NewPassword::parse(&body.new_password)?;
    let mut tx = state.pool.begin().await?;
    let Some(user) =
        db::password_resets::consume(&mut *tx, &opaque_token::digest(&body.reset_token)).await?
    else {
        return Err(ApiError::Unauthorized(
            "the reset token is unknown, used or expired".into(),
        ));
    };
    let hash = state.hasher.hash(new.expose()).await?;
    db::users::set_password(&mut *tx, user, &hash).await?;
    let event = crate::sessions::revoke_all(&mut tx, user).await?;
    crate::events::security_notice(
        &mut tx,
        user,
        SecurityNoticeKind::PasswordChanged,
        Some(&ip.to_string()),
    )
    .await?;
    tx.commit().await?;
    state.revoked(&[event]);
    tracing::info!(user = %user, "password reset");
    Ok(StatusCode::NO_CONTENT)
}
