//! Auth's HTTP API. Every route is under `/v1/auth/` (the gateway maps `/api/v1/auth/` here),
//! except the JWKS, which lives at its well-known path.

pub mod keys;
pub mod mfa;
pub mod password;
pub mod registration;
pub mod service_clients;
pub mod session;
pub mod users;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::HeaderMap;
use axum::Router;
use episante_kit::server::service_router;
use episante_kit::{ApiError, Claims, Metrics, Role, TokenConfig, TokenVerifier};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use sqlx::PgPool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{AuthConfig, Settings};
use crate::domain::client_address::TrustedProxies;
use crate::domain::lockout::LockoutPolicy;
use crate::domain::password_hasher::PasswordHasher;
use crate::login_throttle::LoginThrottle;
use crate::mfa_key::MfaKey;
use crate::signing_keys::KeyRing;
use episante_kit::events::outbox::OutboxRelay;
use episante_protocol::SessionRevoked;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoginOutcome {
    pub outcome: &'static str,
}

/// Shared by all handlers; cheap to clone.
/// `FromRef` lets extractors take a part of it (the token verifier, for `AuthUser`).
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub keys: Arc<KeyRing>,
    pub verifier: Arc<TokenVerifier>,
    pub hasher: PasswordHasher,
    pub throttle: Arc<LoginThrottle>,
    pub config: Arc<AuthConfig>,
    pub tokens: Arc<TokenConfig>,
    pub login_outcomes: Family<LoginOutcome, Counter>,
    /// Publishes session revocations (`events`).
    pub outbox: OutboxRelay,
    /// Seals TOTP secrets at rest.
    pub mfa_key: Arc<MfaKey>,
    /// Verifies enrolment-only tokens (`http::mfa`): audience `{audience}:mfa-enrolment`, which
    /// no other endpoint or service accepts.
    #[from_ref(skip)]
    pub enrolment_verifier: Arc<TokenVerifier>,
    pub proxies: Arc<TrustedProxies>,
    pub lockout: LockoutPolicy,
}

/// What `AppState::new` needs besides the basics: the session-security parts.
pub struct SecurityParts {
    pub throttle: Arc<LoginThrottle>,
    pub outbox: OutboxRelay,
    pub mfa_key: Arc<MfaKey>,
    pub enrolment_verifier: Arc<TokenVerifier>,
    pub proxies: TrustedProxies,
}

impl AppState {
    pub fn new(
        pool: PgPool,
        keys: Arc<KeyRing>,
        verifier: Arc<TokenVerifier>,
        hasher: PasswordHasher,
        settings: &Settings,
        metrics: &Metrics,
        security: SecurityParts,
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
            throttle: security.throttle,
            config: Arc::new(settings.auth.clone()),
            tokens: Arc::new(settings.tokens.clone()),
            login_outcomes,
            outbox: security.outbox,
            mfa_key: security.mfa_key,
            enrolment_verifier: security.enrolment_verifier,
            proxies: Arc::new(security.proxies),
            lockout: LockoutPolicy {
                threshold: settings.auth.lockout_threshold,
                base: chrono::Duration::milliseconds(settings.auth.lockout_base_ms as i64),
                max: chrono::Duration::seconds(settings.auth.lockout_secs as i64),
            },
        }
    }

    /// Signs an access token for `sub` in session `sid`; returns it with its lifetime in seconds.
    pub fn access_token(
        &self,
        sub: &str,
        role: Role,
        sid: Option<String>,
    ) -> Result<(String, u64), ApiError> {
        self.sign_token(
            sub,
            role,
            sid,
            &self.tokens.audience,
            self.config.access_ttl_secs,
        )
    }

    /// The audience of enrolment-only tokens.
    pub fn enrolment_audience(tokens: &TokenConfig) -> String {
        format!("{}:mfa-enrolment", tokens.audience)
    }

    fn sign_token(
        &self,
        sub: &str,
        role: Role,
        sid: Option<String>,
        audience: &str,
        ttl: u64,
    ) -> Result<(String, u64), ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.tokens.issuer.clone(),
            aud: audience.to_string(),
            sub: sub.to_string(),
            role,
            iat: now,
            nbf: now,
            exp: now + ttl as i64,
            jti: uuid::Uuid::new_v4().to_string(),
            sid,
            scope: None,
        };
        Ok((self.keys.sign(&claims)?, ttl))
    }

    /// A 10-minute token that only the MFA enrolment endpoints accept (another audience).
    pub fn enrolment_token(&self, sub: &str, role: Role) -> Result<(String, u64), ApiError> {
        let audience = Self::enrolment_audience(&self.tokens);
        self.sign_token(sub, role, None, &audience, 600)
    }

    /// The caller's address: the socket peer, or — when the peer is a trusted proxy — the
    /// right-most untrusted `X-Forwarded-For` hop (`domain::client_address`).
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        self.proxies.client_ip(
            peer.ip(),
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok()),
        )
    }

    /// After the transaction that revoked sessions committed: refuse their tokens here at once
    /// and send the events to the other services now rather than at the relay's next poll.
    pub fn revoked(&self, events: &[SessionRevoked]) {
        for event in events {
            self.verifier.revocations().apply(event);
        }
        if !events.is_empty() {
            self.outbox.wake();
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "EpiSante auth service", version = "1"),
    tags(
        (name = "session", description = "Login, refresh, logout, service tokens"),
        (name = "users", description = "User administration (admin only)"),
        (name = "password", description = "Password change and admin-initiated reset"),
        (name = "mfa", description = "Second factor (TOTP) enrolment and reset"),
        (name = "service-clients", description = "Client-credentials clients (admin only)"),
        (name = "keys", description = "Token signing keys"),
    )
)]
struct ApiDoc;

pub fn router(state: AppState, metrics: Arc<Metrics>) -> Router {
    let pool = state.pool.clone();
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(keys::jwks))
        .routes(routes!(session::login))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(session::client_token))
        .routes(routes!(session::me))
        .routes(routes!(password::change))
        .routes(routes!(password::reset))
        .routes(routes!(password::issue_reset))
        .routes(routes!(mfa::enroll))
        .routes(routes!(mfa::confirm))
        .routes(routes!(mfa::admin_reset))
        .routes(routes!(registration::register))
        .routes(routes!(users::create, users::list))
        .routes(routes!(users::get, users::update))
        .routes(routes!(users::deactivate))
        .routes(routes!(users::contact))
        .routes(routes!(users::set_language))
        .routes(routes!(service_clients::create, service_clients::list))
        .routes(routes!(service_clients::deactivate))
        .routes(routes!(service_clients::set_scopes))
        .routes(routes!(keys::rotate))
        .with_state(state);
    service_router(api, metrics, pool)
}
