//! The second factor: TOTP enrolment, recovery codes, and the check at login.
//!
//! Enrolment is two steps: `POST /v1/auth/mfa/enroll` (with the current password, so a stolen
//! access token cannot bind the account to the thief's authenticator) returns a fresh secret and
//! its `otpauth://` URI once; `POST /v1/auth/mfa/confirm` with a first code proves the app has it,
//! switches MFA on and returns 10 recovery codes, once. Secrets are sealed at rest (`mfa_key`).
//!
//! Users of a role in `auth.require_mfa_roles` who have not enrolled get no session at login:
//! they get an *enrolment-only token* instead — an access token of another audience
//! (`{audience}:mfa-enrolment`), refused by every service and every other endpoint, accepted here
//! only. That keeps enrolment self-service without ever handing a usable session to a password
//! alone. Admins can reset a user's second factor (lost phone and codes).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use episante_kit::{ApiError, ApiResult, AuthUser, Claims, Problem, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::session::LoginRequest;
use super::AppState;
use crate::db;
use crate::db::users::UserRow;
use crate::domain::recovery_code;
use crate::domain::totp::TotpSecret;

/// The outcome of the second-factor part of a login whose password was right.
pub enum SecondFactor {
    /// The account has no second factor.
    NotEnrolled,
    Passed,
    /// The account has one and the request carries no code.
    Missing,
    Wrong,
}

impl AppState {
    /// Checks `totp` or `recovery_code` of a login against `user`'s second factor.
    pub(crate) async fn second_factor(
        &self,
        user: &UserRow,
        login: &LoginRequest,
    ) -> ApiResult<SecondFactor> {
        let Some(sealed) = &user.mfa_secret else {
            return Ok(SecondFactor::NotEnrolled);
        };
        if let Some(code) = login.totp.as_deref() {
            let secret = TotpSecret::from_bytes(self.mfa_key.open_sealed(user.id, sealed)?);
            let unix = chrono::Utc::now().timestamp().max(0) as u64;
            let passed = match secret.matching_step(code, unix) {
                Some(step) => db::users::accept_totp_step(&self.pool, user.id, step as i64).await?,
                None => false,
            };
            return Ok(if passed {
                SecondFactor::Passed
            } else {
                SecondFactor::Wrong
            });
        }
        if let Some(code) = login.recovery_code.as_deref() {
            let passed = match recovery_code::digest(code) {
                Some(digest) => db::recovery_codes::consume(&self.pool, user.id, &digest).await?,
                None => false,
            };
            if passed {
                tracing::info!(user = %user.id, "recovery code used");
            }
            return Ok(if passed {
                SecondFactor::Passed
            } else {
                SecondFactor::Wrong
            });
        }
        Ok(SecondFactor::Missing)
    }
}

/// A user enrolling: bearer of a session token or of an enrolment-only token.
pub struct Enrollee {
    pub claims: Claims,
}

impl Enrollee {
    fn user_id(&self) -> Result<Uuid, ApiError> {
        self.claims
            .sub
            .parse()
            .map_err(|_| ApiError::Forbidden("only users have a second factor".into()))
    }
}

impl FromRequestParts<AppState> for Enrollee {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            })
            .map(|(_, token)| token.trim().to_string())
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        let claims = match state.verifier.verify(&token).await {
            Ok(claims) => claims,
            Err(first) => state
                .enrolment_verifier
                .verify(&token)
                .await
                .map_err(|_| ApiError::Unauthorized(first.to_string()))?,
        };
        if matches!(claims.role, Role::Service | Role::Device) {
            return Err(ApiError::Forbidden(
                "only users have a second factor".into(),
            ));
        }
        Ok(Enrollee { claims })
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The current password (re-authentication).
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Enrollment {
    /// Base32 secret, for typing into an authenticator app. Shown once.
    pub secret: String,
    /// `otpauth://totp/…` URI (for a QR code). Shown once.
    pub otpauth_uri: String,
}

/// Starts enrolling a TOTP authenticator (restarting an unconfirmed enrolment).
#[utoipa::path(post, path = "/v1/auth/mfa/enroll", tag = "mfa", security(("bearer" = [])),
    request_body = EnrollRequest,
    responses((status = 200, body = Enrollment),
        (status = 401, description = "Bad token or wrong password", body = Problem),
        (status = 409, description = "MFA already enabled", body = Problem)))]
pub async fn enroll(
    State(state): State<AppState>,
    caller: Enrollee,
    Json(body): Json<EnrollRequest>,
) -> ApiResult<Json<Enrollment>> {
    let id = caller.user_id()?;
    let user = db::users::by_id(&state.pool, id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::Unauthorized("account is not active".into()))?;
    // Re-authentication counts like a login (per-account and per-user-id back-off; the address
    // is not known here, the user id stands in for it).
    if !state
        .check_password(&user, &body.password, &format!("user:{id}"))
        .await?
    {
        return Err(ApiError::Unauthorized("invalid password".into()));
    }
    if user.mfa_secret.is_some() {
        return Err(ApiError::Conflict(
            "a second factor is already enabled; ask an admin to reset it to enrol another".into(),
        ));
    }
    let secret = TotpSecret::generate();
    let sealed = state.mfa_key.seal(id, secret.as_bytes());
    if !db::users::set_pending_mfa(&state.pool, id, &sealed).await? {
        return Err(ApiError::Conflict(
            "a second factor is already enabled".into(),
        ));
    }
    Ok(Json(Enrollment {
        secret: secret.base32(),
        otpauth_uri: secret.otpauth_uri(&state.config.mfa_issuer, &user.email),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// A current 6-digit code from the authenticator app.
    pub code: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes for when the authenticator is lost. Shown once: store them safely.
    pub recovery_codes: Vec<String>,
}

/// Confirms enrolment with a first code: MFA is on from now, recovery codes are returned once.
#[utoipa::path(post, path = "/v1/auth/mfa/confirm", tag = "mfa", security(("bearer" = [])),
    request_body = ConfirmRequest,
    responses((status = 200, body = RecoveryCodes),
        (status = 401, body = Problem),
        (status = 409, description = "No enrolment in progress", body = Problem),
        (status = 422, description = "The code does not match", body = Problem)))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Enrollee,
    Json(body): Json<ConfirmRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    let id = caller.user_id()?;
    let user = db::users::by_id(&state.pool, id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::Unauthorized("account is not active".into()))?;
    let Some(sealed) = user
        .mfa_pending_secret
        .as_ref()
        .filter(|_| user.mfa_secret.is_none())
    else {
        return Err(ApiError::Conflict(
            "no enrolment in progress: POST /v1/auth/mfa/enroll first".into(),
        ));
    };
    let secret = TotpSecret::from_bytes(state.mfa_key.open_sealed(id, sealed)?);
    let unix = chrono::Utc::now().timestamp().max(0) as u64;
    let Some(step) = secret.matching_step(&body.code, unix) else {
        return Err(ApiError::Invalid(
            "the code does not match: check the app's entry and the device clock".into(),
        ));
    };
    let codes: Vec<String> = (0..recovery_code::COUNT)
        .map(|_| recovery_code::generate())
        .collect();
    let digests: Vec<Vec<u8>> = codes
        .iter()
        .filter_map(|c| recovery_code::digest(c))
        .collect();
    let mut tx = state.pool.begin().await?;
    if !db::users::enable_mfa(&mut *tx, id, sealed, step as i64).await? {
        return Err(ApiError::Conflict(
            "the enrolment changed meanwhile; start again".into(),
        ));
    }
    db::recovery_codes::replace(&mut tx, id, &digests).await?;
    tx.commit().await?;
    tracing::info!(user = %id, "second factor enabled");
    Ok(Json(RecoveryCodes {
        recovery_codes: codes,
    }))
}

/// Removes a user's second factor and recovery codes and ends their sessions (admin only: for a
/// lost authenticator). The user enrols again at the next login if their role requires it.
#[utoipa::path(post, path = "/v1/auth/users/{id}/mfa/reset", tag = "mfa", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn admin_reset(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(&[Role::Admin])?;
    let mut tx = state.pool.begin().await?;
    if !db::users::disable_mfa(&mut *tx, id).await? {
        return Err(ApiError::NotFound(format!("no user {id}")));
    }
    db::recovery_codes::remove_all(&mut *tx, id).await?;
    let event = crate::sessions::revoke_all(&mut tx, id).await?;
    tx.commit().await?;
    state.revoked(&[event]);
    tracing::info!(admin = %caller.subject(), user = %id, "second factor reset");
    Ok(StatusCode::NO_CONTENT)
}
