//! `episante up --demo`: a small simulated ward, so a newcomer sees the platform work at once.
//!
//! It creates (through the services' HTTP APIs, like any admin) a clinician, an on-call admin
//! (paged when a critical alert stays unacknowledged: escalation is shortened to
//! [`ESCALATE_AFTER_SECS`] and [`ESCALATE_TO_ON_CALL_AFTER_SECS`] unless configured), a care team
//! with a few patients, registers one hub per patient and assigns it, then runs the fleet simulator
//! in-process against the embedded broker: a first accelerated round whose anomalies (tachycardia,
//! bradycardia, hypoxia…) raise alerts within a minute, then real-time rounds forever.
//!
//! The accelerated round is back-dated (it replays the last quarter hour ten times faster and
//! catches up with the clock as it ends), never fast-forwarded: readings timed in the future
//! would be refused by the broker and date alerts after their creation.

use std::time::Duration;

use anyhow::{bail, Context};
use episante_auth::http::AppState as AuthState;
use episante_kit::{Role, Shutdown};
use episante_sim::fleet::{Output, RunArgs};
use episante_sim::scenario::ScenarioName;
use serde_json::{json, Value};

/// The demo's escalation delays: care team, then on call.
pub const ESCALATE_AFTER_SECS: u64 = 120;
pub const ESCALATE_TO_ON_CALL_AFTER_SECS: u64 = 240;

pub struct DemoWard {
    pub auth: String,
    pub notify: String,
    pub records: String,
    pub registry: String,
    pub mqtt_port: u16,
    /// Mints the admin tokens the demo acts with (in-process: no password needed).
    pub auth_state: AuthState,
}

const PATIENTS: &[(&str, &str)] = &[
    ("Ada", "Lovelace"),
    ("Alan", "Turing"),
    ("Grace", "Hopper"),
    ("Emmy", "Noether"),
    ("Marie", "Curie"),
    ("Rosalind", "Franklin"),
];

impl DemoWard {
    fn token(&self) -> anyhow::Result<String> {
        self.auth_state
            .access_token("episante-up-demo", Role::Admin, None)
            .map(|(t, _)| t)
            .map_err(|e| anyhow::anyhow!("minting the demo token: {e}"))
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() && status != reqwest::StatusCode::CONFLICT {
        bail!("POST {url}: {status} {answer}");
    }
    Ok(answer)
}

async fn put(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<()> {
    put_json(http, url, token, None).await
}

async fn put_json(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> anyhow::Result<()> {
    let mut request = http.put(url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    if !response.status().is_success() {
        bail!("PUT {url}: {}", response.status());
    }
    Ok(())
}

/// Runs the demo until `shutdown`; failures are reported, never fatal to the platform.
pub async fn run(ward: DemoWard, shutdown: Shutdown) {
    tokio::select! {
        result = demo(&ward) => {
            if let Err(e) = result {
                eprintln!("demo: {e:#}");
            }
        }
        _ = shutdown.wait() => {}
    }
}

async fn demo(ward: &DemoWard) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let token = ward.token()?;
    let tag: String = uuid_tag();
    let password = format!("demo-{tag}-{}", uuid_tag());
    let email = format!("clinician-{tag}@demo.episante.local");
    let clinician = post(
        &http,
        &format!("{}/v1/auth/users", ward.auth),
        &token,
        json!({"email": email, "display_name": "Dr Demo", "role": "clinician", "password": password}),
    )
    .await?;
    let clinician_id = clinician["id"]
        .as_str()
        .context("clinician id")?
        .to_string();
    let on_call_email = format!("on-call-{tag}@demo.episante.local");
    let on_call = post(
        &http,
        &format!("{}/v1/auth/users", ward.auth),
        &token,
        json!({"email": on_call_email, "display_name": "On-call admin", "role": "admin", "password": password}),
    )
    .await?;
    let on_call_id = on_call["id"].as_str().context("on-call admin id")?;
    put_json(
        &http,
        &format!("{}/v1/notifications/preferences/{on_call_id}", ward.notify),
        &token,
        Some(json!({"on_call": true})),
    )
    .await?;
    let team = post(
        &http,
        &format!("{}/v1/care-teams", ward.records),
        &token,
        json!({"name": format!("Demo ward {tag}")}),
    )
    .await?;
    let team_id = team["id"].as_str().context("team id")?.to_string();
    put(
        &http,
        &format!(
            "{}/v1/care-teams/{team_id}/members/{clinician_id}",
            ward.records
        ),
        &token,
    )
    .await?;
    let prefix = format!("demo{tag}");
    for (i, (given, family)) in PATIENTS.iter().enumerate() {
        let patient = post(
            &http,
            &format!("{}/v1/patients", ward.records),
            &token,
            json!({
                "given_names": [given], "family_name": family, "birth_date": "1960-01-01",
                "sex": "unknown", "national_id": format!("DEMO{tag}{i}").to_uppercase(),
            }),
        )
        .await?;
        let patient_id = patient["id"].as_str().context("patient id")?.to_string();
        put(
            &http,
            &format!(
                "{}/v1/care-teams/{team_id}/patients/{patient_id}",
                ward.records
            ),
            &token,
        )
        .await?;
        let device = format!("{prefix}{i}");
        post(
            &http,
            &format!("{}/v1/devices", ward.registry),
            &token,
            json!({"device_id": device, "label": format!("{given} {family}'s hub")}),
        )
        .await?;
        post(
            &http,
            &format!("{}/v1/patients/{patient_id}/devices", ward.records),
            &token,
            json!({"device_id": device}),
        )
        .await?;
    }
    println!(
        "  demo: clinician {email} / {password} looks after {} patients; their hubs stream vitals \
         now and the first alerts appear within a minute (episante-tui, or `episante alerts watch`)",
        PATIENTS.len()
    );
    println!(
        "  demo: critical and high alerts page the clinician (mail and the portal's bell); a \
         critical one left unacknowledged escalates to the care team, then pages the on-call \
         admin {on_call_email} / {password}"
    );
    // Round 1: ten times real time, anomalies 20–40 s in; then real time, forever. Each round
    // starts where the simulator's default puts it: back-dated so that it ends at the clock.
    for round in 1u64.. {
        let (speed, duration) = if round == 1 { (10.0, 100) } else { (1.0, 600) };
        let args = RunArgs {
            host: "localhost".into(),
            port: ward.mqtt_port,
            registry: Some(ward.registry.clone()),
            token: Some(ward.token()?),
            ca_file: None,
            devices: PATIENTS.len(),
            rate: 1.0,
            batch: 1,
            duration,
            speed,
            scenario: ScenarioName::Mixed,
            seed: round,
            ground_truth: None,
            start_ms: None,
            prefix: prefix.clone(),
            via_edge: None,
            connect_rate: 50,
            output: Output::Table,
            quiet: true,
            drain_secs: 3,
        };
        episante_sim::fleet::run(args).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn uuid_tag() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    Alphanumeric
        .sample_string(&mut rand::thread_rng(), 6)
        .to_lowercase()
}
