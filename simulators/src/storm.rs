//! The connect-storm benchmark: every device (re)connecting at once, as after a broker restart.
//!
//! Devices are registered first (not timed). Then all of them connect at the same instant, each
//! publishes one batch and waits for its acknowledgement: end to end through Kafka on EpiSante,
//! the PUBACK on a plain broker. Reports the time until every device was connected and until every
//! one was acknowledged, and handshakes per second. `--peer-port` runs the same storm, with the
//! same certificates, against a second broker (e.g. Mosquitto with mutual TLS) in the same run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use episante_protocol::{Reading, ReadingBatch, VitalKind, READING_BATCH_VERSION};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::device_link::{percentile_ms, BrokerTarget};

#[derive(Args, Debug, Clone)]
pub struct StormArgs {
    #[arg(long, default_value = "localhost")]
    pub host: String,
    /// The EpiSante broker's MQTT port.
    #[arg(long, default_value_t = 8883)]
    pub port: u16,
    #[arg(long, default_value_t = 1000)]
    pub devices: usize,
    /// EpiSante device registry (devices are registered there first, not timed).
    #[arg(long)]
    pub registry: String,
    #[arg(long, env = "EPISANTE_TOKEN")]
    pub token: String,
    /// A second broker (same host, mutual TLS with the same CA) to storm after EpiSante, PUBACK
    /// only: the peer figure.
    #[arg(long)]
    pub peer_port: Option<u16>,
    #[arg(long, default_value = "storm")]
    pub prefix: String,
    /// Give up after this many seconds (per storm).
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
}

#[derive(Default)]
struct Counters {
    retries: AtomicU64,
}

fn batch(id: &str, epoch: u64) -> Vec<u8> {
    let now = chrono_ms();
    let readings = (1..=6u64)
        .zip(VitalKind::ALL)
        .map(|(seq, kind)| {
            let (lo, hi) = kind.plausible_range();
            Reading {
                seq,
                ts_ms: now - 1_000,
                kind,
                value: (lo + hi) / 2.0,
                unit: kind.unit().to_string(),
            }
        })
        .collect();
    serde_json::to_vec(&ReadingBatch {
        v: READING_BATCH_VERSION,
        device_id: id.to_string(),
        epoch,
        received_at_ms: None,
        readings,
    })
    .expect("batches serialise")
}

fn chrono_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// One device: connect (retrying), publish one batch, wait for its ack. Returns (connected,
/// acked) since `start`.
async fn storm_device(
    target: BrokerTarget,
    id: String,
    creds: Arc<Value>,
    e2e: bool,
    start: Instant,
    deadline: Instant,
    counters: Arc<Counters>,
) -> anyhow::Result<(Duration, Duration)> {
    let (options, prefix) = target.options(&id, Some(&creds));
    loop {
        anyhow::ensure!(Instant::now() < deadline, "{id}: not acknowledged in time");
        let (client, mut eventloop) = AsyncClient::new(options.clone(), 10);
        let mut network = rumqttc::NetworkOptions::new();
        network.set_connection_timeout(60);
        eventloop.set_network_options(network);
        let connected = loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => break Some(start.elapsed()),
                Ok(_) => continue,
                Err(_) => break None,
            }
        };
        let Some(connected) = connected else {
            counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200 + rand::random::<u64>() % 800)).await;
            continue;
        };
        if e2e {
            client
                .subscribe(format!("{prefix}/ack"), QoS::AtLeastOnce)
                .await?;
        }
        client
            .publish(
                format!("{prefix}/readings"),
                QoS::AtLeastOnce,
                false,
                batch(&id, chrono_ms() as u64),
            )
            .await?;
        loop {
            // A device whose batch is never acknowledged is a failure to report, not a wait.
            let Ok(polled) = tokio::time::timeout_at(deadline.into(), eventloop.poll()).await
            else {
                anyhow::bail!("{id}: connected but not acknowledged in time");
            };
            match polled {
                Ok(Event::Incoming(Packet::PubAck(_))) if !e2e => {
                    let _ = client.disconnect().await;
                    return Ok((connected, start.elapsed()));
                }
                Ok(Event::Incoming(Packet::Publish(p))) if e2e => {
                    let ack: Value = serde_json::from_slice(&p.payload).unwrap_or_default();
                    if ack["acked_through"].as_u64() >= Some(6) {
                        let _ = client.disconnect().await;
                        return Ok((connected, start.elapsed()));
                    }
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        counters.retries.fetch_add(1, Ordering::Relaxed);
    }
}

async fn storm(
    label: &str,
    target: BrokerTarget,
    devices: &[(String, Arc<Value>)],
    e2e: bool,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let counters = Arc::new(Counters::default());
    let start = Instant::now();
    let deadline = start + timeout;
    let mut tasks = JoinSet::new();
    for (id, creds) in devices {
        tasks.spawn(storm_device(
            target.clone(),
            id.clone(),
            creds.clone(),
            e2e,
            start,
            deadline,
            counters.clone(),
        ));
    }
    let mut connected_us = Vec::with_capacity(devices.len());
    let mut acked_us = Vec::with_capacity(devices.len());
    let mut unacked = 0u64;
    while let Some(done) = tasks.join_next().await {
        match done? {
            Ok((connected, acked)) => {
                connected_us.push(connected.as_micros() as u32);
                acked_us.push(acked.as_micros() as u32);
            }
            Err(e) => {
                unacked += 1;
                if unacked <= 3 {
                    eprintln!("{label}: {e}");
                }
            }
        }
    }
    connected_us.sort_unstable();
    acked_us.sort_unstable();
    let all_connected_s = *connected_us.last().unwrap_or(&0) as f64 / 1e6;
    let all_acked_s = *acked_us.last().unwrap_or(&0) as f64 / 1e6;
    Ok(json!({
        "label": label,
        "devices": devices.len(),
        "end_to_end": e2e,
        "all_connected_s": all_connected_s,
        "all_acked_s": all_acked_s,
        "handshakes_per_sec": devices.len() as f64 / all_connected_s.max(1e-9),
        "connect_p50_ms": percentile_ms(&connected_us, 0.5),
        "connect_p99_ms": percentile_ms(&connected_us, 0.99),
        "retries": counters.retries.load(Ordering::Relaxed),
        "unacked": unacked,
    }))
}

pub async fn run(args: StormArgs) -> anyhow::Result<()> {
    let target = BrokerTarget {
        host: args.host.clone(),
        port: args.port,
        registry: Some(args.registry.clone()),
        token: Some(args.token.clone()),
    };
    // Register (not timed), 32 at a time.
    let http = reqwest::Client::new();
    let mut devices = Vec::with_capacity(args.devices);
    let mut registering = JoinSet::new();
    let mut next = 0;
    while devices.len() < args.devices {
        while registering.len() < 32 && next < args.devices {
            let (target, http) = (target.clone(), http.clone());
            let id = format!("{}{next}", args.prefix);
            registering.spawn(async move {
                let creds = target
                    .register(&http, &id)
                    .await?
                    .context("no credentials")?;
                anyhow::Ok((id, Arc::new(creds)))
            });
            next += 1;
        }
        devices.push(registering.join_next().await.context("registration")???);
    }
    let timeout = Duration::from_secs(args.timeout_secs);
    let episante = storm("episante", target.clone(), &devices, true, timeout).await?;
    println!("{episante}");
    if let Some(port) = args.peer_port {
        let peer = BrokerTarget {
            port,
            ..target.clone()
        };
        let peer = storm("peer", peer, &devices, false, timeout).await?;
        println!("{peer}");
    }
    Ok(())
}
