//! Sessions: password login (with back-off and a second factor), refresh-token rotation within
//! an absolute session lifetime, logout, client-credentials tokens, `me`.
//!
//! A session is a refresh-token family; its access tokens carry its id as `sid`, which is what
//! logout and the other revocations name (`crate::sessions`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use chrono::{DateTime, Duration, Utc};
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role};
use episante_protocol::SecurityNoticeKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::mfa::SecondFactor;
use super::{AppState, LoginOutcome};
use crate::db;
use crate::db::users::UserRow;
use crate::domain::credentials::Email;
use crate::domain::opaque_token;
use crate::domain::user::User;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The 6-digit code of the authenticator app, for accounts with a second factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
    /// One of the account's recovery codes, instead of `totp` (each works once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Access-token lifetime, seconds.
    pub expires_in: u64,
    /// Present for user sessions; single use — each refresh returns a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

const INVALID_CREDENTIALS: &str = "invalid email or password";
/// Problem `type` of a login that needs the second factor (`totp` or `recovery_code`).
pub const MFA_REQUIRED: &str = "/problems/mfa-required";
/// Problem `type` of a login whose role must enrol a second factor first.
pub const MFA_ENROLMENT_REQUIRED: &str = "/problems/mfa-enrolment-required";

/// A problem response with its own `type` and extension members (RFC 9457 §3.2).
fn problem_with(
    status: StatusCode,
    kind: &str,
    detail: &str,
    extensions: serde_json::Value,
) -> Response {
    let mut body = serde_json::json!({
        "type": kind,
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    if let (Some(body), serde_json::Value::Object(more)) = (body.as_object_mut(), extensions) {
        body.extend(more);
    }
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// Waits, if needed, until the clock is past the second of `revoked_at`: every service refuses
/// tokens issued (`iat`, whole seconds) in the second of a revocation of all the user's sessions,
/// so a new session right after one (role change, reset) must start in the next second.
async fn wait_past(revoked_at: Option<DateTime<Utc>>) {
    let Some(at) = revoked_at else { return };
    let next_second_ms = (at.timestamp() + 1) * 1000;
    let wait = next_second_ms - Utc::now().timestamp_millis();
    if wait > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(wait.min(1_100) as u64)).await;
    }
}

impl AppState {
    pub(crate) fn count_login(&self, outcome: &'static str) {
        self.login_outcomes
            .get_or_create(&LoginOutcome { outcome })
            .inc();
    }

    /// Counts a failed password (or second factor) for the account and for the address, and
    /// extends the account's back-off (`domain::lockout`).
    pub(crate) async fn record_failure(&self, user: Uuid, address: &str) -> ApiResult<()> {
        let failures = db::users::count_failed_login(&self.pool, user).await?;
        let window = self.lockout.window(failures);
        if window > Duration::zero() {
            db::users::back_off(&self.pool, user, window.num_milliseconds()).await?;
        }
        db::login_failures::record(&self.pool, user, address).await?;
        Ok(())
    }

    /// Checks a password of a known user as a login does: refused without looking while the
    /// address is held back, failures counted. `Ok(false)` for a wrong or held-back password.
    pub(crate) async fn check_password(
        &self,
        user: &UserRow,
        password: &str,
        address: &str,
    ) -> ApiResult<bool> {
        let pair = db::login_failures::get(&self.pool, user.id, address).await?;
        let held_back = self.lockout.held_back(user.locked_until, pair, Utc::now());
        let ok = self
            .hasher
            .verify(password, Some(user.password_hash.as_str()))
            .await;
        if held_back {
            return Ok(false);
        }
        if !ok {
            self.record_failure(user.id, address).await?;
        }
        Ok(ok)
    }

    /// Issues an access token and a refresh token in session `family`, which started at
    /// `started_at` (now, for a login).
    async fn issue_session(
        &self,
        executor: impl sqlx::PgExecutor<'_>,
        user_id: Uuid,
        role: Role,
        family: Uuid,
        started_at: DateTime<Utc>,
    ) -> ApiResult<TokenResponse> {
        let (access_token, expires_in) =
            self.access_token(&user_id.to_string(), role, Some(family.to_string()))?;
        let refresh = opaque_token::generate();
        let session_end = started_at + Duration::seconds(self.config.session_max_age_secs as i64);
        let expires_at =
            (Utc::now() + Duration::seconds(self.config.refresh_ttl_secs as i64)).min(session_end);
        db::refresh_tokens::insert(
            executor,
            family,
            user_id,
            &opaque_token::digest(&refresh),
            expires_at,
            started_at,
        )
        .await?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".into(),
            expires_in,
            refresh_token: Some(refresh),
        })
    }
}

/// Exchanges email and password (and, for accounts with MFA, a one-time code) for tokens.
///
/// Failures are deliberately uninformative: an unknown email, a wrong password, an inactive
/// account and an account backing off after repeated failures all get the same 401 with the same
/// body after the same Argon2 work. The back-off (1 s doubling to `lockout_secs` after
/// `lockout_threshold` failures) applies only to addresses that have been failing against the
/// account, so strangers cannot lock its owner out; each address is also limited in attempts per
/// minute (429). A correct password on an account with MFA and no code answers 401
/// `/problems/mfa-required`; a role in `require_mfa_roles` without MFA answers 403
/// `/problems/mfa-enrolment-required` carrying an `enrolment_token` for `/v1/auth/mfa/*` only.
#[utoipa::path(post, path = "/v1/auth/login", tag = "session", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Invalid credentials, or `/problems/mfa-required`", body = Problem),
        (status = 403, description = "`/problems/mfa-enrolment-required`, with `enrolment_token`", body = Problem),
        (status = 422, description = "Malformed request", body = Problem),
        (status = 429, description = "Too many attempts from this address", body = Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Response> {
    let ip = state.client_ip(peer, &headers);
    if let Err(wait) = state.throttle.check(ip) {
        state.count_login("throttled");
        return Err(ApiError::TooManyRequests {
            detail: "too many login attempts from this address".into(),
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let address = ip.to_string();
    let unauthorized = || ApiError::Unauthorized(INVALID_CREDENTIALS.into());
    let Ok(email) = Email::parse(&body.email) else {
        state.count_login("bad_credentials");
        return Err(unauthorized());
    };
    let user = db::users::by_email(&state.pool, email.as_str()).await?;
    // The same queries and the same Argon2 work whether the account exists, is backing off or not.
    let pair = db::login_failures::get(
        &state.pool,
        user.as_ref().map_or(Uuid::nil(), |u| u.id),
        &address,
    )
    .await?;
    let held_back = user
        .as_ref()
        .is_some_and(|u| state.lockout.held_back(u.locked_until, pair, Utc::now()));
    let password_ok = state
        .hasher
        .verify(
            &body.password,
            user.as_ref().map(|u| u.password_hash.as_str()),
        )
        .await;
    let Some(user) = user else {
        state.count_login("bad_credentials");
        return Err(unauthorized());
    };
    if held_back {
        state.count_login("held_back");
        return Err(unauthorized());
    }
    if !password_ok {
        state.record_failure(user.id, &address).await?;
        state.count_login("bad_credentials");
        return Err(unauthorized());
    }
    if !user.active {
        state.count_login("inactive");
        return Err(unauthorized());
    }
    match state.second_factor(&user, &body).await? {
        SecondFactor::Passed | SecondFactor::NotEnrolled => {}
        SecondFactor::Missing => {
            state.count_login("mfa_required");
            return Ok(problem_with(
                StatusCode::UNAUTHORIZED,
                MFA_REQUIRED,
                "this account uses a second factor: send `totp` (the 6-digit code of your \
                 authenticator app) or `recovery_code` with the email and password",
                serde_json::json!({}),
            ));
        }
        SecondFactor::Wrong => {
            state.record_failure(user.id, &address).await?;
            state.count_login("bad_second_factor");
            return Err(ApiError::Unauthorized(
                "invalid one-time code or recovery code".into(),
            ));
        }
    }
    db::users::record_successful_login(&state.pool, user.id).await?;
    db::login_failures::clear(&state.pool, user.id, &address).await?;
    // A sign-in from an address this account never used: the person hears of it (notify).
    let mut tx = state.pool.begin().await?;
    let new_address = db::sign_in_addresses::record(&mut tx, user.id, &address).await?;
    if new_address {
        crate::events::security_notice(
            &mut tx,
            user.id,
            SecurityNoticeKind::NewSignIn,
            Some(&address),
        )
        .await?;
    }
    tx.commit().await?;
    if new_address {
        state.outbox.wake();
    }
    if user.mfa_secret.is_none() && state.config.require_mfa_roles.contains(&user.role()) {
        let (token, expires_in) = state.enrolment_token(&user.id.to_string(), user.role())?;
        state.count_login("mfa_enrolment_required");
        return Ok(problem_with(
            StatusCode::FORBIDDEN,
            MFA_ENROLMENT_REQUIRED,
            "your role must log in with a second factor: enrol an authenticator app with \
             POST /v1/auth/mfa/enroll and /v1/auth/mfa/confirm using `enrolment_token` as the \
             bearer token (`episante mfa enroll` does this), then log in again",
            serde_json::json!({ "enrolment_token": token, "expires_in": expires_in }),
        ));
    }
    wait_past(user.sessions_revoked_at).await;
    let tokens = state
        .issue_session(
            &state.pool,
            user.id,
            user.role(),
            Uuid::new_v4(),
            Utc::now(),
        )
        .await?;
    state.count_login("success");
    Ok(Json(tokens).into_response())
}

/// Exchanges a refresh token for a new access token and a new refresh token.
///
/// Each refresh token works once. Presenting one that was already used means it was copied:
/// the whole session (every token descended from the same login) is revoked, its access tokens
/// included. A session cannot be refreshed past `session_max_age_secs` after its login.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "session", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Invalid, expired, revoked or reused token, or session too old", body = Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let digest = opaque_token::digest(&body.refresh_token);
    let mut tx = state.pool.begin().await?;
    let Some(row) = db::refresh_tokens::lock_by_hash(&mut *tx, &digest).await? else {
        return Err(ApiError::Unauthorized("refresh token is not valid".into()));
    };
    if row.used_at.is_some() || row.revoked_at.is_some() {
        let event = crate::sessions::revoke_one(&mut tx, row.user_id, row.family_id).await?;
        tx.commit().await?;
        state.revoked(&[event]);
        if row.revoked_at.is_none() {
            tracing::warn!(user_id = %row.user_id, family = %row.family_id,
                "refresh token reuse detected: session revoked");
        }
        return Err(ApiError::Unauthorized(
            "refresh token was already used; the session has been revoked".into(),
        ));
    }
    if row.expires_at <= Utc::now() {
        return Err(ApiError::Unauthorized("refresh token has expired".into()));
    }
    let session_end =
        row.session_started_at + Duration::seconds(state.config.session_max_age_secs as i64);
    if session_end <= Utc::now() {
        return Err(ApiError::Unauthorized(
            "the session has reached its maximum age; log in again".into(),
        ));
    }
    let user = db::users::by_id(&mut *tx, row.user_id).await?;
    let Some(user) = user.filter(|u| u.active) else {
        return Err(ApiError::Unauthorized("account is not active".into()));
    };
    db::refresh_tokens::mark_used(&mut *tx, row.id).await?;
    let tokens = state
        .issue_session(
            &mut *tx,
            user.id,
            user.role(),
            row.family_id,
            row.session_started_at,
        )
        .await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

/// Ends the session the refresh token belongs to, its access tokens included (every service
/// refuses them within seconds). Idempotent: unknown tokens also get 204.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "session", request_body = RefreshRequest,
    responses((status = 204, description = "Session revoked")))]
pub async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    let mut tx = state.pool.begin().await?;
    let revoked =
        db::refresh_tokens::revoke_family_of(&mut *tx, &opaque_token::digest(&body.refresh_token))
            .await?;
    let event = match revoked {
        Some((user, family)) => Some(crate::events::session_revoked(&mut tx, user, family).await?),
        None => None,
    };
    tx.commit().await?;
    state.revoked(event.as_slice());
    Ok(StatusCode::NO_CONTENT)
}

/// OAuth 2.0 client-credentials grant (RFC 6749 §4.4), form-encoded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientCredentials {
    /// Must be `client_credentials`.
    #[schema(pattern = "^client_credentials$")]
    pub grant_type: String,
    pub client_id: String,
    pub client_secret: String,
}

/// Issues a `service` access token to a registered service client.
#[utoipa::path(post, path = "/v1/auth/token", tag = "session",
    request_body(content = ClientCredentials, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Unsupported grant type", body = Problem),
        (status = 401, description = "Invalid client", body = Problem)))]
pub async fn client_token(
    State(state): State<AppState>,
    Form(body): Form<ClientCredentials>,
) -> ApiResult<Json<TokenResponse>> {
    if body.grant_type != "client_credentials" {
        return Err(ApiError::BadRequest(format!(
            "unsupported grant_type {:?}; use client_credentials",
            body.grant_type
        )));
    }
    let client = db::service_clients::by_id(&state.pool, &body.client_id).await?;
    let presented = opaque_token::digest(&body.client_secret);
    let client = client
        .filter(|c| c.active && constant_time_eq(&c.secret_hash, &presented))
        .ok_or_else(|| ApiError::Unauthorized("invalid client credentials".into()))?;
    // Role `service` with the client's scopes (least privilege), see service_clients.rs.
    let (access_token, expires_in) = super::service_clients::service_access_token(&state, &client)?;
    Ok(Json(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in,
        refresh_token: None,
    }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub sub: String,
    pub role: Role,
    /// The user record, for user principals (absent for service clients).
    pub user: Option<User>,
}

/// Who the bearer of this token is.
#[utoipa::path(get, path = "/v1/auth/me", tag = "session", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<Me>> {
    let user = match caller.subject().parse::<Uuid>() {
        Ok(id) if caller.role() != Role::Service => db::users::by_id(&state.pool, id)
            .await?
            .map(|row| row.to_user()),
        _ => None,
    };
    Ok(Json(Me {
        sub: caller.subject().to_string(),
        role: caller.role(),
        user,
    }))
}
