//! EpiSante auth service: who you are and what you may do.
//!
//! Issues short-lived EdDSA access tokens (verified by every other service through the JWKS at
//! `/.well-known/jwks.json`) and long-lived rotating refresh tokens; manages users, roles and
//! service clients. Layout: `config` (settings), `domain` (credentials, hashing, tokens),
//! `db` (queries + `migrations/`), `http` (routes), `signing_keys` (key ring), `login_throttle`.
//! Auth publishes no events yet: nothing downstream needs user changes as a stream.

pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod login_throttle;
pub mod signing_keys;

use std::sync::Arc;

use axum::Router;
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

/// Provisions the database, opens the key ring, bootstraps the first admin and builds the routes.
pub async fn build(settings: Settings) -> anyhow::Result<AuthService> {
    let pool =
        episante_kit::db::provision(&settings.database, &settings.auth.database, &db::MIGRATOR)
            .await?;
    let store = key_store(&settings)?;
    let verify_window = settings.auth.access_ttl_secs as i64 + settings.tokens.leeway_secs as i64;
    let keys = KeyRing::open(store, verify_window).await?;
    let verifier = TokenVerifier::new(&settings.tokens, LocalJwks(keys.clone()));
    let hasher = PasswordHasher::new(settings.auth.argon2)?;
    let bootstrap = bootstrap_admin(&pool, &settings, &hasher).await?;
    for client in &settings.auth.bootstrap_clients {
        let hash = domain::opaque_token::digest(client.secret.expose());
        db::service_clients::upsert(&pool, &client.client_id, &hash).await?;
    }
    let metrics = Metrics::new("auth");
    let state = AppState::new(
        pool,
        keys,
        verifier,
        hasher,
        Arc::new(LoginThrottle::new(
            settings.auth.login_attempts_per_ip_per_minute,
        )),
        &settings,
        &metrics,
    );
    let router = http::router(state.clone(), metrics);
    Ok(AuthService {
        router,
        state,
        bootstrap,
    })
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

/// Builds and serves the auth service on `listener` until `shutdown`.
pub async fn serve(
    service: AuthService,
    listener: tokio::net::TcpListener,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "auth service listening");
    episante_kit::server::serve(listener, service.router, shutdown).await?;
    Ok(())
}
