//! Notify benchmark: drives a real `episante-notify` process (`--bin`) over Kafka (tansu) into a
//! real SMTP server (aiosmtpd, Maildir), with auth and bookings in-process for contacts and
//! practitioners.
//!
//! 1. **Reminders**: `--reminders` 1-hour reminders falling due at once (for `--recipients`
//!    patients) are put on `bookings.events.v1` in one burst; halfway through the deliveries the
//!    notify process is killed with SIGKILL and started again. Measured: the time until every
//!    reminder is in the Maildir; checked: every reminder delivered, none lost, and duplicates
//!    (the same `Message-ID` twice: a message the relay took just before the kill, sent again)
//!    counted.
//! 2. **Pages**: `--pages` critical alerts, one at a time, each published on `alerts.events.v1` the
//!    moment the alerts service would put it on the clinicians' stream; measured: publish →
//!    the page file in the Maildir (p50/p99).
//!
//! Prints one JSON line per phase and a `summary` line. Run by `infra/bench/notify.sh`.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use clap::Parser;
use episante_kit::service::Service;
use episante_kit::{Role, Scope};
use episante_protocol::topics::{KAFKA_ALERT_EVENTS, KAFKA_BOOKING_EVENTS, KAFKA_CARE_TEAMS};
use episante_test_auth::TestAuth;
use episante_testkit::process::RestartableProcess;
use episante_testkit::{TestDb, TestKafka, TestSmtp};
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// The release `episante-notify` binary.
    #[arg(long)]
    bin: std::path::PathBuf,
    #[arg(long, default_value_t = 10_000)]
    reminders: usize,
    #[arg(long, default_value_t = 100)]
    recipients: usize,
    #[arg(long, default_value_t = 50)]
    pages: usize,
    /// Give up after this long.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    (sorted[i - 1] * 10.0).round() / 10.0
}

/// Message-ID → how many files carry it, over the Maildir.
fn message_ids(smtp: &TestSmtp) -> HashMap<String, usize> {
    let mut ids = HashMap::new();
    for mail in smtp.messages() {
        let id = mail
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or("?")
            .to_string();
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Value,
) -> Value {
    let r = http
        .request(method, url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{url}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let smtp = TestSmtp::start().await;
    let kafka = TestKafka::start().await?;
    kafka
        .create_topics(
            &[
                KAFKA_BOOKING_EVENTS,
                KAFKA_ALERT_EVENTS,
                KAFKA_CARE_TEAMS,
                "auth.security.v1",
            ],
            4,
        )
        .await?;
    let bus = episante_kit::events::connect(&episante_kit::events::EventBusConfig {
        brokers: Some(kafka.bootstrap.clone()),
        ..Default::default()
    })?;
    let auth = TestAuth::start().await;
    let (client_id, secret) = auth
        .create_service_client_with_scopes(
            "notify-bench",
            &[Scope::ContactsRead, Scope::ScheduleRead],
        )
        .await;

    // Bookings, in-process, for the practitioner and appointment type the reminders name.
    let shutdown = episante_kit::Shutdown::new();
    let bookings_db = TestDb::new();
    let bookings = episante_bookings::BookingsService::build(
        episante_bookings::config::Settings {
            bookings: episante_bookings::config::BookingsConfig {
                bind: "127.0.0.1:0".into(),
                database: bookings_db.service_database(),
                ..Default::default()
            },
            database: bookings_db.config(),
            tokens: auth.token_config(),
            kafka: Default::default(),
            log: Default::default(),
        },
        std::sync::Arc::new(episante_kit::events::memory::MemoryBus::default()),
        shutdown.clone(),
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bookings_url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(episante_kit::service::serve(
        bookings,
        listener,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();
    let admin = auth.admin_token.clone();
    let doctor = auth.create_user(Role::Clinician, "Dr Bench").await;
    let practitioner = call(&http, reqwest::Method::POST, &format!("{bookings_url}/v1/practitioners"), &admin,
        json!({"user_id": doctor.id, "display_name": "Dr Bench", "specialty": "general practice",
               "location": "1 rue de la Paix, Paris", "languages": ["fr"], "time_zone": "Europe/Paris"})).await;
    let kind = call(
        &http,
        reqwest::Method::POST,
        &format!("{bookings_url}/v1/appointment-types"),
        &admin,
        json!({"name": "Consultation", "duration_minutes": 30}),
    )
    .await;
    // Accounts only (no sign-in: a hundred sign-ins from one address would be throttled).
    let users_url = format!("{}/v1/auth/users", auth.base);
    let account = |role: &'static str, i: usize| {
        let (http, admin, url) = (http.clone(), admin.clone(), users_url.clone());
        async move {
            let created = call(
                &http,
                reqwest::Method::POST,
                &url,
                &admin,
                json!({
                    "email": format!("{role}{i}-{}@bench.test", Uuid::new_v4().simple()),
                    "display_name": format!("{role} {i}"), "role": role,
                    "password": "a long enough bench password"}),
            )
            .await;
            created["id"].as_str().unwrap().parse::<Uuid>().unwrap()
        }
    };
    let mut patients = Vec::new();
    for i in 0..args.recipients {
        patients.push(account("patient", i).await);
    }

    // The notify process, on its own database, reading Kafka, sending to aiosmtpd.
    let notify_db = TestDb::new();
    let port = episante_testkit::net::free_port();
    let env = [
        ("EPISANTE_NOTIFY__BIND", format!("127.0.0.1:{port}")),
        ("EPISANTE_NOTIFY__DATABASE__NAME", notify_db.name.clone()),
        ("EPISANTE_NOTIFY__DATABASE__ROLE", notify_db.name.clone()),
        (
            "EPISANTE_DATABASE__ADMIN_URL",
            episante_testkit::postgres::admin_url(),
        ),
        ("EPISANTE_TOKENS__JWKS_URL", auth.jwks_url()),
        ("EPISANTE_KAFKA__BROKERS", kafka.bootstrap.clone()),
        ("EPISANTE_NOTIFY__SMTP__HOST", "127.0.0.1".into()),
        ("EPISANTE_NOTIFY__SMTP__PORT", smtp.port.to_string()),
        ("EPISANTE_NOTIFY__SMTP__TLS", "none".into()),
        ("EPISANTE_NOTIFY__AUTH_URL", auth.base.clone()),
        ("EPISANTE_NOTIFY__BOOKINGS_URL", bookings_url.clone()),
        ("EPISANTE_NOTIFY__CLIENT_ID", client_id),
        ("EPISANTE_NOTIFY__CLIENT_SECRET", secret),
        ("EPISANTE_NOTIFY__PAGE_BURST", "1000000".into()),
    ];
    let mut notify = RestartableProcess::new(&args.bin, &[], &env);
    notify.start();
    episante_testkit::net::wait_for_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(60))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);

    // Phase 1: reminders all due at once; SIGKILL halfway.
    let starts_at = Utc::now() + chrono::Duration::hours(1);
    let started = Instant::now();
    // All at once, as a burst of due reminders reaches the bus.
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..args.reminders {
        let event = json!({
            "v": 1, "event_id": Uuid::new_v4(), "type": "appointment.reminder",
            "appointment_id": Uuid::new_v4(), "patient_id": patients[i % patients.len()],
            "practitioner_id": practitioner["id"], "appointment_type_id": kind["id"],
            "starts_at": starts_at, "ends_at": starts_at + chrono::Duration::minutes(30),
            "reminder": "1h", "occurred_at": Utc::now(),
        });
        let key = event["appointment_id"].as_str().unwrap().to_string();
        sends.spawn(bus.publish(KAFKA_BOOKING_EVENTS, &key, serde_json::to_vec(&event)?));
    }
    while let Some(sent) = sends.join_next().await {
        sent??;
    }
    let published = started.elapsed();
    let mut killed_at = None;
    loop {
        let n = smtp.count();
        if killed_at.is_none() && n >= args.reminders / 2 {
            notify.kill_9();
            killed_at = Some((n, started.elapsed()));
            notify.start();
        }
        if n >= args.reminders {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {n} of {} reminders after {:?}",
            args.reminders,
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_in = started.elapsed();
    // Anything sent twice arrives within moments of the rest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids = message_ids(&smtp);
    let files: usize = ids.values().sum();
    let duplicated = ids.values().filter(|n| **n > 1).count();
    let (killed_after, killed_secs) = killed_at.unwrap_or((0, Duration::ZERO));
    // Where the time went: the consumer writing the messages, the dispatcher sending them.
    let db = sqlx::PgPool::connect(&notify_db.admin_url()).await?;
    let (written_secs, sent_secs): (f64, f64) = sqlx::query_as(
        "SELECT extract(epoch FROM max(created_at) - min(created_at))::float8, \
                extract(epoch FROM max(sent_at) - min(created_at))::float8 \
         FROM deliveries WHERE kind = 'reminder_1h' AND channel = 'email'",
    )
    .fetch_one(&db)
    .await?;
    db.close().await;
    let reminders = json!({
        "phase": "reminders", "reminders": args.reminders, "recipients": args.recipients,
        "published_secs": (published.as_secs_f64() * 100.0).round() / 100.0,
        "all_delivered_secs": (all_in.as_secs_f64() * 100.0).round() / 100.0,
        "per_sec": (args.reminders as f64 / all_in.as_secs_f64()).round(),
        "killed_after_messages": killed_after, "killed_at_secs": (killed_secs.as_secs_f64() * 10.0).round() / 10.0,
        "distinct_delivered": ids.len(), "files": files, "duplicated_message_ids": duplicated,
        "consumer_wrote_all_secs": (written_secs * 10.0).round() / 10.0,
        "last_sent_secs": (sent_secs * 10.0).round() / 10.0,
    });
    println!("{reminders}");

    // Phase 2: pages, one at a time.
    let clinician = account("clinician", 0).await;
    let patient = Uuid::new_v4();
    bus.publish(
        KAFKA_CARE_TEAMS,
        &patient.to_string(),
        serde_json::to_vec(&json!({
        "patient_id": patient, "clinicians": [clinician.to_string()], "at": Utc::now()}))?,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies = Vec::new();
    for i in 0..args.pages {
        let before = smtp.count();
        let alert = Uuid::new_v4();
        let sent_at = SystemTime::now();
        let event = json!({
            "id": 1_000_000 + i as i64, "alert_id": alert, "patient_id": patient, "kind": "created",
            "at": Utc::now(), "snapshot": {"severity": "critical", "state": "active",
            "assigned_to": null, "escalation_level": 0, "created_at": Utc::now()}});
        bus.publish(
            KAFKA_ALERT_EVENTS,
            &patient.to_string(),
            serde_json::to_vec(&event)?,
        )
        .await?;
        loop {
            if smtp.count() > before {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "page {i} never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The file's own time: when the SMTP server wrote it.
        let arrived = std::fs::read_dir(smtp.new_dir())?
            .filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok()?.modified().ok())
            .max()
            .unwrap_or_else(SystemTime::now);
        latencies.push(
            arrived
                .duration_since(sent_at)
                .unwrap_or_default()
                .as_secs_f64()
                * 1000.0,
        );
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pages = json!({"phase": "pages", "pages": args.pages,
        "p50_ms": percentile(&latencies, 0.5), "p99_ms": percentile(&latencies, 0.99), "max_ms": percentile(&latencies, 1.0)});
    println!("{pages}");
    println!(
        "{}",
        json!({"summary": {"reminders": reminders, "pages": pages}})
    );
    notify.kill_9();
    shutdown.trigger();
    Ok(())
}
