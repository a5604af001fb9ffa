//! Booking load benchmark: drives a real `episante-bookings` process over HTTP.
//!
//! Starts an auth service in-process (for real tokens), the bookings binary given by `--bin` as a
//! child process with a fresh database, creates practitioners with open calendars, then measures
//! two phases with `--concurrency` keep-alive connections:
//! - **distinct**: every request books a different free slot (throughput, latency);
//! - **contention**: all workers try the same slot at once, slot after slot (exactly one 201 per
//!   slot, 409 for the rest).
//!
//! Afterwards it checks the database for double bookings and that every 201 is one row.
//! Run through `infra/bench/bookings.sh`, which builds it in release mode.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use clap::Parser;
use episante_kit::Role;
use episante_test_auth::TestAuth;
use episante_testkit::TestDb;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// The release `episante-bookings` binary.
    #[arg(long)]
    bin: std::path::PathBuf,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Length of the distinct-slots phase.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    /// Slots fought over in the contention phase.
    #[arg(long, default_value_t = 300)]
    contention_slots: usize,
    #[arg(long, default_value_t = 50)]
    practitioners: usize,
    /// The service's database pool size.
    #[arg(long, default_value_t = 16)]
    db_connections: u32,
}

struct Phase {
    name: &'static str,
    requests: usize,
    created: usize,
    conflicts: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1].as_secs_f64() * 1000.0
    }

    fn report(&mut self) -> Value {
        self.latencies.sort();
        let secs = self.elapsed.as_secs_f64();
        let out = json!({
            "phase": self.name,
            "requests": self.requests,
            "created": self.created,
            "conflicts": self.conflicts,
            "errors": self.errors,
            "seconds": (secs * 100.0).round() / 100.0,
            "requests_per_sec": (self.requests as f64 / secs).round(),
            "bookings_per_sec": (self.created as f64 / secs).round(),
            "p50_ms": (self.percentile(0.50) * 100.0).round() / 100.0,
            "p99_ms": (self.percentile(0.99) * 100.0).round() / 100.0,
            "max_ms": (self.percentile(1.0) * 100.0).round() / 100.0,
        });
        println!("{out}");
        out
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let auth = TestAuth::start().await;
    let db = TestDb::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(&args.bin)
        .env("EPISANTE_BOOKINGS__BIND", format!("127.0.0.1:{port}"))
        .env("EPISANTE_BOOKINGS__DATABASE__NAME", &db.name)
        .env("EPISANTE_BOOKINGS__DATABASE__ROLE", &db.name)
        .env(
            "EPISANTE_DATABASE__ADMIN_URL",
            episante_testkit::postgres::admin_url(),
        )
        .env(
            "EPISANTE_DATABASE__MAX_CONNECTIONS",
            args.db_connections.to_string(),
        )
        .env("EPISANTE_TOKENS__JWKS_URL", auth.jwks_url())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    wait_ready(&http, &base).await?;
    let admin = auth.admin_token.clone();

    // Setup: practitioners open every day 00:00–23:55 UTC, one 5-minute appointment type.
    let kind = post(
        &http,
        &base,
        &admin,
        "/v1/appointment-types",
        json!({"name": "bench", "duration_minutes": 5}),
    )
    .await?["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let weekly: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "00:00", "end": "23:55"}))
        .collect();
    let mut practitioners = Vec::new();
    for i in 0..args.practitioners + 1 {
        let clinician = if i == 0 {
            auth.create_user(Role::Clinician, "Dr Bench").await.id
        } else {
            Uuid::new_v4()
        };
        let p = post(
            &http,
            &base,
            &admin,
            "/v1/practitioners",
            json!({
            "user_id": clinician, "display_name": format!("Dr {i}"), "specialty": format!("s{i}"),
            "location": "bench", "time_zone": "UTC"}),
        )
        .await?;
        let id = p["id"].as_str().unwrap_or_default().to_string();
        let r = http
            .put(format!("{base}/v1/practitioners/{id}/availability"))
            .bearer_auth(&admin)
            .json(&json!({ "weekly": weekly }))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "availability: {}", r.status());
        practitioners.push(id);
    }
    let contended_practitioner = practitioners.remove(0);
    let first_slot =
        (Utc::now() + ChronoDuration::days(1)).duration_trunc(ChronoDuration::days(1))?;
    // Slots per practitioner per day (00:00 to 23:55, every 5 minutes).
    let per_day = 287usize;

    // Distinct slots: worker w takes slot numbers from a shared counter.
    let counter = Arc::new(AtomicUsize::new(0));
    let practitioners = Arc::new(practitioners);
    let distinct = run_phase("distinct", &args, {
        let (http, base, admin, kind) = (http.clone(), base.clone(), admin.clone(), kind.clone());
        let practitioners = practitioners.clone();
        let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
        move |_worker| {
            let (http, base, admin, kind) =
                (http.clone(), base.clone(), admin.clone(), kind.clone());
            let practitioners = practitioners.clone();
            let counter = counter.clone();
            async move {
                let mut results = Vec::new();
                while Instant::now() < deadline {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let p = &practitioners[n % practitioners.len()];
                    let k = n / practitioners.len();
                    let start = slot(first_slot, k, per_day);
                    results.push(book(&http, &base, &admin, p, &kind, start).await);
                }
                results
            }
        }
    })
    .await;

    // Contention: every worker walks the same slots of one practitioner, in step.
    let contention = run_phase("contention", &args, {
        let (http, base, admin, kind) = (http.clone(), base.clone(), admin.clone(), kind.clone());
        let p = contended_practitioner.clone();
        let slots = args.contention_slots;
        move |_worker| {
            let (http, base, admin, kind, p) = (
                http.clone(),
                base.clone(),
                admin.clone(),
                kind.clone(),
                p.clone(),
            );
            async move {
                let mut results = Vec::new();
                for k in 0..slots {
                    let start = slot(first_slot, k, per_day);
                    results.push(book(&http, &base, &admin, &p, &kind, start).await);
                }
                results
            }
        }
    })
    .await;

    let mut distinct = distinct;
    let mut contention = contention;
    let d = distinct.report();
    let c = contention.report();

    // Verification straight from the database.
    let url = format!(
        "{}/{}",
        episante_testkit::postgres::admin_url()
            .rsplit_once('/')
            .map(|(a, _)| a)
            .unwrap_or_default(),
        db.name
    );
    let pool = sqlx::PgPool::connect(&url).await?;
    let overlaps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointments a JOIN appointments b
           ON a.practitioner_id = b.practitioner_id AND a.id < b.id
          AND a.status <> 'cancelled' AND b.status <> 'cancelled'
          AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)",
    )
    .fetch_one(&pool)
    .await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments")
        .fetch_one(&pool)
        .await?;
    let contended_rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM appointments WHERE practitioner_id = $1::uuid")
            .bind(&contended_practitioner)
            .fetch_one(&pool)
            .await?;
    pool.close().await;
    let verdict = json!({
        "double_bookings": overlaps,
        "rows": rows,
        "created_201": distinct.created + contention.created,
        "contended_slots": args.contention_slots,
        "contended_rows": contended_rows,
    });
    println!("{verdict}");
    println!(
        "{}",
        json!({"summary": {"distinct": d, "contention": c, "verification": verdict,
            "concurrency": args.concurrency, "db_connections": args.db_connections}})
    );
    child.kill().await.ok();
    anyhow::ensure!(overlaps == 0, "double bookings found");
    anyhow::ensure!(
        rows as usize == distinct.created + contention.created,
        "201s and rows differ"
    );
    anyhow::ensure!(
        contended_rows as usize == args.contention_slots,
        "contended slots not booked once each"
    );
    Ok(())
}

fn slot(first: DateTime<Utc>, k: usize, per_day: usize) -> DateTime<Utc> {
    first
        + ChronoDuration::days((k / per_day) as i64)
        + ChronoDuration::minutes(5 * (k % per_day) as i64)
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{base}/ready")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the bookings service did not become ready")
}

async fn post(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let body: Value = r.json().await?;
    anyhow::ensure!(status.is_success(), "{path}: {status} {body}");
    Ok(body)
}

/// One booking attempt: (status, latency).
async fn book(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    practitioner: &str,
    kind: &str,
    start: DateTime<Utc>,
) -> (u16, Duration) {
    let started = Instant::now();
    let status = http
        .post(format!("{base}/v1/appointments"))
        .bearer_auth(token)
        .json(
            &json!({"practitioner_id": practitioner, "appointment_type_id": kind,
            "starts_at": start, "patient_id": Uuid::new_v4()}),
        )
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0);
    (status, started.elapsed())
}

async fn run_phase<F, Fut>(name: &'static str, args: &Args, worker: F) -> Phase
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Vec<(u16, Duration)>> + Send + 'static,
{
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..args.concurrency {
        tasks.spawn(worker(w));
    }
    let mut phase = Phase {
        name,
        requests: 0,
        created: 0,
        conflicts: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    while let Some(Ok(results)) = tasks.join_next().await {
        for (status, latency) in results {
            phase.requests += 1;
            match status {
                201 => phase.created += 1,
                409 => phase.conflicts += 1,
                _ => phase.errors += 1,
            }
            phase.latencies.push(latency);
        }
    }
    phase.elapsed = started.elapsed();
    phase
}
