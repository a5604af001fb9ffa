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
    spawn_app_with(smtp_port, |_| {}).await
}

/// Same, with notify's settings changed by `configure` first.
pub async fn spawn_app_with(smtp_port: u16, configure: impl FnOnce(&mut NotifyConfig)) -> TestApp {
    spawn_app_with_settings(smtp_port, |s| configure(&mut s.notify)).await
}

/// Same, with all of notify's settings (`[vault]` too) changed by `configure` first.
pub async fn spawn_app_with_settings(
    smtp_port: u16,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
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
    let mut settings = Settings {
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
        vault: Default::default(),
        kafka: Default::default(),
        log: LogConfig::default(),
    };
    configure(&mut settings);
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
        self.person(Role::Patient, name, language).await
    }

    /// An account of `role` speaking `language`.
    pub async fn person(&self, role: Role, name: &str, language: &str) -> TestUser {
        let patient = self.auth.create_user(role, name).await;
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

    /// Books the first 10:00 UTC slot at least `after` from now; returns (appointment, start).
    pub async fn book(
        &self,
        practice: &Practice,
        patient: &TestUser,
        after: chrono::Duration,
    ) -> (Uuid, DateTime<Utc>) {
        // 10:00 UTC (11:00 or 12:00 in Paris): inside the practice's hours whatever the time of
        // day the test runs at.
        let t = Utc::now() + after;
        let mut starts_at = t.date_naive().and_hms_opt(10, 0, 0).unwrap().and_utc();
        if starts_at < t {
            starts_at += chrono::Duration::days(1);
        }
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
                    && e["channel"] == "email"
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

impl TestApp {
    /// Puts `payload` on `topic` as its producer would.
    pub async fn publish(&self, topic: &str, key: &str, payload: &Value) {
        self.bus.ensure_topics(&[topic]).await.unwrap();
        self.bus
            .publish(topic, key, serde_json::to_vec(payload).unwrap())
            .await
            .unwrap();
    }

    /// `records.care-teams.v1`: `clinicians` now care for `patient`. Returns once notify has
    /// applied it (topics are not ordered with each other: an alert published next must not
    /// overtake it).
    pub async fn care_team(&self, patient: Uuid, clinicians: &[&TestUser]) {
        let ids: Vec<String> = clinicians.iter().map(|c| c.id.to_string()).collect();
        self.publish(
            episante_protocol::topics::KAFKA_CARE_TEAMS,
            &patient.to_string(),
            &json!({"patient_id": patient, "clinicians": ids, "at": Utc::now()}),
        )
        .await;
        let db = sqlx::PgPool::connect(&self._dbs.1.admin_url())
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let applied: Option<i64> = sqlx::query_scalar(
                "SELECT cardinality(clinicians)::bigint FROM care_teams WHERE patient_id = $1",
            )
            .bind(patient)
            .fetch_optional(&db)
            .await
            .unwrap();
            if applied == Some(ids.len() as i64) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "care team not applied"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        db.close().await;
    }

    /// `PUT` preferences (`who`: `me` or a user id) as `token`.
    pub async fn preferences(&self, token: &str, who: &str, body: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("{}/v1/notifications/preferences/{who}", self.notify),
            token,
            Some(body),
        )
        .await
    }

    /// The log entries of `alert` as the admin sees them.
    pub async fn alert_log(&self, alert: Uuid) -> Vec<Value> {
        let (_, log) = self.log(&self.auth.admin_token, "?limit=500").await;
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["alert_id"] == json!(alert))
            .cloned()
            .collect()
    }

    /// Waits until `alert`'s log has an entry matching `matches`.
    pub async fn wait_for_alert_entry(
        &self,
        alert: Uuid,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let entries = self.alert_log(alert).await;
            if let Some(e) = entries.iter().find(|e| matches(e)) {
                return e.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not found in {entries:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// An alert event exactly as the alerts service writes it (`db::alerts::AlertEvent`: the change
/// and the alert's snapshot), with the clinical details a page must not carry.
pub fn alert_event(
    id: i64,
    alert: Uuid,
    patient: Uuid,
    kind: &str,
    severity: &str,
    state: &str,
    escalation_level: i16,
) -> Value {
    let created = Utc::now() - chrono::Duration::minutes(5 * escalation_level as i64);
    json!({
        "id": id, "alert_id": alert, "patient_id": patient, "kind": kind,
        "actor": null, "note": null, "at": Utc::now(),
        "snapshot": {
            "id": alert, "patient_id": patient, "device_id": "hub-0042", "rule_key": "spo2_low",
            "vital": "spo2", "severity": severity, "state": state,
            "message": "SpO2 84 % below 90 %", "first_value": 84.0, "last_value": 84.0,
            "occurrences": 1, "triggered_at": created, "last_seen_at": created,
            "reading_received_at": created, "created_at": created, "updated_at": Utc::now(),
            "acknowledged_at": null, "acknowledged_by": null, "resolved_at": null,
            "resolved_by": null, "resolution_note": null, "assigned_to": null,
            "escalated_at": null, "escalation_level": escalation_level
        }
    })
}

/// Starts an SMTP server and the platform sending to it.
pub async fn with_mail() -> (TestApp, TestSmtp) {
    let smtp = TestSmtp::start().await;
    let app = spawn_app(smtp.port).await;
    (app, smtp)
}
