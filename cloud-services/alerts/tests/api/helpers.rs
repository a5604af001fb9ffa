//! `spawn_app()`: the alerts service with a fresh database, real auth, and the event bus
//! (a real tansu broker, or the in-memory bus where the bus is not what a test is about).

use episante_kit::service::Service;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use episante_alerts::config::{AlertsConfig, Settings};
use episante_kit::events::kafka::KafkaBus;
use episante_kit::events::memory::MemoryBus;
use episante_kit::events::{EventBus, EventBusConfig};
use episante_kit::telemetry::LogConfig;
use episante_kit::{Role, Shutdown};
use episante_protocol::topics::{KAFKA_CARE_TEAMS, KAFKA_DEVICE_ASSIGNMENTS, KAFKA_READINGS};
use episante_protocol::{CareTeamEvent, DeviceAssignmentEvent, Reading, ReadingBatch, VitalKind};
use episante_test_auth::{TestAuth, TestUser};
use episante_testkit::{TestDb, TestKafka};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub auth: TestAuth,
    pub db: TestDb,
    pub bus: Arc<dyn EventBus>,
    pub kafka: Option<TestKafka>,
    pub settings: Settings,
    pub shutdown: Shutdown,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

pub struct Options {
    pub kafka: bool,
    pub tweak: fn(&mut AlertsConfig),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kafka: false,
            tweak: |_| {},
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub fn kafka_bus(kafka: &TestKafka) -> Arc<dyn EventBus> {
    Arc::new(
        KafkaBus::new(&EventBusConfig {
            brokers: Some(kafka.bootstrap.clone()),
            partitions: 4,
            linger_ms: 1,
            message_timeout_ms: 60_000,
            ..Default::default()
        })
        .expect("kafka bus"),
    )
}

pub fn settings_for(auth: &TestAuth, db: &TestDb, tweak: fn(&mut AlertsConfig)) -> Settings {
    let mut alerts = AlertsConfig {
        bind: "127.0.0.1:0".into(),
        database: db.service_database(),
        consumer_group: format!("alerts-{}", Uuid::new_v4().simple()),
        resolve_hold_secs: 120,
        dropout_watchdog_secs: 0,
        webhook_initial_backoff_ms: 100,
        ..Default::default()
    };
    tweak(&mut alerts);
    Settings {
        alerts,
        database: db.config(),
        tokens: auth.token_config(),
        vault: Default::default(),
        kafka: Default::default(),
        log: LogConfig::default(),
    }
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let auth = TestAuth::start().await;
    let kafka = if options.kafka {
        Some(TestKafka::start().await.expect("tansu"))
    } else {
        None
    };
    let bus: Arc<dyn EventBus> = match &kafka {
        Some(k) => kafka_bus(k),
        None => Arc::new(MemoryBus::default()),
    };
    let db = TestDb::new();
    let settings = settings_for(&auth, &db, options.tweak);
    let shutdown = Shutdown::new();
    let base = start_instance(&settings, bus.clone(), &shutdown).await;
    TestApp {
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        auth,
        db,
        bus,
        kafka,
        settings,
        shutdown,
    }
}

/// Starts one alerts instance; returns its base URL. It stops with `shutdown`.
pub async fn start_instance(
    settings: &Settings,
    bus: Arc<dyn EventBus>,
    shutdown: &Shutdown,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let service = episante_alerts::AlertsService::build(settings.clone(), bus, shutdown.clone())
        .await
        .expect("alerts builds");
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    base
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Batches of readings: one batch per step of `every_s` seconds from `start_s`, with `values`
/// (plus a small jitter), each stamped as the broker stamps a live hub's: received when measured.
pub fn batches(
    device: &str,
    first_seq: u64,
    start_s: i64,
    every_s: i64,
    steps: usize,
    values: &[(VitalKind, f64)],
) -> Vec<ReadingBatch> {
    let mut seq = first_seq;
    (0..steps)
        .map(|i| {
            let ts_ms = (start_s + i as i64 * every_s) * 1000;
            ReadingBatch {
                v: 1,
                device_id: device.to_string(),
                epoch: 0,
                received_at_ms: Some(ts_ms),
                readings: values
                    .iter()
                    .map(|(kind, value)| {
                        seq += 1;
                        Reading {
                            seq,
                            ts_ms,
                            kind: *kind,
                            // A little variation: real sensors never repeat exactly (that is
                            // the flatline rule's business).
                            value: value + (i % 3) as f64 * 0.3,
                            unit: kind.unit().into(),
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A base time for readings: now, in whole seconds.
pub fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

impl TestApp {
    pub async fn publish(&self, batches: &[ReadingBatch]) {
        publish(self.bus.as_ref(), batches).await;
    }

    pub async fn assign(&self, device: &str, patient: Option<Uuid>) {
        let event = DeviceAssignmentEvent {
            device_id: device.into(),
            patient_id: patient.map(|p| p.to_string()),
            at: chrono::Utc::now().to_rfc3339(),
        };
        self.bus
            .publish(
                KAFKA_DEVICE_ASSIGNMENTS,
                device,
                serde_json::to_vec(&event).unwrap(),
            )
            .await
            .unwrap();
    }

    pub async fn care(&self, patient: Uuid, clinicians: &[Uuid]) {
        let event = CareTeamEvent {
            patient_id: patient.to_string(),
            clinicians: clinicians.iter().map(Uuid::to_string).collect(),
            at: chrono::Utc::now().to_rfc3339(),
        };
        self.bus
            .publish(
                KAFKA_CARE_TEAMS,
                &patient.to_string(),
                serde_json::to_vec(&event).unwrap(),
            )
            .await
            .unwrap();
    }

    /// Assigns `device` to a new patient in the care of `clinicians`, and waits until the
    /// service knows.
    pub async fn monitored_patient(&self, device: &str, clinicians: &[Uuid]) -> Uuid {
        let patient = Uuid::new_v4();
        self.care(patient, clinicians).await;
        self.assign(device, Some(patient)).await;
        let pool = self.pool().await;
        eventually(20, "the assignment to be applied", || {
            let pool = pool.clone();
            let device = device.to_string();
            async move {
                let n: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM device_patients WHERE device_id = $1")
                        .bind(device)
                        .fetch_one(&pool)
                        .await
                        .ok()?;
                (n == 1).then_some(())
            }
        })
        .await;
        patient
    }

    pub async fn user(&self, role: Role, name: &str) -> TestUser {
        self.auth.create_user(role, name).await
    }

    pub fn admin(&self) -> &str {
        &self.auth.admin_token
    }

    /// A pool on the service database as the admin account (for checks only).
    pub async fn pool(&self) -> sqlx::PgPool {
        let url = self.db.admin_url();
        sqlx::PgPool::connect(&url).await.unwrap()
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(&self.http, &self.base, method, path, token, body).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    /// Open and resolved alerts of `patient` (as admin).
    pub async fn alerts_of(&self, patient: Uuid) -> Vec<Value> {
        let (status, body) = self
            .get(
                &format!("/v1/alerts?state=all&patient_id={patient}&limit=1000"),
                self.admin(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["alerts"].as_array().unwrap().clone()
    }

    /// Waits until `patient` has an alert for `rule`; returns it.
    pub async fn wait_for_alert(&self, patient: Uuid, rule: &str) -> Value {
        eventually(30, rule, || async {
            self.alerts_of(patient)
                .await
                .into_iter()
                .find(|a| a["rule_key"] == rule)
        })
        .await
    }
}

/// The value of the `series` line (e.g. `episante_alerts_duplicate_readings_total`) whose labels
/// contain `labels` (e.g. `device_id="hub1"`) on the instance at `base`; 0 when absent.
pub async fn metric(base: &str, series: &str, labels: &str) -> f64 {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .lines()
        .filter(|l| l.starts_with(series) && l.contains(labels))
        .find_map(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap_or(0.0)
}

pub async fn publish(bus: &dyn EventBus, batches: &[ReadingBatch]) {
    let deliveries: Vec<_> = batches
        .iter()
        .map(|b| bus.publish(KAFKA_READINGS, &b.device_id, serde_json::to_vec(b).unwrap()))
        .collect();
    for d in deliveries {
        d.await.expect("published");
    }
}

pub async fn call(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    episante_testkit::http::send(request).await
}

/// Heart rate 140 for `secs` seconds of readings every 10 s (a tachycardia episode).
pub const TACHY: &[(VitalKind, f64)] = &[(VitalKind::HeartRate, 140.0)];
pub const NORMAL: &[(VitalKind, f64)] = &[(VitalKind::HeartRate, 72.0)];
/// HR 140, SpO2 88, RR 27: NEWS2 aggregate 9 — critical.
pub const CRITICAL: &[(VitalKind, f64)] = &[
    (VitalKind::HeartRate, 140.0),
    (VitalKind::Spo2, 88.0),
    (VitalKind::RespiratoryRate, 27.0),
];
