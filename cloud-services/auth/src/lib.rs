//! EpiSante auth service: who you are and what you may do.
//!
//! Issues short-lived EdDSA access tokens (verified by every other service through the JWKS at
//! `/.well-known/jwks.json`) and long-lived rotating refresh tokens; manages users, roles and
//! service clients. Layout: `config` (settings), `domain` (credentials, hashing, tokens),
//! `db` (queries + `migrations/`), `http` (routes), `signing_keys` (key ring), `login_throttle`.
//! Auth publishes session revocations on `auth.sessions.v1` (`events`, `sessions`) so that every
//! service refuses the access tokens of ended sessions within seconds.

pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod http;
pub mod login_throttle;
pub mod mfa_key;
pub mod sessions;
pub mod signing_keys;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use episante_kit::events::outbox::{OutboxRelay, RelaySettings};
use episante_kit::events::EventBus;
use episante_kit::service::Service;
use episante_kit::{Metrics, Role, Shutdown, TokenVerifier};
use sqlx::PgPool;

use crate::config::Settings;
use crate::domain::password_hasher::PasswordHasher;
use crate::http::AppState;
use crate::login_throttle::LoginThrottle;
use crate::signing_keys::{KeyRing, KeyStore, LocalJwks};

/// The first admin, when this start created it.
#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub email: String,
    /// Present only when no password was configured and one was generated: show it once.
    pub generated_password: Option<String>,
}

/// A built, not yet serving, auth service.
pub struct AuthService {
    pub router: Router,
    pub state: AppState,
    pub bootstrap: Option<BootstrapAdmin>,
}

/// [`AuthService::build`] on a private in-memory bus: revocations take effect in this service only
/// (tests and tools; the binary and `episante up` pass the platform's bus).
pub async fn build(settings: Settings) -> anyhow::Result<AuthService> {
    let bus = episante_kit::events::connect(&Default::default())?;
    AuthService::build(settings, bus, Shutdown::new()).await
}

fn key_store(settings: &Settings) -> anyhow::Result<KeyStore> {
    match episante_kit::vault::client(&settings.vault)? {
        Some(client) => Ok(KeyStore::Vault {
            client: Box::new(client),
            mount: settings.auth.vault_kv_mount.clone(),
            path: settings.auth.vault_signing_keys_path.clone(),
        }),
        None => {
            let path = settings.auth.data_dir.join("signing-keys.json");
            tracing::warn!(
                path = %path.display(),
                "Vault is not configured: signing keys are kept in a local 0600 file (dev setups only)"
            );
            Ok(KeyStore::File(path))
        }
    }
}

async fn bootstrap_admin(
    pool: &PgPool,
    settings: &Settings,
    hasher: &PasswordHasher,
) -> anyhow::Result<Option<BootstrapAdmin>> {
    if db::users::any_admin(pool).await? {
        return Ok(None);
    }
    let email = domain::credentials::Email::parse(&settings.auth.bootstrap_admin_email)
        .map_err(|e| anyhow::anyhow!("auth.bootstrap_admin_email: {e}"))?;
    let (password, generated) = match &settings.auth.bootstrap_admin_password {
        Some(p) => (p.expose().to_string(), None),
        None => {
            let p = domain::opaque_token::generate();
            (p.clone(), Some(p))
        }
    };
    let hash = hasher.hash(&password).await?;
    match db::users::insert(pool, email.as_str(), "Administrator", Role::Admin, &hash).await {
        Ok(_) => {
            tracing::info!(email = %email.as_str(), "bootstrapped the first admin");
            Ok(Some(BootstrapAdmin {
                email: email.as_str().to_string(),
                generated_password: generated,
            }))
        }
        // Another instance bootstrapped concurrently.
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("users_email_key") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Service for AuthService {
    const ABOUT: &'static str = "EpiSante auth service";
    type Settings = Settings;

    /// Provisions the database, opens the key ring and the MFA key, bootstraps the first admin,
    /// starts the outbox relay (session revocations out) and the revocation listener (in), both
    /// until `shutdown`, and builds the routes.
    async fn build(
        settings: Settings,
        bus: Arc<dyn EventBus>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        if settings.auth.access_ttl_secs > settings.tokens.max_token_lifetime_secs {
            anyhow::bail!(
                "auth.access_ttl_secs ({}) exceeds tokens.max_token_lifetime_secs ({}): services would \
                 forget revocations before the tokens expire",
                settings.auth.access_ttl_secs,
                settings.tokens.max_token_lifetime_secs
            );
        }
        if settings.auth.trust_forwarded_for {
            tracing::warn!(
                "auth.trust_forwarded_for is ignored: list the gateways in auth.trusted_proxies"
            );
        }
        let proxies = domain::client_address::TrustedProxies::parse(&settings.auth.trusted_proxies)
            .map_err(|e| anyhow::anyhow!(e))?;
        let pool =
            episante_kit::db::provision(&settings.database, &settings.auth.database, &db::MIGRATOR)
                .await?;
        let store = key_store(&settings)?;
        let verify_window =
            settings.auth.access_ttl_secs as i64 + settings.tokens.leeway_secs as i64;
        let keys = KeyRing::open(store, verify_window).await?;
        let verifier = TokenVerifier::new(&settings.tokens, LocalJwks(keys.clone()));
        let enrolment_verifier = TokenVerifier::new(
            &episante_kit::TokenConfig {
                audience: AppState::enrolment_audience(&settings.tokens),
                ..settings.tokens.clone()
            },
            LocalJwks(keys.clone()),
        );
        let mfa_key = Arc::new(mfa_key::MfaKey::open(&settings).await?);
        bus.ensure_topics(events::TOPICS).await?;
        let outbox = OutboxRelay::spawn(
            pool.clone(),
            bus.clone(),
            shutdown.clone(),
            RelaySettings::every(Duration::from_millis(500)),
        );
        episante_kit::revocation::spawn_listener(
            bus,
            verifier.revocations().clone(),
            "auth",
            shutdown,
        );
        let hasher = PasswordHasher::new(settings.auth.argon2)?;
        let bootstrap = bootstrap_admin(&pool, &settings, &hasher).await?;
        for client in &settings.auth.bootstrap_clients {
            let hash = domain::opaque_token::digest(client.secret.expose());
            let scopes = domain::service_scopes::ServiceScopes::parse(&client.scopes)
                .map_err(|e| anyhow::anyhow!("auth.bootstrap_clients {}: {e}", client.client_id))?
                .to_strings();
            db::service_clients::upsert(&pool, &client.client_id, &hash, &scopes).await?;
        }
        let metrics = Metrics::new("auth");
        let state = AppState::new(
            pool,
            keys,
            verifier,
            hasher,
            &settings,
            &metrics,
            http::SecurityParts {
                throttle: Arc::new(LoginThrottle::new(
                    settings.auth.login_attempts_per_ip_per_minute,
                )),
                outbox,
                mfa_key,
                enrolment_verifier,
                proxies,
            },
        );
        let router = http::router(state.clone(), metrics);
        Ok(AuthService {
            router,
            state,
            bootstrap,
        })
    }

    fn into_router(self) -> Router {
        self.router
    }

    fn announce(&self) {
        if let Some(admin) = &self.bootstrap {
            match &admin.generated_password {
                Some(password) => eprintln!(
                    "first admin created: {} / {password}  (shown once; change it)",
                    admin.email
                ),
                None => eprintln!("first admin created: {} (configured password)", admin.email),
            }
        }
    }
}
