//! Access-token verification and role-based access control.
//!
//! Tokens are EdDSA-signed JWTs issued by the auth service. Every service verifies them locally with
//! the auth service's public keys (JWKS), cached by `kid`; an unknown `kid` (after a key rotation)
//! triggers one refetch, rate-limited so forged kids cannot make us hammer the auth service. Only
//! `EdDSA` is accepted, which rules out `alg: none` and HS/RS key-confusion by construction.
//!
//! The cache expires: a key set older than `tokens.jwks_max_age_secs` (300 s) is refetched before
//! its keys are used again, so a key that auth stops publishing (retired after a compromise)
//! stops verifying everywhere within that time. If the refetch fails the old keys are not used:
//! an unreachable auth service for longer than the max age fails closed, not open.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::TokenConfig;
use crate::problem::ApiError;
use crate::revocation::SessionRevocations;
use crate::scope::Scope;

/// Who a principal is on the platform. One role per principal keeps the authorisation matrix small
/// enough to test completely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Clinician,
    Patient,
    Device,
    Service,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Clinician,
        Role::Patient,
        Role::Device,
        Role::Service,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Patient => "patient",
            Role::Device => "device",
            Role::Service => "service",
        }
    }
}

/// For rows that store the role as text (`#[sqlx(try_from = "String")]`): a name that is not a
/// role fails the read — a corrupt row never grants a role.
impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?} (admin, clinician, patient, device, service)")
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims of an EpiSante access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// User id (UUID) or service client id.
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Session id (user tokens): what logout and revocation name. Absent on service tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Space-separated scopes (service tokens, RFC 8693 `scope`): what a service client may do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// One public key as published in the JWKS (RFC 8037 OKP / Ed25519).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// Base64url public key.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

impl Jwk {
    pub fn ed25519(kid: &str, x: &str) -> Self {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: x.into(),
            kid: kid.into(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

pub type JwksFuture<'a> = Pin<Box<dyn Future<Output = Result<JwkSet, String>> + Send + 'a>>;

/// Where a verifier gets public keys from: the auth service over HTTP, or (inside the auth service
/// itself) its own key ring.
pub trait JwksSource: Send + Sync + 'static {
    fn fetch(&self) -> JwksFuture<'_>;
}

/// Fetches `GET {jwks_url}`.
pub struct RemoteJwks {
    url: String,
    http: reqwest::Client,
}

impl RemoteJwks {
    pub fn new(url: impl Into<String>) -> Self {
        RemoteJwks {
            url: url.into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("reqwest client"),
        }
    }
}

impl JwksSource for RemoteJwks {
    fn fetch(&self) -> JwksFuture<'_> {
        Box::pin(async move {
            let response = self
                .http
                .get(&self.url)
                .send()
                .await
                .map_err(|e| format!("fetching JWKS from {}: {e}", self.url))?;
            if !response.status().is_success() {
                return Err(format!("JWKS endpoint answered {}", response.status()));
            }
            response
                .json::<JwkSet>()
                .await
                .map_err(|e| format!("JWKS is not valid: {e}"))
        })
    }
}

/// Why a token was refused. The text is safe to return to the client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("token has no key id")]
    MissingKid,
    #[error("token is signed by an unknown key")]
    UnknownKid,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token audience is not accepted")]
    Audience,
    #[error("token issuer is not accepted")]
    Issuer,
    #[error("token is invalid: {0}")]
    Invalid(String),
    /// Its session or user was revoked (logout, deactivation, role or password change).
    #[error("token has been revoked")]
    Revoked,
    #[error("token lifetime exceeds the accepted maximum")]
    Lifetime,
}

/// Verifies access tokens against a cached JWKS.
pub struct TokenVerifier {
    source: Box<dyn JwksSource>,
    validation: Validation,
    keys: RwLock<KeyCache>,
    /// Held across a fetch, so concurrent misses wait for it instead of failing; holds the time
    /// of the last fetch.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    min_refetch: Duration,
    /// Keys of a set fetched longer ago than this are not used until a refetch confirms them.
    max_age: Duration,
    /// Sessions revoked since the longest token lifetime (fed by `revocation::spawn_listener`).
    revocations: Arc<SessionRevocations>,
    /// `tokens.max_token_lifetime_secs`: tokens living longer are refused.
    max_lifetime_secs: i64,
}

/// The last key set fetched, and when: every key in it was last seen in the JWKS at `fetched_at`.
#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

impl TokenVerifier {
    pub fn new(config: &TokenConfig, source: impl JwksSource) -> Arc<Self> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[&config.audience]);
        validation.set_issuer(&[&config.issuer]);
        validation.validate_nbf = true;
        validation.leeway = config.leeway_secs;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Arc::new(TokenVerifier {
            source: Box::new(source),
            validation,
            keys: RwLock::new(KeyCache::default()),
            last_fetch: tokio::sync::Mutex::new(None),
            min_refetch: Duration::from_millis(config.min_refetch_ms),
            max_age: Duration::from_secs(config.jwks_max_age_secs.max(1)),
            revocations: Arc::new(SessionRevocations::new(Duration::from_secs(
                config
                    .max_token_lifetime_secs
                    .saturating_add(config.leeway_secs),
            ))),
            max_lifetime_secs: config.max_token_lifetime_secs.min(i64::MAX as u64) as i64,
        })
    }

    /// The revocation list this verifier refuses tokens by: give it to
    /// `revocation::spawn_listener` (every service does, in its `build`).
    pub fn revocations(&self) -> &Arc<SessionRevocations> {
        &self.revocations
    }

    /// A verifier reading `config.jwks_url`.
    pub fn remote(config: &TokenConfig) -> Arc<Self> {
        Self::new(config, RemoteJwks::new(config.jwks_url.clone()))
    }

    /// The key `kid` from a key set fetched less than `max_age` ago; `None` sends the caller to
    /// `refresh`, which refetches an expired set.
    fn key(&self, kid: &str) -> Option<DecodingKey> {
        let cache = self.keys.read().expect("jwks cache poisoned");
        let fresh = cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.max_age);
        if !fresh {
            return None;
        }
        cache.keys.get(kid).cloned()
    }

    /// Refetches the key set unless `kid` arrived meanwhile (in a fresh set) or the last fetch was
    /// less than `min_refetch` ago.
    async fn refresh(&self, kid: &str) {
        let mut last = self.last_fetch.lock().await;
        if self.key(kid).is_some() {
            return;
        }
        if let Some(at) = *last {
            if at.elapsed() < self.min_refetch {
                return;
            }
        }
        *last = Some(Instant::now());
        match self.source.fetch().await {
            Ok(set) => {
                let mut keys = HashMap::new();
                for jwk in set.keys {
                    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                        continue;
                    }
                    match DecodingKey::from_ed_components(&jwk.x) {
                        Ok(key) => {
                            keys.insert(jwk.kid, key);
                        }
                        Err(e) => tracing::warn!(kid = %jwk.kid, error = %e, "skipping bad JWK"),
                    }
                }
                // The whole set is replaced: a key auth no longer publishes is gone.
                *self.keys.write().expect("jwks cache poisoned") = KeyCache {
                    keys,
                    fetched_at: Some(Instant::now()),
                };
            }
            Err(e) => tracing::warn!(error = %e, "JWKS refresh failed"),
        }
    }

    /// Checks signature, algorithm, key id, expiry, not-before, issuer and audience, then that
    /// the token does not outlive `max_token_lifetime_secs` and was not revoked.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = self.verify_signed(token).await?;
        if claims.exp.saturating_sub(claims.iat) > self.max_lifetime_secs {
            return Err(TokenError::Lifetime);
        }
        if self.revocations.is_revoked(&claims) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    async fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(TokenError::MissingKid)?;
        let key = match self.key(&kid) {
            Some(key) => key,
            None => {
                self.refresh(&kid).await;
                self.key(&kid).ok_or(TokenError::UnknownKid)?
            }
        };
        use jsonwebtoken::errors::ErrorKind;
        decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAudience => TokenError::Audience,
                ErrorKind::InvalidIssuer => TokenError::Issuer,
                ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) => {
                    TokenError::Malformed
                }
                other => TokenError::Invalid(format!("{other:?}")),
            })
    }
}

/// An authenticated caller, extracted from `Authorization: Bearer …`.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub claims: Claims,
}

impl AuthUser {
    pub fn role(&self) -> Role {
        self.claims.role
    }

    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// The caller's user id, for callers that act as themselves; 403 when the token's subject
    /// is not a user (a device or a service).
    pub fn user_id(&self) -> Result<uuid::Uuid, ApiError> {
        self.claims
            .sub
            .parse()
            .map_err(|_| ApiError::Forbidden("this token's subject is not a user".into()))
    }

    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.claims.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "role {} may not do this",
                self.claims.role
            )))
        }
    }

    /// For the `service` role, 403 unless its token carries `scope`; other roles pass (their
    /// access is decided by `require` and the endpoint's own rules). Every endpoint that admits
    /// `Role::Service` calls this with the one scope it needs.
    pub fn require_service_scope(&self, scope: Scope) -> Result<(), ApiError> {
        if self.claims.role != Role::Service || scope.granted_by(self.claims.scope.as_deref()) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this service client lacks the scope {scope}"
            )))
        }
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.split_once(' ')
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            })
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                ApiError::Unauthorized("expected 'Authorization: Bearer <token>'".into())
            })?;
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        let claims = verifier
            .verify(token)
            .await
            .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
        Ok(AuthUser { claims })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct SlowSource {
        fetches: Arc<std::sync::atomic::AtomicUsize>,
        set: JwkSet,
    }

    impl JwksSource for SlowSource {
        fn fetch(&self) -> JwksFuture<'_> {
            self.fetches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let set = self.set.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok(set)
            })
        }
    }

    #[tokio::test]
    async fn concurrent_misses_on_a_cold_cache_share_one_fetch() {
        use base64::Engine;
        use ring::signature::KeyPair;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let config = TokenConfig::default();
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let verifier = TokenVerifier::new(
            &config,
            SlowSource {
                fetches: fetches.clone(),
                set: JwkSet {
                    keys: vec![Jwk::ed25519("k1", &x)],
                },
            },
        );
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: config.issuer.clone(),
            aud: config.audience.clone(),
            sub: "s".into(),
            role: Role::Service,
            iat: now,
            nbf: now,
            exp: now + 60,
            jti: "j".into(),
            sid: None,
            scope: None,
        };
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
        .unwrap();
        let checks: Vec<_> = (0..20)
            .map(|_| {
                let verifier = verifier.clone();
                let token = token.clone();
                tokio::spawn(async move { verifier.verify(&token).await })
            })
            .collect();
        for check in checks {
            assert_eq!(check.await.unwrap().unwrap().sub, "s");
        }
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// A JWKS whose keys the test changes, counting fetches.
    struct MutableSource {
        fetches: Arc<std::sync::atomic::AtomicUsize>,
        set: Arc<RwLock<JwkSet>>,
    }

    impl JwksSource for MutableSource {
        fn fetch(&self) -> JwksFuture<'_> {
            self.fetches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let set = self.set.read().unwrap().clone();
            Box::pin(async move { Ok(set) })
        }
    }

    fn signing_key(kid: &str) -> (Jwk, jsonwebtoken::EncodingKey) {
        use base64::Engine;
        use ring::signature::KeyPair;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        (
            Jwk::ed25519(kid, &x),
            jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
    }

    fn token(config: &TokenConfig, kid: &str, key: &jsonwebtoken::EncodingKey) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: config.issuer.clone(),
            aud: config.audience.clone(),
            sub: "s".into(),
            role: Role::Clinician,
            iat: now,
            nbf: now,
            exp: now + 600,
            jti: "j".into(),
            sid: None,
            scope: None,
        };
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    }

    #[tokio::test]
    async fn a_key_removed_from_the_jwks_stops_verifying_within_the_max_age() {
        let (jwk1, key1) = signing_key("k1");
        let (jwk2, _) = signing_key("k2");
        let config = TokenConfig {
            jwks_max_age_secs: 1,
            min_refetch_ms: 0,
            ..TokenConfig::default()
        };
        let set = Arc::new(RwLock::new(JwkSet {
            keys: vec![jwk1.clone(), jwk2.clone()],
        }));
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let verifier = TokenVerifier::new(
            &config,
            MutableSource {
                fetches: fetches.clone(),
                set: set.clone(),
            },
        );
        let old = token(&config, "k1", &key1);
        assert!(verifier.verify(&old).await.is_ok());
        // Auth retires k1 (rotation after a compromise). Verified again at once: still cached.
        set.write().unwrap().keys = vec![jwk2];
        assert!(verifier.verify(&old).await.is_ok());
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
        // After the max age the set is refetched and k1 is gone, although its kid is "known".
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(verifier.verify(&old).await, Err(TokenError::UnknownKid));
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_key_still_published_keeps_verifying_after_a_periodic_refetch() {
        let (jwk1, key1) = signing_key("k1");
        let config = TokenConfig {
            jwks_max_age_secs: 1,
            min_refetch_ms: 0,
            ..TokenConfig::default()
        };
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let verifier = TokenVerifier::new(
            &config,
            MutableSource {
                fetches: fetches.clone(),
                set: Arc::new(RwLock::new(JwkSet { keys: vec![jwk1] })),
            },
        );
        let token = token(&config, "k1", &key1);
        for _ in 0..3 {
            assert!(verifier.verify(&token).await.is_ok());
        }
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    fn caller(role: Role, scope: Option<&str>) -> AuthUser {
        AuthUser {
            claims: Claims {
                iss: "i".into(),
                aud: "a".into(),
                sub: "s".into(),
                role,
                iat: 0,
                nbf: 0,
                exp: 0,
                jti: "j".into(),
                sid: None,
                scope: scope.map(str::to_string),
            },
        }
    }

    #[test]
    fn service_scope_is_required_of_services_only() {
        let without = caller(Role::Service, None);
        let err = without
            .require_service_scope(Scope::VitalsRead)
            .unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::FORBIDDEN);
        assert!(err.to_string().contains("vitals:read"), "{err}");
        let other = caller(Role::Service, Some("devices:read"));
        assert!(other.require_service_scope(Scope::VitalsRead).is_err());
        let with = caller(Role::Service, Some("devices:read vitals:read"));
        assert!(with.require_service_scope(Scope::VitalsRead).is_ok());
        // A user token that somehow carries no scope is judged by its role alone.
        for role in [Role::Admin, Role::Clinician, Role::Patient, Role::Device] {
            assert!(caller(role, None)
                .require_service_scope(Scope::VitalsRead)
                .is_ok());
        }
    }

    #[test]
    fn roles_parse_and_print() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
