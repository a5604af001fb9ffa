//! `episante-sim run`: a fleet of simulated patients' devices publishing vitals.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use episante_protocol::{Reading, ReadingBatch, READING_BATCH_VERSION};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::json;

use crate::device_link::{percentile_ms, BrokerTarget};
use crate::edge_driver::DrivenAgent;
use crate::scenario::{self, AnomalyKind, AnomalyWindow, ScenarioName};
use crate::vitals::VitalsModel;

#[derive(Clone, Debug, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[arg(long, default_value = "localhost")]
    pub host: String,
    #[arg(long, default_value_t = 8883)]
    pub port: u16,
    /// EpiSante device registry: devices are registered there and use mutual TLS; without it
    /// they connect in plain TCP (e.g. to Mosquitto) under `sim/{id}/`.
    #[arg(long)]
    pub registry: Option<String>,
    #[arg(long, env = "EPISANTE_TOKEN")]
    pub token: Option<String>,
    /// A CA certificate (PEM) to trust for the registry's HTTPS, e.g. a hospital's own or the
    /// self-signed gateway certificate of a test deployment.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 100)]
    pub devices: usize,
    /// Samples (one reading of each of the six vitals) per device per second.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Samples per MQTT message.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Wall-clock seconds to run.
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Simulated seconds per wall-clock second (compresses scenarios and the circadian rhythm).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    #[arg(long, value_enum, default_value = "normal")]
    pub scenario: ScenarioName,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the scenario's anomaly windows (JSON lines).
    #[arg(long)]
    pub ground_truth: Option<std::path::PathBuf>,
    /// Simulated start time, ms since the epoch; fix it for reproducible data. Default: back-dated
    /// so that a run faster than real time ends at about now ([`backdated_start_ms`]). Readings
    /// are never timed after the wall clock: a simulation that catches up with it waits.
    #[arg(long)]
    pub start_ms: Option<i64>,
    /// Device id prefix (ids are `{prefix}{index}`, letters and digits only).
    #[arg(long, default_value = "sim")]
    pub prefix: String,
    /// Drive real edge agents (this `episante-edge` binary, one process per device, fed through
    /// its sensor socket) instead of publishing directly.
    #[arg(long, value_name = "EPISANTE_EDGE")]
    pub via_edge: Option<std::path::PathBuf>,
    /// New connections per second while ramping up.
    #[arg(long, default_value_t = 500)]
    pub connect_rate: u32,
    /// Report format (`--report json` for scripts).
    #[arg(long = "report", id = "report", value_enum, default_value = "table")]
    pub output: Output,
    /// No progress line and no report (for embedding, e.g. `episante up --demo`).
    #[arg(long)]
    pub quiet: bool,
    /// After `--duration`, how long devices keep (re)connecting to get their last readings
    /// acknowledged (end to end against EpiSante, PUBACK elsewhere), seconds.
    #[arg(long, default_value_t = 3)]
    pub drain_secs: u64,
}

#[derive(Default)]
struct Totals {
    connected: AtomicU64,
    messages: AtomicU64,
    readings: AtomicU64,
    acked: AtomicU64,
    /// Readings acknowledged: end to end, or to driven edge agents (`--via-edge`).
    readings_acked: AtomicU64,
    /// Messages published again in a new session because the platform had not acknowledged
    /// them end to end when the last one ended (same epoch and seqs: the platform drops any copy
    /// it already has).
    resent: AtomicU64,
    errors: AtomicU64,
    /// The first few distinct error messages, for the report.
    error_samples: std::sync::Mutex<Vec<String>>,
}

impl Totals {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.error_samples.lock().expect("samples");
        if samples.len() < 5 && !samples.contains(&what) {
            samples.push(what);
        }
    }
}

struct DeviceReport {
    latencies_us: Vec<u32>,
}

#[allow(clippy::too_many_arguments)]
async fn run_device(
    args: Arc<RunArgs>,
    target: BrokerTarget,
    creds: Option<serde_json::Value>,
    index: usize,
    windows: Arc<Vec<AnomalyWindow>>,
    start_ms: i64,
    totals: Arc<Totals>,
    stop_at: Instant,
    edge_dir: std::path::PathBuf,
) -> anyhow::Result<DeviceReport> {
    let id = format!("{}{index}", args.prefix);
    let mut model = VitalsModel::new(args.seed, index as u64);
    if let Some(binary) = &args.via_edge {
        let dir = edge_dir.join(&id);
        let agent = DrivenAgent::start(binary, &target, creds, &id, &dir).await?;
        return drive_agent(
            &args, agent, &mut model, &id, &windows, start_ms, &totals, stop_at,
        )
        .await;
    }
    let (options, prefix) = target.options(&id, creds.as_ref());
    let offline: Vec<(i64, i64)> = windows
        .iter()
        .filter(|w| w.device == id && w.kind == AnomalyKind::Offline)
        .map(|w| (w.start_ms, w.end_ms))
        .collect();
    let dt_wall = Duration::from_secs_f64(args.batch as f64 / args.rate);
    let dt_sim_ms = (1000.0 * args.speed / args.rate) as i64;
    let mut report = DeviceReport {
        latencies_us: Vec::new(),
    };
    // Each run is a new stream of the device, as a hub with a fresh buffer would start one: a new,
    // larger epoch (the run's start in ms) with seqs from 1 (protocol `stream` rule).
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(1);
    let mut seq = 0u64;
    let mut sim_ms = start_ms;
    // Messages not yet acknowledged: (last seq, readings, first sent at, payload).
    let mut sent: VecDeque<Unacked> = VecDeque::new();
    let e2e = target.end_to_end();
    let drain_until = stop_at + Duration::from_secs(args.drain_secs);
    'sessions: loop {
        let now = Instant::now();
        if now >= drain_until || (now >= stop_at && sent.is_empty()) {
            break;
        }
        // Room for every message to resend plus the usual queue: the client's request channel is
        // only drained while the event loop is polled.
        let (client, mut eventloop) = AsyncClient::new(options.clone(), 64 + sent.len());
        // Thousands of TLS handshakes queue up on the broker while a fleet ramps up: allow them
        // time rather than retrying (which only adds load).
        let mut network = rumqttc::NetworkOptions::new();
        network.set_connection_timeout(30);
        eventloop.set_network_options(network);
        // Connect.
        loop {
            match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => totals.error(format!("connect: {e}")),
                Err(_) => totals.error("connect: no CONNACK within 30 s".into()),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue 'sessions;
        }
        totals.connected.fetch_add(1, Ordering::Relaxed);
        if e2e {
            client
                .subscribe(format!("{prefix}/ack"), QoS::AtLeastOnce)
                .await?;
            // What the last session left unacknowledged goes again, in order, before anything new.
            for unacked in &sent {
                client
                    .publish(
                        format!("{prefix}/readings"),
                        QoS::AtLeastOnce,
                        false,
                        unacked.payload.clone(),
                    )
                    .await?;
                totals.resent.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut tick = tokio::time::interval(dt_wall);
        let disconnected = loop {
            tokio::select! {
                _ = tick.tick() => {
                    let now = Instant::now();
                    if now >= stop_at {
                        if sent.is_empty() || now >= drain_until {
                            break false;
                        }
                        continue;
                    }
                    if in_the_future(sim_ms + dt_sim_ms * args.batch as i64) {
                        continue;
                    }
                    let mut readings = Vec::new();
                    for _ in 0..args.batch {
                        sim_ms += dt_sim_ms;
                        for (kind, value) in model.sample(sim_ms, dt_sim_ms as f64 / 1000.0, &id, &windows) {
                            seq += 1;
                            readings.push(Reading { seq, ts_ms: sim_ms, kind, value, unit: kind.unit().to_string() });
                        }
                    }
                    if offline.iter().any(|(s, e)| (*s..*e).contains(&sim_ms)) {
                        // The device goes offline: drop the connection until the window ends.
                        let _ = client.disconnect().await;
                        while offline.iter().any(|(s, e)| (*s..*e).contains(&sim_ms)) && Instant::now() < stop_at {
                            tokio::time::sleep(dt_wall).await;
                            sim_ms += dt_sim_ms * args.batch as i64;
                        }
                        break true;
                    }
                    if readings.is_empty() {
                        continue;
                    }
                    let n = readings.len() as u64;
                    let batch = ReadingBatch { v: READING_BATCH_VERSION, device_id: id.clone(), epoch, received_at_ms: None, readings };
                    let payload = serde_json::to_vec(&batch)?;
                    sent.push_back(Unacked { seq, readings: n, at: Instant::now(), payload: if e2e { payload.clone() } else { Vec::new() } });
                    totals.messages.fetch_add(1, Ordering::Relaxed);
                    totals.readings.fetch_add(n, Ordering::Relaxed);
                    if client.publish(format!("{prefix}/readings"), QoS::AtLeastOnce, false, payload).await.is_err() {
                        break true;
                    }
                }
                event = eventloop.poll() => match event {
                    Ok(Event::Incoming(Packet::Publish(p))) if e2e => {
                        if let Ok(ack) = serde_json::from_slice::<episante_protocol::ReadingsAck>(&p.payload) {
                            while sent.front().is_some_and(|u| u.seq <= ack.acked_through) {
                                acknowledged(sent.pop_front().expect("front"), &mut report, &totals);
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(_))) if !e2e => {
                        if let Some(unacked) = sent.pop_front() {
                            acknowledged(unacked, &mut report, &totals);
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        totals.error(format!("session: {e}"));
                        break true;
                    }
                },
            }
        };
        totals.connected.fetch_sub(1, Ordering::Relaxed);
        if !disconnected {
            let _ = client.disconnect().await;
            break;
        }
        if !e2e {
            // PUBACK semantics: what was in flight was taken by the broker or is gone.
            sent.clear();
        }
    }
    Ok(report)
}

/// A published message waiting for its acknowledgement.
struct Unacked {
    /// Its last reading's seq (end-to-end acks name the last seq persisted).
    seq: u64,
    readings: u64,
    at: Instant,
    /// The message itself, to publish again in a new session (end-to-end mode only).
    payload: Vec<u8>,
}

fn acknowledged(unacked: Unacked, report: &mut DeviceReport, totals: &Totals) {
    report
        .latencies_us
        .push(unacked.at.elapsed().as_micros() as u32);
    totals.acked.fetch_add(1, Ordering::Relaxed);
    totals
        .readings_acked
        .fetch_add(unacked.readings, Ordering::Relaxed);
}

/// Registers every device (32 at a time) when a registry is configured.
async fn provision(
    target: &BrokerTarget,
    http: &reqwest::Client,
    ids: &[String],
) -> anyhow::Result<Vec<Option<serde_json::Value>>> {
    let mut creds = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(32) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|id| {
                let (target, http, id) = (target.clone(), http.clone(), id.clone());
                tokio::spawn(async move { target.register(&http, &id).await })
            })
            .collect();
        for (id, handle) in chunk.iter().zip(handles) {
            creds.push(
                handle
                    .await?
                    .with_context(|| format!("provisioning {id}"))?,
            );
        }
        if target.registry.is_some() && creds.len() % 1024 == 0 {
            eprint!("\rprovisioned {}/{}   ", creds.len(), ids.len());
        }
    }
    Ok(creds)
}

/// `--via-edge`: feed one agent its device's samples, then wait for its acks.
#[allow(clippy::too_many_arguments)]
async fn drive_agent(
    args: &RunArgs,
    mut agent: DrivenAgent,
    model: &mut VitalsModel,
    id: &str,
    windows: &[AnomalyWindow],
    start_ms: i64,
    totals: &Totals,
    stop_at: Instant,
) -> anyhow::Result<DeviceReport> {
    let dt_wall = Duration::from_secs_f64(args.batch as f64 / args.rate);
    let dt_sim_ms = (1000.0 * args.speed / args.rate) as i64;
    let mut sim_ms = start_ms;
    let mut readings = 0u64;
    totals.connected.fetch_add(1, Ordering::Relaxed);
    let mut tick = tokio::time::interval(dt_wall);
    while Instant::now() < stop_at {
        tick.tick().await;
        if in_the_future(sim_ms + dt_sim_ms * args.batch as i64) {
            continue;
        }
        for _ in 0..args.batch {
            sim_ms += dt_sim_ms;
            // Offline windows are silent here: the agent itself stays connected.
            let sample = model.sample(sim_ms, dt_sim_ms as f64 / 1000.0, id, windows);
            if !sample.is_empty() {
                agent.send(sim_ms, &sample).await?;
                readings += sample.len() as u64;
            }
        }
        totals.messages.fetch_add(1, Ordering::Relaxed);
    }
    totals.readings.fetch_add(readings, Ordering::Relaxed);
    let grace = Instant::now() + Duration::from_secs(10);
    while agent.acked_through() < readings && Instant::now() < grace {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    totals
        .readings_acked
        .fetch_add(agent.acked_through(), Ordering::Relaxed);
    totals.connected.fetch_sub(1, Ordering::Relaxed);
    Ok(DeviceReport {
        latencies_us: Vec::new(),
    })
}

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let start_ms = args
        .start_ms
        .unwrap_or_else(|| backdated_start_ms(now_ms(), args.duration, args.speed));
    let ids: Vec<String> = (0..args.devices)
        .map(|i| format!("{}{i}", args.prefix))
        .collect();
    let sim_duration_ms = (args.duration as f64 * 1000.0 * args.speed) as i64;
    let windows = scenario::plan(args.scenario, &ids, args.seed, start_ms, sim_duration_ms);
    if let Some(path) = &args.ground_truth {
        scenario::write_ground_truth(path, &windows)?;
    }
    let target = BrokerTarget {
        host: args.host.clone(),
        port: args.port,
        registry: args.registry.clone(),
        token: args.token.clone(),
    };
    let args = Arc::new(args);
    let windows = Arc::new(windows);
    let totals = Arc::new(Totals::default());
    let mut http = reqwest::Client::builder();
    if let Some(path) = &args.ca_file {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        http = http.add_root_certificate(
            reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM certificate", path.display()))?,
        );
    }
    let http = http.build()?;
    let started = Instant::now();
    let ramp = Duration::from_secs_f64(args.devices as f64 / args.connect_rate.max(1) as f64);
    let stop_at = started + ramp + Duration::from_secs(args.duration);
    let mut tasks = Vec::with_capacity(args.devices);
    let edge_dir = tempfile::tempdir()?;
    // Provision first (registration issues a certificate: costly for the broker), then connect,
    // so the ramp-up measures connections, not registrations.
    let creds = provision(&target, &http, &ids).await?;
    let progress = (!args.quiet).then(|| {
        let totals = totals.clone();
        let devices = args.devices;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                eprint!(
                    "\r[{:>5.0}s] connected {:>6}/{devices}  sent {:>9} msgs {:>10} readings  acked {:>9}  errors {}   ",
                    started.elapsed().as_secs_f64(),
                    totals.connected.load(Ordering::Relaxed),
                    totals.messages.load(Ordering::Relaxed),
                    totals.readings.load(Ordering::Relaxed),
                    totals.acked.load(Ordering::Relaxed),
                    totals.errors.load(Ordering::Relaxed),
                );
            }
        })
    });
    for (index, creds) in creds.into_iter().enumerate() {
        tasks.push(tokio::spawn(run_device(
            args.clone(),
            target.clone(),
            creds,
            index,
            windows.clone(),
            start_ms,
            totals.clone(),
            stop_at,
            edge_dir.path().to_path_buf(),
        )));
        tokio::time::sleep(Duration::from_secs_f64(
            1.0 / args.connect_rate.max(1) as f64,
        ))
        .await;
    }
    let mut latencies = Vec::new();
    let mut failed = 0;
    for task in tasks {
        match task.await? {
            Ok(report) => latencies.extend(report.latencies_us),
            Err(e) => {
                failed += 1;
                if failed <= 3 && !args.quiet {
                    eprintln!("\ndevice failed: {e:#}");
                }
            }
        }
    }
    if let Some(progress) = progress {
        progress.abort();
        eprintln!();
    }
    latencies.sort_unstable();
    let secs = started.elapsed().as_secs_f64();
    let messages = totals.messages.load(Ordering::Relaxed);
    let report = json!({
        "devices": args.devices,
        "devices_failed": failed,
        "scenario": format!("{:?}", args.scenario).to_lowercase(),
        "seed": args.seed,
        "anomaly_windows": windows.len(),
        "seconds": secs,
        "messages_sent": messages,
        "readings_sent": totals.readings.load(Ordering::Relaxed),
        "messages_acked": totals.acked.load(Ordering::Relaxed),
        "via_edge": args.via_edge.is_some(),
        "readings_acked": totals.readings_acked.load(Ordering::Relaxed),
        "messages_resent": totals.resent.load(Ordering::Relaxed),
        "ack_kind": if target.end_to_end() { "end_to_end" } else { "puback" },
        "messages_per_sec": messages as f64 / secs,
        "latency_p50_ms": percentile_ms(&latencies, 0.5),
        "latency_p99_ms": percentile_ms(&latencies, 0.99),
        "latency_max_ms": latencies.last().map(|us| *us as f64 / 1000.0),
        "errors": totals.errors.load(Ordering::Relaxed),
        "error_samples": totals.error_samples.lock().expect("samples").clone(),
    });
    match args.output {
        _ if args.quiet => {}
        Output::Json => println!("{report}"),
        Output::Table => {
            for (key, value) in report.as_object().expect("object") {
                println!("{key:<18} {value}");
            }
        }
    }
    if failed == args.devices && args.devices > 0 {
        anyhow::bail!("no device could run");
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The default simulated start of a run of `duration_s` wall-clock seconds at `speed`, from
/// `now_ms`: back-dated by what the run gains on the clock, so that it ends at about now instead
/// of in the future. A device cannot measure the future: the broker refuses readings timed ahead
/// of its clock, and an alert from one would read as triggered after it was created.
pub fn backdated_start_ms(now_ms: i64, duration_s: u64, speed: f64) -> i64 {
    let gained_s = duration_s as f64 * (speed - 1.0).max(0.0);
    now_ms - (gained_s * 1000.0) as i64
}

/// Whether a reading timed `ts_ms` would be ahead of the wall clock (the simulation then waits).
fn in_the_future(ts_ms: i64) -> bool {
    ts_ms > now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerated_runs_are_back_dated_to_end_now() {
        let now = 1_764_000_000_000;
        assert_eq!(
            backdated_start_ms(now, 100, 1.0),
            now,
            "real time starts now"
        );
        assert_eq!(backdated_start_ms(now, 100, 0.5), now);
        // 100 s at 10x simulate 1000 s: start 900 s ago, end at about now.
        let start = backdated_start_ms(now, 100, 10.0);
        assert_eq!(start, now - 900_000);
        assert_eq!(
            start + 100 * 10 * 1000,
            now + 100_000,
            "the clock has moved 100 s too"
        );
        assert!(!in_the_future(now_ms() - 1));
        assert!(in_the_future(now_ms() + 60_000));
    }
}
