//! `spawn_app()`: the auth service on a random port with its own fresh database.

use episante_kit::service::Service;
use std::time::Duration;

use episante_auth::config::{AuthConfig, Settings};
use episante_auth::http::AppState;
use episante_kit::telemetry::LogConfig;
use episante_kit::{Role, Secret, Shutdown, TokenConfig, VaultConfig};
use episante_testkit::TestDb;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

pub const ADMIN_EMAIL: &str = "root@episante.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const USER_PASSWORD: &str = "a perfectly fine passphrase";

pub struct TestApp {
    pub base: String,
    /// The event bus auth publishes session revocations on (in memory, per test).
    pub bus: std::sync::Arc<dyn episante_kit::events::EventBus>,
    pub http: reqwest::Client,
    pub state: AppState,
    pub settings: Settings,
    shutdown: Shutdown,
    // Dropped after the server is told to stop.
    pub data_dir: tempfile::TempDir,
    pub db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub fn test_settings(db: &TestDb, data_dir: &std::path::Path) -> Settings {
    Settings {
        auth: AuthConfig {
            bind: "127.0.0.1:0".into(),
            database: db.service_database(),
            data_dir: data_dir.to_path_buf(),
            bootstrap_admin_email: ADMIN_EMAIL.into(),
            bootstrap_admin_password: Some(Secret::new(ADMIN_PASSWORD)),
            ..AuthConfig::default()
        },
        database: db.config(),
        tokens: TokenConfig::default(),
        vault: VaultConfig::default(),
        log: LogConfig::default(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new();
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&db, data_dir.path());
    tweak(&mut settings);
    start(db, data_dir, settings).await
}

pub async fn start(db: TestDb, data_dir: tempfile::TempDir, settings: Settings) -> TestApp {
    let bus = std::sync::Arc::new(episante_kit::events::memory::MemoryBus::default());
    start_on(db, data_dir, settings, bus).await
}

/// [`start`] on a given event bus (Kafka, for the revocation delay across processes).
pub async fn start_on(
    db: TestDb,
    data_dir: tempfile::TempDir,
    settings: Settings,
    bus: std::sync::Arc<dyn episante_kit::events::EventBus>,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = Shutdown::new();
    let service =
        episante_auth::AuthService::build(settings.clone(), bus.clone(), shutdown.clone())
            .await
            .expect("auth service builds");
    let state = service.state.clone();
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    TestApp {
        base,
        bus,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        state,
        settings,
        shutdown,
        data_dir,
        db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.http
            .post(self.url("/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap()
    }

    /// Logs in with extra fields (`totp`, `recovery_code`) and headers (`X-Forwarded-For`).
    pub async fn login_with(&self, body: Value, forwarded_for: Option<&str>) -> Response {
        let mut request = self.http.post(self.url("/v1/auth/login")).json(&body);
        if let Some(xff) = forwarded_for {
            request = request.header("x-forwarded-for", xff);
        }
        request.send().await.unwrap()
    }

    /// Another service: a verifier reading the JWKS over HTTP and fed by the revocation listener
    /// on this app's bus, as records or alerts run it.
    pub fn other_service(&self) -> std::sync::Arc<episante_kit::TokenVerifier> {
        let verifier = self.remote_verifier();
        episante_kit::revocation::spawn_listener(
            self.bus.clone(),
            verifier.revocations().clone(),
            "test",
            self.shutdown.clone(),
        );
        verifier
    }

    /// Logs in and returns the token response body, asserting success.
    pub async fn login_ok(&self, email: &str, password: &str) -> Value {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login as {email}");
        response.json().await.unwrap()
    }

    pub async fn admin_token(&self) -> String {
        self.login_ok(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a user of `role` (as admin) and returns its email.
    pub async fn create_user(&self, role: Role) -> (String, Value) {
        let email = format!("{}-{}@episante.test", role, uuid::Uuid::new_v4().simple());
        let response = self
            .http
            .post(self.url("/v1/auth/users"))
            .bearer_auth(self.admin_token().await)
            .json(&json!({
                "email": email, "display_name": format!("A {role}"),
                "role": role, "password": USER_PASSWORD
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        (email, response.json().await.unwrap())
    }

    pub async fn token_for(&self, role: Role) -> String {
        let (email, _) = self.create_user(role).await;
        self.login_ok(&email, USER_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// `GET path` with a bearer token, as JSON (whatever the status).
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `method path` with a bearer token and an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    /// The published JWKS, as JSON.
    pub async fn jwks(&self) -> Value {
        self.http
            .get(self.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A verifier that reads this app's JWKS over HTTP, as another service would.
    pub fn remote_verifier(&self) -> std::sync::Arc<episante_kit::TokenVerifier> {
        episante_kit::TokenVerifier::remote(&TokenConfig {
            jwks_url: self.url("/.well-known/jwks.json"),
            min_refetch_ms: 0,
            ..self.settings.tokens.clone()
        })
    }

    pub async fn me(&self, token: &str) -> Response {
        self.http
            .get(self.url("/v1/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// Asserts `response` is a problem JSON with `status`, returning its body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    body
}

/// An access token of service client `client_id` (client-credentials grant).
pub async fn client_token(app: &TestApp, client_id: &str, secret: &str) -> String {
    let answer: Value = app
        .http
        .post(app.url("/v1/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}
