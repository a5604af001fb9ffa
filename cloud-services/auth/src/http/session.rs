//! Sessions: password login, refresh-token rotation, logout, client-credentials tokens, `me`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::{Form, Json};
use chrono::{Duration, Utc};
use episante_kit::{ApiError, ApiResult, AuthUser, Problem, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppState, LoginOutcome};
use crate::db;
use crate::domain::credentials::Email;
use crate::domain::opaque_token;
use crate::domain::user::User;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
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

impl AppState {
    fn count_login(&self, outcome: &'static str) {
        self.login_outcomes
            .get_or_create(&LoginOutcome { outcome })
            .inc();
    }

    /// Issues an access token and a refresh token in `family` (a new family for a new login).
    async fn issue_session(
        &self,
        executor: impl sqlx::PgExecutor<'_>,
        user_id: Uuid,
        role: Role,
        family: Uuid,
    ) -> ApiResult<TokenResponse> {
        let (access_token, expires_in) = self.access_token(&user_id.to_string(), role)?;
        let refresh = opaque_token::generate();
        let expires_at = Utc::now() + Duration::seconds(self.config.refresh_ttl_secs as i64);
        db::refresh_tokens::insert(
            executor,
            family,
            user_id,
            &opaque_token::digest(&refresh),
            expires_at,
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

/// Exchanges email and password for tokens.
///
/// Failures are deliberately uninformative (unknown email and wrong password look the same and
/// take the same time). After `lockout_threshold` consecutive failures the account is locked for
/// `lockout_secs`; each address is also limited in attempts per minute.
#[utoipa::path(post, path = "/v1/auth/login", tag = "session", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Invalid credentials", body = Problem),
        (status = 422, description = "Malformed request", body = Problem),
        (status = 429, description = "Too many attempts, or account locked", body = Problem)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let ip = state.client_ip(peer, &headers);
    if let Err(wait) = state.throttle.check(ip) {
        state.count_login("throttled");
        return Err(ApiError::TooManyRequests {
            detail: "too many login attempts from this address".into(),
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let unauthorized = || ApiError::Unauthorized(INVALID_CREDENTIALS.into());
    let Ok(email) = Email::parse(&body.email) else {
        state.count_login("bad_credentials");
        return Err(unauthorized());
    };
    let user = db::users::by_email(&state.pool, email.as_str()).await?;
    if let Some(locked_until) = user
        .as_ref()
        .and_then(|u| u.locked_until)
        .filter(|t| *t > Utc::now())
    {
        state.count_login("locked");
        return Err(ApiError::TooManyRequests {
            detail: "account temporarily locked after repeated failed logins".into(),
            retry_after_secs: (locked_until - Utc::now()).num_seconds().max(1) as u64,
        });
    }
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
    if !password_ok {
        db::users::record_failed_login(
            &state.pool,
            user.id,
            state.config.lockout_threshold as i32,
            state.config.lockout_secs as f64,
        )
        .await?;
        state.count_login("bad_credentials");
        return Err(unauthorized());
    }
    if !user.active {
        state.count_login("inactive");
        return Err(unauthorized());
    }
    db::users::record_successful_login(&state.pool, user.id).await?;
    let tokens = state
        .issue_session(&state.pool, user.id, user.role(), Uuid::new_v4())
        .await?;
    state.count_login("success");
    Ok(Json(tokens))
}

/// Exchanges a refresh token for a new access token and a new refresh token.
///
/// Each refresh token works once. Presenting one that was already used means it was copied:
/// the whole session (every token descended from the same login) is revoked.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "session", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Invalid, expired, revoked or reused token", body = Problem)))]
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
        let revoked = db::refresh_tokens::revoke_family(&mut *tx, row.family_id).await?;
        tx.commit().await?;
        if row.revoked_at.is_none() || revoked > 0 {
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
    let user = db::users::by_id(&mut *tx, row.user_id).await?;
    let Some(user) = user.filter(|u| u.active) else {
        return Err(ApiError::Unauthorized("account is not active".into()));
    };
    db::refresh_tokens::mark_used(&mut *tx, row.id).await?;
    let tokens = state
        .issue_session(&mut *tx, user.id, user.role(), row.family_id)
        .await?;
    tx.commit().await?;
    Ok(Json(tokens))
}

/// Ends the session the refresh token belongs to. Idempotent: unknown tokens also get 204.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "session", request_body = RefreshRequest,
    responses((status = 204, description = "Session revoked")))]
pub async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    db::refresh_tokens::revoke_family_of(&state.pool, &opaque_token::digest(&body.refresh_token))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// OAuth 2.0 client-credentials grant (RFC 6749 §4.4), form-encoded.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClientCredentials {
    /// Must be `client_credentials`.
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
    let valid = client
        .as_ref()
        .is_some_and(|c| c.active && constant_time_eq(&c.secret_hash, &presented));
    if !valid {
        return Err(ApiError::Unauthorized("invalid client credentials".into()));
    }
    let (access_token, expires_in) = state.access_token(&body.client_id, Role::Service)?;
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
