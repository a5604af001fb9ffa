//! Auth's HTTP API. Every route is under `/v1/auth/` (the gateway maps `/api/v1/auth/` here),
//! except the JWKS, which lives at its well-known path.

pub mod keys;
pub mod service_clients;
pub mod session;
pub mod users;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use episante_kit::server::{service_router, ServiceParts};
use episante_kit::{ApiError, Claims, Metrics, Role, TokenConfig, TokenVerifier};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sqlx::PgPool;
use utoipa::OpenApi;

use crate::config::{AuthConfig, Settings};
use crate::domain::password_hasher::PasswordHasher;
use crate::login_throttle::LoginThrottle;
use crate::signing_keys::KeyRing;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoginOutcome {
    pub outcome: &'static str,
}

/// Shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub keys: Arc<KeyRing>,
    pub verifier: Arc<TokenVerifier>,
    pub hasher: PasswordHasher,
    pub throttle: Arc<LoginThrottle>,
    pub config: Arc<AuthConfig>,
    pub tokens: Arc<TokenConfig>,
    pub login_outcomes: Family<LoginOutcome, Counter>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

impl AppState {
    pub fn new(
        pool: PgPool,
        keys: Arc<KeyRing>,
        verifier: Arc<TokenVerifier>,
        hasher: PasswordHasher,
        throttle: Arc<LoginThrottle>,
        settings: &Settings,
        metrics: &Metrics,
    ) -> Self {
        let login_outcomes = Family::<LoginOutcome, Counter>::default();
        metrics.register(
            "episante_auth_logins",
            "Login attempts by outcome",
            login_outcomes.clone(),
        );
        AppState {
            pool,
            keys,
            verifier,
            hasher,
            throttle,
            config: Arc::new(settings.auth.clone()),
            tokens: Arc::new(settings.tokens.clone()),
            login_outcomes,
        }
    }

    /// Signs an access token for `sub`; returns it with its lifetime in seconds.
    pub fn access_token(&self, sub: &str, role: Role) -> Result<(String, u64), ApiError> {
        let now = chrono::Utc::now().timestamp();
        let ttl = self.config.access_ttl_secs;
        let claims = Claims {
            iss: self.tokens.issuer.clone(),
            aud: self.tokens.audience.clone(),
            sub: sub.to_string(),
            role,
            iat: now,
            nbf: now,
            exp: now + ttl as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: None,
            scope: None,
        };
        Ok((self.keys.sign(&claims)?, ttl))
    }

    /// The caller's address: the socket peer, or the first `X-Forwarded-For` hop when the
    /// service is configured to sit behind a trusted gateway.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if self.config.trust_forwarded_for {
            if let Some(ip) = headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
            {
                return ip;
            }
        }
        peer.ip()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EpiSante auth service", version = "1"),
    paths(
        session::login,
        session::refresh,
        session::logout,
        session::client_token,
        session::me,
        users::create,
        users::list,
        users::get,
        users::update,
        users::deactivate,
        service_clients::create,
        service_clients::list,
        service_clients::deactivate,
        keys::jwks,
        keys::rotate,
    ),
    tags(
        (name = "session", description = "Login, refresh, logout, service tokens"),
        (name = "users", description = "User administration (admin only)"),
        (name = "service-clients", description = "Client-credentials clients (admin only)"),
        (name = "keys", description = "Token signing keys"),
    )
)]
struct ApiDoc;

pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let pool = state.pool.clone();
    let api = Router::new()
        .route("/.well-known/jwks.json", get(keys::jwks))
        .route("/v1/auth/login", post(session::login))
        .route("/v1/auth/refresh", post(session::refresh))
        .route("/v1/auth/logout", post(session::logout))
        .route("/v1/auth/token", post(session::client_token))
        .route("/v1/auth/me", get(session::me))
        .route("/v1/auth/users", post(users::create).get(users::list))
        .route("/v1/auth/users/{id}", get(users::get).patch(users::update))
        .route("/v1/auth/users/{id}/deactivate", post(users::deactivate))
        .route(
            "/v1/auth/service-clients",
            post(service_clients::create).get(service_clients::list),
        )
        .route(
            "/v1/auth/service-clients/{client_id}/deactivate",
            post(service_clients::deactivate),
        )
        .route("/v1/auth/signing-keys/rotate", post(keys::rotate))
        .with_state(state);
    service_router(
        api,
        ServiceParts {
            metrics,
            openapi: ApiDoc::openapi(),
            pool,
        },
    )
}
