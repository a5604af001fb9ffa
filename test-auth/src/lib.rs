//! The auth service, running in-process on a free port with its own fresh database, for the
//! integration tests of every other crate.
//!
//! Every service verifies tokens against auth's JWKS, so every service's tests need a real auth
//! service to mint real tokens. Starting it here once keeps those tests honest (real EdDSA tokens,
//! real JWKS fetches) and keeps the start-up code in one place.

use episante_kit::telemetry::LogConfig;
use episante_kit::{Role, Secret, Shutdown, TokenConfig};
use episante_testkit::TestDb;
use serde_json::{json, Value};
use uuid::Uuid;

pub const ADMIN_EMAIL: &str = "root@episante.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
/// Password of every user made by [`TestAuth::create_user`].
pub const USER_PASSWORD: &str = "a long enough test password";

/// A running auth service; stops when dropped.
pub struct TestAuth {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The bootstrap admin's access token.
    pub admin_token: String,
    http: reqwest::Client,
    shutdown: Shutdown,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

/// A user created for a test, logged in.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub token: String,
}

impl Drop for TestAuth {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl TestAuth {
    /// Starts auth on `127.0.0.1:0` with a fresh database and a known admin, and logs the admin in.
    pub async fn start() -> TestAuth {
        let db = TestDb::new();
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = episante_auth::config::Settings {
            auth: episante_auth::config::AuthConfig {
                database: db.service_database(),
                data_dir: dir.path().to_path_buf(),
                bootstrap_admin_email: ADMIN_EMAIL.into(),
                bootstrap_admin_password: Some(Secret::new(ADMIN_PASSWORD)),
                ..Default::default()
            },
            database: db.config(),
            tokens: TokenConfig::default(),
            vault: Default::default(),
            log: LogConfig::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind auth");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let service = episante_auth::build(settings).await.expect("auth builds");
        let shutdown = Shutdown::new();
        tokio::spawn(episante_kit::service::serve(
            service,
            listener,
            shutdown.clone(),
        ));
        let admin_token =
            episante_testkit::auth_client::login(&base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
        TestAuth {
            base,
            admin_token,
            http: reqwest::Client::new(),
            shutdown,
            _db: db,
            _dir: dir,
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base)
    }

    /// Token settings for a service under test: verify against this auth's JWKS.
    pub fn token_config(&self) -> TokenConfig {
        TokenConfig {
            jwks_url: self.jwks_url(),
            ..Default::default()
        }
    }

    /// Creates a user with `role` and a unique email derived from `name`, and logs them in.
    pub async fn create_user(&self, role: Role, name: &str) -> TestUser {
        let email = format!(
            "{}-{}@episante.test",
            name.to_lowercase().replace(' ', "."),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let response = self
            .http
            .post(format!("{}/v1/auth/users", self.base))
            .bearer_auth(&self.admin_token)
            .json(&json!({
                "email": email, "display_name": name, "role": role, "password": USER_PASSWORD
            }))
            .send()
            .await;
        let body = success_body(response, &format!("creating {email}")).await;
        let id = body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("user id");
        let token = episante_testkit::auth_client::login(&self.base, &email, USER_PASSWORD).await;
        TestUser {
            id,
            email,
            role,
            token,
        }
    }

    /// A fresh service client `client_id` holding `scopes`, and an access token it obtained with
    /// the client-credentials grant.
    pub async fn service_token(&self, client_id: &str, scopes: &[episante_kit::Scope]) -> String {
        let (id, secret) = self
            .create_service_client_with_scopes(client_id, scopes)
            .await;
        let response = self
            .http
            .post(format!("{}/v1/auth/token", self.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .send()
            .await;
        let body = success_body(response, &format!("token for {client_id}")).await;
        body["access_token"].as_str().expect("token").to_string()
    }

    /// Registers a service client without scopes and returns its client id and secret.
    pub async fn create_service_client(&self, client_id: &str) -> (String, String) {
        self.create_service_client_with_scopes(client_id, &[]).await
    }

    /// Registers a service client holding `scopes` and returns its client id and secret.
    pub async fn create_service_client_with_scopes(
        &self,
        client_id: &str,
        scopes: &[episante_kit::Scope],
    ) -> (String, String) {
        let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        let response = self
            .http
            .post(format!("{}/v1/auth/service-clients", self.base))
            .bearer_auth(&self.admin_token)
            .json(&json!({ "client_id": client_id, "scopes": scopes }))
            .send()
            .await;
        let body = success_body(response, &format!("creating client {client_id}")).await;
        (
            client_id.to_string(),
            body["client_secret"].as_str().expect("secret").to_string(),
        )
    }
}

/// The JSON body of a successful answer; panics naming `what` otherwise.
async fn success_body(response: reqwest::Result<reqwest::Response>, what: &str) -> Value {
    let response = response.expect("auth reachable");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{what}: {status} {body}");
    body
}
