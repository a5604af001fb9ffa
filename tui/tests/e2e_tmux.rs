//! The real binary in tmux against a platform started here (auth, alerts, the one-address
//! gateway): a tachycardia episode shows up live on the board, is acknowledged with a key press,
//! and the alerts service records who acknowledged it.

use episante_kit::service::Service;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use episante_alerts::config::{AlertsConfig, Settings};
use episante_client::{ApiClient, SessionStore};
use episante_gateway::Upstreams;
use episante_kit::events::memory::MemoryBus;
use episante_kit::events::EventBus;
use episante_kit::telemetry::LogConfig;
use episante_kit::{Role, Shutdown};
use episante_protocol::topics::{KAFKA_CARE_TEAMS, KAFKA_DEVICE_ASSIGNMENTS, KAFKA_READINGS};
use episante_protocol::{CareTeamEvent, DeviceAssignmentEvent, Reading, ReadingBatch, VitalKind};
use episante_test_auth::{TestAuth, USER_PASSWORD};
use episante_testkit::TestDb;
use serde_json::Value;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(60);

/// A tmux server of our own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        std::process::Command::new("tmux")
            .args(["-u", "-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn start(env: &[(&str, String)], command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("episante-tui-{}", Uuid::new_v4().simple()),
        };
        let mut args = vec![
            "new-session".to_string(),
            "-d".into(),
            "-x".into(),
            "120".into(),
            "-y".into(),
            "40".into(),
            "-s".into(),
            "tui".into(),
        ];
        for (name, value) in env {
            args.push("-e".into());
            args.push(format!("{name}={value}"));
        }
        args.push(command.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = tmux.run(&args);
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "tui"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "tui"]).status.success()
    }

    /// Polls the pane until `check` holds.
    async fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; the pane shows:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Alerts on a free port with a fresh database and the given bus.
async fn start_alerts(
    auth: &TestAuth,
    db: &TestDb,
    bus: Arc<dyn EventBus>,
    shutdown: &Shutdown,
) -> String {
    let settings = Settings {
        alerts: AlertsConfig {
            bind: "127.0.0.1:0".into(),
            database: db.service_database(),
            consumer_group: format!("alerts-{}", Uuid::new_v4().simple()),
            dropout_watchdog_secs: 0,
            ..Default::default()
        },
        database: db.config(),
        tokens: auth.token_config(),
        vault: Default::default(),
        kafka: Default::default(),
        log: LogConfig::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind alerts");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let service = episante_alerts::AlertsService::build(settings, bus, shutdown.clone())
        .await
        .expect("alerts builds");
    tokio::spawn(episante_kit::service::serve(
        service,
        listener,
        shutdown.clone(),
    ));
    base
}

async fn publish(bus: &dyn EventBus, topic: &str, key: &str, body: Vec<u8>) {
    bus.publish(topic, key, body).await.expect("published");
}

/// Heart rate ~140 every 10 s for two minutes of reading time, ending 13 minutes ago.
fn tachycardia(device: &str) -> Vec<ReadingBatch> {
    let start = chrono::Utc::now().timestamp() - 900;
    (0..12u64)
        .map(|i| ReadingBatch {
            v: 1,
            device_id: device.into(),
            epoch: 0,
            received_at_ms: None,
            readings: vec![Reading {
                seq: i + 1,
                ts_ms: (start + i as i64 * 10) * 1000,
                kind: VitalKind::HeartRate,
                value: 140.0 + (i % 3) as f64 * 0.3,
                unit: VitalKind::HeartRate.unit().into(),
            }],
        })
        .collect()
}

async fn wait_until_assigned(db: &TestDb, device: &str) {
    let url = format!(
        "{}/{}",
        episante_testkit::postgres::admin_url()
            .rsplit_once('/')
            .expect("a database URL")
            .0,
        db.name
    );
    let pool = sqlx::PgPool::connect(&url).await.expect("alerts database");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM device_patients WHERE device_id = $1")
                .bind(device)
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
        if n == 1 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "assignment never applied"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(base: &str, path: &str, token: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("alerts reachable");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.expect("JSON")
}

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_episante-tui"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_arrives_live_and_is_acknowledged_from_the_tui() {
    let auth = TestAuth::start().await;
    let db = TestDb::new();
    let bus: Arc<dyn EventBus> = Arc::new(MemoryBus::default());
    let shutdown = Shutdown::new();
    let alerts = start_alerts(&auth, &db, bus.clone(), &shutdown).await;
    let gateway_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let gateway = format!("http://{}", gateway_listener.local_addr().expect("address"));
    tokio::spawn(episante_gateway::serve(
        gateway_listener,
        Upstreams {
            auth: Some(auth.base.clone()),
            alerts: Some(alerts.clone()),
            ..Default::default()
        },
        shutdown.clone(),
    ));

    // A clinician caring for a patient whose hub is assigned.
    let clinician = auth.create_user(Role::Clinician, "Dr Tui").await;
    let patient = Uuid::new_v4();
    let care = CareTeamEvent {
        patient_id: patient.to_string(),
        clinicians: vec![clinician.id.to_string()],
        at: chrono::Utc::now().to_rfc3339(),
    };
    publish(
        bus.as_ref(),
        KAFKA_CARE_TEAMS,
        &patient.to_string(),
        serde_json::to_vec(&care).expect("json"),
    )
    .await;
    let assignment = DeviceAssignmentEvent {
        device_id: "hubtui".into(),
        patient_id: Some(patient.to_string()),
        at: chrono::Utc::now().to_rfc3339(),
    };
    publish(
        bus.as_ref(),
        KAFKA_DEVICE_ASSIGNMENTS,
        "hubtui",
        serde_json::to_vec(&assignment).expect("json"),
    )
    .await;
    wait_until_assigned(&db, "hubtui").await;

    // Logged in like the CLI would: a session file in the config dir the TUI is pointed at.
    let config = tempfile::tempdir().expect("tempdir");
    let store = SessionStore {
        path: config.path().join("session.json"),
    };
    let mut client = ApiClient::new(&gateway, store).expect("client");
    client
        .login(&clinician.email, USER_PASSWORD)
        .await
        .expect("login through the gateway");

    let tmux = Tmux::start(
        &[
            ("EPISANTE_CONFIG_DIR", config.path().display().to_string()),
            ("EPISANTE_SERVER", gateway.clone()),
            ("TERM", "xterm-256color".into()),
        ],
        &format!("{} --no-bell", binary().display()),
    );
    tmux.wait_for("the live stream", |s| {
        s.lines().next().is_some_and(|l| l.contains("live")) && s.contains("No open alerts.")
    })
    .await;

    // The anomaly: the alert must arrive over the stream (the board was empty and live).
    for batch in tachycardia("hubtui") {
        publish(
            bus.as_ref(),
            KAFKA_READINGS,
            "hubtui",
            serde_json::to_vec(&batch).expect("json"),
        )
        .await;
    }
    let short_patient = &patient.to_string()[..8];
    let screen = tmux
        .wait_for("the alert on the board", |s| s.contains("heart_rate.high"))
        .await;
    let row = screen
        .lines()
        .find(|l| l.contains("heart_rate.high"))
        .expect("the alert's row");
    assert!(
        row.contains("HIGH") && row.contains("ACT") && row.contains(short_patient),
        "{row}"
    );
    assert!(screen.contains("HIGH 1"), "{screen}");
    assert!(screen.contains("Dr Tui"), "who is logged in: {screen}");

    let list = get(
        &alerts,
        &format!("/v1/alerts?patient_id={patient}"),
        &clinician.token,
    )
    .await;
    let alert_id = list["alerts"][0]["id"]
        .as_str()
        .expect("an alert id")
        .to_string();

    // Acknowledge with the key; the status line and the row change, and the service agrees.
    tmux.keys(&["a"]);
    let screen = tmux
        .wait_for("the acknowledgement", |s| {
            s.contains("acknowledged: heart_rate.high")
        })
        .await;
    assert!(
        screen
            .lines()
            .any(|l| l.contains("heart_rate.high") && l.contains("ACK")),
        "{screen}"
    );
    let alert = get(&alerts, &format!("/v1/alerts/{alert_id}"), &clinician.token).await;
    assert_eq!(alert["state"], "acknowledged");
    assert_eq!(alert["acknowledged_by"], clinician.id.to_string());

    // Acknowledging twice is refused by the service, and the TUI says why.
    tmux.keys(&["a"]);
    tmux.wait_for("the conflict", |s| {
        s.contains("cannot acknowledge: alert is acknowledged, not active")
    })
    .await;

    // The detail pane: vitals from the rollups, the timeline, no patient record (records is not
    // running behind this gateway).
    tmux.keys(&["Enter"]);
    let screen = tmux
        .wait_for("the detail", |s| {
            s.contains("Timeline") && s.contains("acknowledged by you")
        })
        .await;
    let hr = screen
        .lines()
        .find(|l| l.starts_with("HR "))
        .expect("HR row");
    assert!(hr.contains("/min"), "{hr}");
    assert!(screen.contains("no access to the record"), "{screen}");
    assert!(screen.lines().any(|l| l.contains("created")), "{screen}");

    tmux.keys(&["q"]);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while tmux.alive() {
        assert!(tokio::time::Instant::now() < deadline, "q did not quit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.trigger();
}
