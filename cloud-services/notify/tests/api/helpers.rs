//! `spawn_app()`: auth, bookings and notify on random ports with fresh databases, one in-memory
//! bus between bookings and notify, and an SMTP server.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use episante_kit::events::memory::MemoryBus;
use episante_kit::events::EventBus;
use episante_kit::service::Service;
use episante_kit::telemetry::LogConfig;
use episante_kit::{Role, Scope, Secret, Shutdown};
use episante_notify::config::{NotifyConfig, Settings, SmtpConfig, SmtpTls};
use episante_protocol::topics::KAFKA_BOOKING_EVENTS;
use episante_test_auth::{TestAuth, TestUser};
use episante_testkit::{TestDb, TestSmtp};
use serde_json::{json, Value};
use uuid::Uuid;

pub struct TestApp {
    pub http: reqwest::Client,
    pub auth: TestAuth,
    pub bus: MemoryBus,
    pub bookings: String,
    pub notify: String,
    shutdown: Shutdown,
    _dbs: (TestDb, TestDb),
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

async fn serve<S: Service>(service: S, shutdown: &Shutdown) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    base
}

/// Everything, with notify sending to the SMTP server on `smtp_port`.
pub async fn spawn_app(smtp_port: u16) -> TestApp {
    let auth = TestAuth::start().await;
    let (client_id, secret) = auth
        .create_service_client_with_scopes(
            &format!("notify-{}", Uuid::new_v4().simple()),
            &[Scope::ContactsRead, Scope::ScheduleRead],
        )
        .await;
    let bus = MemoryBus::default();
    bus.ensure_topics(&[KAFKA_BOOKING_EVENTS]).await.unwrap();
    let shared: Arc<dyn EventBus> = Arc::new(bus.clone());
    let shutdown = Shutdown::new();

    let bookings_db = TestDb::new();
    let bookings_settings = episante_bookings::config::Settings {
        bookings: episante_bookings::config::BookingsConfig {
            bind: "127.0.0.1:0".into(),
            database: bookings_db.service_database(),
            relay_interval_ms: 50,
            ..Default::default()
        },
        database: bookings_db.config(),
        tokens: auth.token_config(),
        kafka: Default::default(),
        log: LogConfig::default(),
    };
    let bookings = episante_bookings::BookingsService::build(
        bookings_settings,
        shared.clone(),
        shutdown.clone(),
    )
    .await
    .expect("bookings builds");
    let bookings = serve(bookings, &shutdown).await;

    let notify_db = TestDb::new();
    let settings = Settings {
        notify: NotifyConfig {
            bind: "127.0.0.1:0".into(),
            database: notify_db.service_database(),
            smtp: SmtpConfig {
                host: Some("127.0.0.1".into()),
                port: Some(smtp_port),
                tls: SmtpTls::None,
                timeout_secs: 5,
                ..Default::default()
            },
            portal_url: "https://portal.test".into(),
            auth_url: auth.base.clone(),
            bookings_url: bookings.clone(),
            client_id,
            client_secret: Some(Secret::new(secret)),
            initial_backoff_ms: 200,
            poll_ms: 50,
            ..Default::default()
        },
        database: notify_db.config(),
        tokens: auth.token_config(),
        kafka: Default::default(),
        log: LogConfig::default(),
    };
    let service = episante_notify::NotifyService::build(settings, shared, shutdown.clone())
        .await
        .expect("notify builds");
    let notify = serve(service, &shutdown).await;
    TestApp {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        auth,
        bus,
        bookings,
        notify,
        shutdown,
        _dbs: (bookings_db, notify_db),
    }
}

/// A practitioner in Paris, seeing patients every day, with a 30-minute appointment type.
pub struct Practice {
    pub practitioner: Uuid,
    pub kind: Uuid,
}

impl TestApp {
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn open_practice(&self) -> Practice {
        let admin = self.auth.admin_token.clone();
        let clinician = self.auth.create_user(Role::Clinician, "Dr Maigret").await;
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("{}/v1/practitioners", self.bookings),
                &admin,
                Some(json!({
                    "user_id": clinician.id, "display_name": "Dr Jules Maigret",
                    "specialty": "general practice", "location": "12 quai des Orfèvres, Paris",
                    "languages": ["fr", "en"], "time_zone": "Europe/Paris"
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let practitioner: Uuid = body["id"].as_str().unwrap().parse().unwrap();
        let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|d| json!({"weekday": d, "start": "00:00", "end": "23:30"}))
            .collect();
        let (status, body) = self
            .call(
                reqwest::Method::PUT,
                &format!(
                    "{}/v1/practitioners/{practitioner}/availability",
                    self.bookings
                ),
                &admin,
                Some(json!({"weekly": weekly, "exceptions": []})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("{}/v1/appointment-types", self.bookings),
                &admin,
                Some(json!({"name": format!("Consultation {}", &Uuid::new_v4().simple().to_string()[..6]), "duration_minutes": 30})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        Practice {
            practitioner,
            kind: body["id"].as_str().unwrap().parse().unwrap(),
        }
    }

    /// A patient account speaking `language`.
    pub async fn patient(&self, name: &str, language: &str) -> TestUser {
        let patient = self.auth.create_user(Role::Patient, name).await;
        let response = self
            .http
            .put(format!("{}/v1/auth/me/language", self.auth.base))
            .bearer_auth(&patient.token)
            .json(&json!({ "language": language }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        patient
    }

    /// Books the first half-hour slot at least `after` from now; returns (appointment, start).
    pub async fn book(
        &self,
        practice: &Practice,
        patient: &TestUser,
        after: chrono::Duration,
    ) -> (Uuid, DateTime<Utc>) {
        let t = Utc::now() + after;
        let secs = t.timestamp();
        let starts_at = DateTime::from_timestamp(secs + (1800 - secs.rem_euclid(1800)), 0).unwrap();
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("{}/v1/appointments", self.bookings),
                &patient.token,
                Some(json!({
                    "practitioner_id": practice.practitioner,
                    "appointment_type_id": practice.kind,
                    "starts_at": starts_at,
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (body["id"].as_str().unwrap().parse().unwrap(), starts_at)
    }

    /// The delivery log as `token` sees it.
    pub async fn log(&self, token: &str, query: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::GET,
            &format!("{}/v1/notifications/deliveries{query}", self.notify),
            token,
            None,
        )
        .await
    }

    /// Waits until the log holds a message of `kind` in `status` for `appointment`.
    pub async fn wait_for_status(&self, appointment: Uuid, kind: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, log) = self.log(&self.auth.admin_token, "?limit=500").await;
            if let Some(entry) = log["items"].as_array().unwrap().iter().find(|e| {
                e["appointment_id"] == json!(appointment)
                    && e["kind"] == kind
                    && e["status"] == status
            }) {
                return entry.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {kind} {status} for {appointment}: {log}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Starts an SMTP server and the platform sending to it.
pub async fn with_mail() -> (TestApp, TestSmtp) {
    let smtp = TestSmtp::start().await;
    let app = spawn_app(smtp.port).await;
    (app, smtp)
}
