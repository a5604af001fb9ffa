//! The raw publish benchmark.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use episante_protocol::{Reading, ReadingBatch, VitalKind, READING_BATCH_VERSION};
use rumqttc::{AsyncClient, Event, Outgoing, Packet, QoS};
use serde_json::{json, Value};

use crate::device_link::{percentile_ms, BrokerTarget};
use tokio::sync::Mutex;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    #[arg(long, default_value = "localhost")]
    pub host: String,
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    #[arg(long, default_value_t = 100)]
    pub devices: usize,
    /// Messages per device.
    #[arg(long, default_value_t = 1000)]
    pub messages: u64,
    /// Readings per message (1 gives ~120-byte messages).
    #[arg(long, default_value_t = 1)]
    pub readings: u64,
    /// Unacknowledged QoS 1 publishes per device.
    #[arg(long, default_value_t = 100)]
    pub inflight: u16,
    /// EpiSante device registry: register the devices there and connect with mutual TLS,
    /// waiting for end-to-end acks.
    #[arg(long)]
    pub registry: Option<String>,
    /// Admin or service token for the registry.
    #[arg(long, env = "EPISANTE_TOKEN")]
    pub token: Option<String>,
    /// With --registry: measure PUBACKs only, do not wait for end-to-end acks (to load a plain
    /// broker, e.g. Mosquitto over mutual TLS, with the same credentials).
    #[arg(long)]
    pub puback_only: bool,
    /// Label in the report.
    #[arg(long, default_value = "broker")]
    pub label: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
}

struct DeviceResult {
    /// When the last PUBACK arrived.
    last_puback: Instant,
    puback_us: Vec<u32>,
    e2e_us: Vec<u32>,
    acked_through: u64,
}

fn payload(device: &str, first_seq: u64, n: u64) -> Vec<u8> {
    let now = 1_764_000_000_000i64;
    serde_json::to_vec(&ReadingBatch {
        v: READING_BATCH_VERSION,
        device_id: device.to_string(),
        epoch: 0,
        received_at_ms: None,
        readings: (first_seq..first_seq + n)
            .map(|seq| Reading {
                seq,
                ts_ms: now + seq as i64,
                kind: VitalKind::HeartRate,
                value: 60.0 + (seq % 40) as f64,
                unit: VitalKind::HeartRate.unit().to_string(),
            })
            .collect(),
    })
    .expect("batches serialise")
}

async fn run_device(args: Arc<BenchArgs>, index: usize, run: u64) -> anyhow::Result<DeviceResult> {
    let id = format!("bench{run}d{index}");
    let target = BrokerTarget {
        host: args.host.clone(),
        port: args.port,
        registry: args.registry.clone(),
        token: args.token.clone(),
    };
    let (mut options, prefix) = target.device(&reqwest::Client::new(), &id).await?;
    options.set_inflight(args.inflight);
    let e2e = target.end_to_end() && !args.puback_only;
    let topic = format!("{prefix}/readings");
    let ack_topic = target.end_to_end().then(|| format!("{prefix}/ack"));
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    // Connect first, and subscribe to acks before publishing.
    loop {
        match eventloop.poll().await? {
            Event::Incoming(Packet::ConnAck(_)) => break,
            _ => continue,
        }
    }
    if let Some(ack_topic) = &ack_topic {
        client.subscribe(ack_topic, QoS::AtLeastOnce).await?;
    }
    let total = args.messages;
    let per = args.readings;
    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> =
        Arc::new(Mutex::new(vec![None; total as usize]));
    let publisher = {
        let client = client.clone();
        let topic = topic.clone();
        let id = id.clone();
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            for m in 0..total {
                let body = payload(&id, m * per + 1, per);
                sent_at.lock().await[m as usize] = Some(Instant::now());
                if client
                    .publish(&topic, QoS::AtLeastOnce, false, body)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    let mut pkid_sent: HashMap<u16, Instant> = HashMap::new();
    let mut result = DeviceResult {
        last_puback: Instant::now(),
        puback_us: Vec::with_capacity(total as usize),
        e2e_us: Vec::new(),
        acked_through: 0,
    };
    let last_seq = total * per;
    let mut e2e_done_msgs = 0u64;
    while result.puback_us.len() < total as usize || (e2e && result.acked_through < last_seq) {
        match eventloop.poll().await? {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                pkid_sent.insert(pkid, Instant::now());
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(at) = pkid_sent.remove(&ack.pkid) {
                    result.puback_us.push(at.elapsed().as_micros() as u32);
                    result.last_puback = Instant::now();
                }
            }
            Event::Incoming(Packet::Publish(p)) => {
                if let Ok(ack) = serde_json::from_slice::<Value>(&p.payload) {
                    if let Some(n) = ack["acked_through"].as_u64() {
                        result.acked_through = result.acked_through.max(n);
                        let through_msgs = n / per;
                        let sent = sent_at.lock().await;
                        let now = Instant::now();
                        while e2e_done_msgs < through_msgs {
                            if let Some(at) = sent[e2e_done_msgs as usize] {
                                result
                                    .e2e_us
                                    .push(now.duration_since(at).as_micros() as u32);
                            }
                            e2e_done_msgs += 1;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    publisher.await?;
    client.disconnect().await.ok();
    Ok(result)
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        % 1_000_000;
    let args = Arc::new(args);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.devices)
        .map(|i| tokio::spawn(run_device(args.clone(), i, run)))
        .collect();
    let mut puback = Vec::new();
    let mut last_puback = started;
    let mut e2e = Vec::new();
    let deadline = Duration::from_secs(args.timeout_secs);
    for task in tasks {
        let result = tokio::time::timeout(deadline.saturating_sub(started.elapsed()), task)
            .await
            .context("benchmark timed out")???;
        puback.extend(result.puback_us);
        last_puback = last_puback.max(result.last_puback);
        e2e.extend(result.e2e_us);
    }
    let secs = started.elapsed().as_secs_f64();
    puback.sort_unstable();
    e2e.sort_unstable();
    let messages = args.devices as u64 * args.messages;
    let report = json!({
        "label": args.label,
        "devices": args.devices,
        "messages": messages,
        "readings": messages * args.readings,
        "message_bytes": payload("bench0d0", 1, args.readings).len(),
        "seconds": secs,
        "messages_per_sec": messages as f64 / secs,
        "puback_messages_per_sec": messages as f64 / last_puback.duration_since(started).as_secs_f64(),
        "readings_per_sec": (messages * args.readings) as f64 / secs,
        "puback_p50_ms": percentile_ms(&puback, 0.50),
        "puback_p99_ms": percentile_ms(&puback, 0.99),
        "e2e_p50_ms": percentile_ms(&e2e, 0.50),
        "e2e_p99_ms": percentile_ms(&e2e, 0.99),
    });
    println!("{report}");
    Ok(())
}
