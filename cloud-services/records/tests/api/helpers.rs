//! `spawn_app()`: records on a random port with a fresh database, real auth, and (optionally)
//! real OpenBao and the broker's device registry.

use episante_kit::service::Service;
use std::time::Duration;

use episante_kit::events::memory::MemoryBus;
use episante_kit::events::EventBus;
use episante_kit::telemetry::LogConfig;
use episante_kit::{Role, Secret, Shutdown, VaultConfig};
use episante_records::config::{RecordsConfig, Settings};
use episante_records::http::AppState;
use episante_test_auth::{TestAuth, TestUser};
use episante_testkit::{TestDb, TestVault};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub auth: TestAuth,
    pub db: TestDb,
    pub bus: MemoryBus,
    pub state: AppState,
    pub settings: Settings,
    pub vault: Option<TestVault>,
    pub registry: Option<Registry>,
    pub alerts: Option<Alerts>,
    _data_dir: tempfile::TempDir,
    shutdown: Shutdown,
}

/// The broker's HTTP API (device registry), running in-process.
pub struct Registry {
    pub base: String,
    _db: TestDb,
    _dir: tempfile::TempDir,
    shutdown: Shutdown,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

#[derive(Default)]
pub struct Options {
    pub vault: bool,
    pub registry: bool,
    /// Also run the alerts service on the same bus (vitals history for FHIR Observations).
    pub alerts: bool,
}

/// The alerts service, running in-process on the test's bus.
pub struct Alerts {
    pub base: String,
    _db: TestDb,
    shutdown: Shutdown,
}

impl Drop for Alerts {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn start_alerts(auth: &TestAuth, bus: &MemoryBus) -> Alerts {
    let db = TestDb::new();
    let settings = episante_alerts::config::Settings {
        alerts: episante_alerts::config::AlertsConfig {
            database: db.service_database(),
            dropout_watchdog_secs: 0,
            ..Default::default()
        },
        database: db.config(),
        tokens: auth.token_config(),
        vault: VaultConfig::default(),
        kafka: Default::default(),
        log: LogConfig::default(),
    };
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let bus: std::sync::Arc<dyn EventBus> = std::sync::Arc::new(bus.clone());
    let service = episante_alerts::AlertsService::build(settings, bus, shutdown.clone())
        .await
        .expect("alerts builds");
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    Alerts {
        base,
        _db: db,
        shutdown,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let auth = TestAuth::start().await;
    // Only the scopes records' own client holds in `episante up` and compose.
    let (client_id, secret) = auth
        .create_service_client_with_scopes(
            "records",
            &[
                episante_kit::Scope::DevicesRead,
                episante_kit::Scope::VitalsRead,
            ],
        )
        .await;
    let vault = if options.vault {
        let v = TestVault::start().await.expect("OpenBao");
        v.enable_transit().await.expect("transit");
        Some(v)
    } else {
        None
    };
    let registry = if options.registry {
        Some(start_registry(&auth).await)
    } else {
        None
    };
    let bus = MemoryBus::default();
    let alerts = if options.alerts {
        Some(start_alerts(&auth, &bus).await)
    } else {
        None
    };
    let db = TestDb::new();
    let data_dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        records: RecordsConfig {
            bind: "127.0.0.1:0".into(),
            database: db.service_database(),
            data_dir: data_dir.path().to_path_buf(),
            auth_url: auth.base.clone(),
            registry_url: registry
                .as_ref()
                .map(|r| r.base.clone())
                .unwrap_or_else(|| "http://127.0.0.1:9".into()),
            alerts_url: alerts.as_ref().map(|a| a.base.clone()),
            client_id,
            client_secret: Some(Secret::new(secret)),
            ..Default::default()
        },
        database: db.config(),
        tokens: auth.token_config(),
        vault: match &vault {
            Some(v) => VaultConfig {
                addr: Some(v.addr.clone()),
                token: Some(Secret::new(v.token.clone())),
            },
            None => VaultConfig::default(),
        },
        kafka: Default::default(),
        log: LogConfig::default(),
    };
    let (base, state, shutdown) = start(&settings, &bus).await;
    TestApp {
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        auth,
        db,
        bus,
        state,
        settings,
        vault,
        registry,
        alerts,
        _data_dir: data_dir,
        shutdown,
    }
}

/// Starts one records instance with `settings`; returns its base URL.
pub async fn start(settings: &Settings, bus: &MemoryBus) -> (String, AppState, Shutdown) {
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let bus: std::sync::Arc<dyn EventBus> = std::sync::Arc::new(bus.clone());
    let service = episante_records::RecordsService::build(settings.clone(), bus, shutdown.clone())
        .await
        .expect("records builds");
    let state = service.state.clone();
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    (base, state, shutdown)
}

async fn start_registry(auth: &TestAuth) -> Registry {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let settings = episante_broker::config::Settings {
        broker: episante_broker::config::BrokerConfig {
            mqtt_bind: "127.0.0.1:0".into(),
            database: db.service_database(),
            data_dir: dir.path().to_path_buf(),
            ..Default::default()
        },
        kafka: Default::default(),
        database: db.config(),
        tokens: auth.token_config(),
        vault: Default::default(),
        log: LogConfig::default(),
    };
    let shutdown = Shutdown::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = episante_broker::build(settings, shutdown.clone())
        .await
        .expect("broker builds");
    tokio::spawn(episante_broker::serve(service, listener, shutdown.clone()));
    Registry {
        base,
        _db: db,
        _dir: dir,
        shutdown,
    }
}

/// A valid patient body; `family` varies it.
pub fn patient_body(family: &str, national_id: &str) -> Value {
    json!({
        "given_names": ["Ada", "Augusta"],
        "family_name": family,
        "birth_date": "1985-12-10",
        "sex": "female",
        "phone": "+44 20 7946 0958",
        "email": format!("{}@example.org", family.to_lowercase()),
        "address": {"lines": ["12 St James's Square"], "city": "London", "postal_code": "SW1Y 4JH", "country": "gb"},
        "national_id": national_id,
    })
}

impl TestApp {
    pub fn admin(&self) -> &str {
        &self.auth.admin_token
    }

    pub async fn user(&self, role: Role, name: &str) -> TestUser {
        self.auth.create_user(role, name).await
    }

    /// Any request; returns status and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("x-purpose-of-use", "TREAT");
        if let Some(body) = body {
            request = request.json(&body);
        }
        episante_testkit::http::send(request).await
    }

    /// `POST /v1/patients/search` with `criteria` (names and national ids never go in URLs).
    pub async fn search(&self, criteria: Value, token: &str) -> (StatusCode, Value) {
        self.call(Method::POST, "/v1/patients/search", token, Some(criteria))
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn create_patient(&self, family: &str, national_id: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/patients",
                self.admin(),
                Some(patient_body(family, national_id)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn create_team(&self, name: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                "/v1/care-teams",
                self.admin(),
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    pub async fn put_in_team(&self, team: &str, kind: &str, id: &str) {
        let (status, body) = self
            .call(
                Method::PUT,
                &format!("/v1/care-teams/{team}/{kind}/{id}"),
                self.admin(),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Runs SQL on the service database as the admin (superuser) account.
    pub async fn admin_sql(&self) -> sqlx::PgConnection {
        use sqlx::Connection;
        let url = self.db.admin_url();
        sqlx::PgConnection::connect(&url).await.unwrap()
    }
}

/// Asserts a problem+json answer with `status`.
pub fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
}
