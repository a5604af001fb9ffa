//! The edge agent as a real process against real brokers: the EpiSante broker (a process, so it
//! can be killed) bridging to tansu, and Mosquitto in PUBACK-only mode.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use episante_edge::status::AgentStatus;
use episante_runtime::Shutdown;
use episante_testkit::net::{free_port, wait_for_http};
use episante_testkit::process::RestartableProcess;
use episante_testkit::{TestDb, TestKafka};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn wait_status(
    path: &Path,
    what: &str,
    within: Duration,
    done: impl Fn(&AgentStatus) -> bool,
) -> AgentStatus {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(status) = AgentStatus::read(path) {
            if done(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: last status {status:?}"
            );
        } else {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: no status file"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn line(i: u64) -> String {
    format!(
        "{{\"kind\":\"heart_rate\",\"value\":{},\"ts_ms\":{}}}\n",
        40 + i % 100,
        1_764_000_000_000 + i as i64
    )
}

async fn send_lines(socket: &Path, range: std::ops::RangeInclusive<u64>) {
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .expect("sensor socket");
    for i in range {
        stream.write_all(line(i).as_bytes()).await.unwrap();
    }
    stream.shutdown().await.unwrap();
}

async fn wait_for_socket(path: &Path) {
    for _ in 0..200 {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no sensor socket at {}", path.display());
}

/// Kafka records of the readings topic until `device` has seqs 1..=n; every batch carries `epoch`.
async fn kafka_readings(bootstrap: &str, device: &str, n: u64, epoch: u64) -> Vec<(u64, f64)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("edge-test-{device}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer
        .subscribe(&[episante_protocol::topics::KAFKA_READINGS])
        .unwrap();
    let mut seen: Vec<(u64, f64)> = vec![];
    let mut distinct = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while (distinct.len() as u64) < n {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} distinct seqs in Kafka", distinct.len()))
            .unwrap();
        let batch: Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        if batch["device_id"] != device {
            continue;
        }
        assert_eq!(
            batch["epoch"], epoch,
            "every batch carries the buffer's epoch"
        );
        for r in batch["readings"].as_array().unwrap() {
            let (seq, value) = (r["seq"].as_u64().unwrap(), r["value"].as_f64().unwrap());
            seen.push((seq, value));
            distinct.insert(seq, value);
        }
    }
    seen
}

#[tokio::test]
async fn agent_kill_9_and_broker_outage_lose_and_reorder_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kafka = TestKafka::start().await.unwrap();
    let shutdown = Shutdown::new();
    let broker_db = TestDb::new();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let auth = episante_test_auth::TestAuth::start().await;
    let (auth_base, token) = (auth.base.clone(), auth.admin_token.clone());

    let (http_port, mqtt_port) = (free_port(), free_port());
    let mut broker = RestartableProcess::new(
        env!("CARGO_BIN_EXE_episante-edge").replace("episante-edge", "episante-broker"),
        &[],
        &[
            ("DATABASE_URL", episante_testkit::postgres::admin_url()),
            ("EPISANTE_BROKER__DATABASE__NAME", broker_db.name.clone()),
            ("EPISANTE_BROKER__DATABASE__ROLE", broker_db.name.clone()),
            (
                "EPISANTE_BROKER__HTTP_BIND",
                format!("127.0.0.1:{http_port}"),
            ),
            (
                "EPISANTE_BROKER__MQTT_BIND",
                format!("127.0.0.1:{mqtt_port}"),
            ),
            (
                "EPISANTE_BROKER__DATA_DIR",
                dirs[1].path().display().to_string(),
            ),
            ("EPISANTE_KAFKA__BROKERS", kafka.bootstrap.clone()),
            (
                "EPISANTE_TOKENS__JWKS_URL",
                format!("{auth_base}/.well-known/jwks.json"),
            ),
        ],
    );
    broker.start();
    let registry = format!("http://127.0.0.1:{http_port}");
    wait_for_http(&format!("{registry}/ready"), Duration::from_secs(60))
        .await
        .unwrap();
    let creds: Value = reqwest::Client::new()
        .post(format!("{registry}/v1/devices"))
        .bearer_auth(&token)
        .json(&json!({"device_id": "hub1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hub = dirs[2].path();
    for (file, field) in [
        ("ca.pem", "ca_pem"),
        ("cert.pem", "certificate_pem"),
        ("key.pem", "private_key_pem"),
    ] {
        std::fs::write(hub.join(file), creds[field].as_str().unwrap()).unwrap();
    }
    let socket = hub.join("sensors.sock");
    let status = hub.join("buffer/status.json");
    let mut agent = RestartableProcess::new(
        env!("CARGO_BIN_EXE_episante-edge"),
        &["run", "--input", &format!("unix:{}", socket.display())],
        &[
            ("EPISANTE_EDGE__DEVICE_ID", "hub1".into()),
            (
                "EPISANTE_EDGE__SECRET",
                creds["secret"].as_str().unwrap().into(),
            ),
            ("EPISANTE_EDGE__BROKER_HOST", "localhost".into()),
            ("EPISANTE_EDGE__BROKER_PORT", mqtt_port.to_string()),
            (
                "EPISANTE_EDGE__CA_PATH",
                hub.join("ca.pem").display().to_string(),
            ),
            (
                "EPISANTE_EDGE__CERT_PATH",
                hub.join("cert.pem").display().to_string(),
            ),
            (
                "EPISANTE_EDGE__KEY_PATH",
                hub.join("key.pem").display().to_string(),
            ),
            (
                "EPISANTE_EDGE__BUFFER_DIR",
                hub.join("buffer").display().to_string(),
            ),
            ("EPISANTE_EDGE__BATCH_MAX_AGE_MS", "20".into()),
            ("EPISANTE_EDGE__FSYNC_INTERVAL_MS", "20".into()),
            ("EPISANTE_EDGE__RECONNECT_MIN_MS", "100".into()),
            ("EPISANTE_EDGE__RECONNECT_MAX_MS", "1000".into()),
        ],
    );
    agent.start();
    wait_for_socket(&socket).await;

    send_lines(&socket, 1..=500).await;
    let first = wait_status(
        &status,
        "first 500 acked end to end",
        Duration::from_secs(60),
        |s| s.acked_through == 500,
    )
    .await;
    assert!(first.epoch > 0, "a new buffer starts a new stream epoch");
    assert_eq!(first.agent_version, env!("CARGO_PKG_VERSION"));

    // The broker dies; readings keep coming and are buffered; then the agent dies too.
    broker.kill_9();
    send_lines(&socket, 501..=1000).await;
    let buffered = wait_status(
        &status,
        "second 500 buffered",
        Duration::from_secs(30),
        |s| s.next_seq == 1001,
    )
    .await;
    assert_eq!(buffered.acked_through, 500);
    assert_ne!(buffered.connection, "connected");
    agent.kill_9();

    // Both come back, agent first (it keeps retrying with backoff until the broker is there).
    agent.start();
    wait_for_socket(&socket).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.start();
    let done = wait_status(
        &status,
        "everything acked after the outage",
        Duration::from_secs(90),
        |s| s.acked_through == 1000,
    )
    .await;
    assert_eq!(done.buffered, 0);
    assert_eq!(
        done.epoch, first.epoch,
        "a restart keeps the buffer's epoch"
    );

    let seen = kafka_readings(&kafka.bootstrap, "hub1", 1000, first.epoch).await;
    let mut first_seen = vec![];
    let mut values = BTreeMap::new();
    for (seq, value) in &seen {
        if values.insert(*seq, *value).is_none() {
            first_seen.push(*seq);
        }
    }
    assert_eq!(
        values.keys().copied().collect::<Vec<_>>(),
        (1..=1000).collect::<Vec<_>>(),
        "nothing lost"
    );
    for (seq, value) in &values {
        assert_eq!(
            *value,
            (40 + seq % 100) as f64,
            "seq {seq} carries its own reading"
        );
    }
    assert!(
        first_seen.windows(2).all(|w| w[0] < w[1]),
        "in order per device"
    );
    eprintln!(
        "{} records for 1000 readings ({} duplicates from resends)",
        seen.len(),
        seen.len() - 1000
    );
    shutdown.trigger();
}

#[tokio::test]
async fn puback_mode_against_mosquitto_and_status_and_bad_input() {
    let prefix = format!("episante-test/{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sensors.sock");
    let status_file = dir.path().join("buffer/status.json");

    // A Mosquitto subscriber (the real third-party client) on the readings topic.
    let mut sub = tokio::process::Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            "1883",
            "-q",
            "1",
            "-t",
            &format!("{prefix}/readings"),
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub (apt-get install mosquitto-clients)");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut agent = RestartableProcess::new(
        env!("CARGO_BIN_EXE_episante-edge"),
        &["run", "--input", &format!("unix:{}", socket.display())],
        &[
            ("EPISANTE_EDGE__DEVICE_ID", "mosqhub".into()),
            ("EPISANTE_EDGE__BROKER_HOST", "127.0.0.1".into()),
            ("EPISANTE_EDGE__BROKER_PORT", "1883".into()),
            ("EPISANTE_EDGE__ACK_MODE", "puback".into()),
            ("EPISANTE_EDGE__TOPIC_PREFIX", prefix.clone()),
            (
                "EPISANTE_EDGE__BUFFER_DIR",
                dir.path().join("buffer").display().to_string(),
            ),
            ("EPISANTE_EDGE__BATCH_MAX_AGE_MS", "20".into()),
            ("EPISANTE_EDGE__FSYNC", "always".into()),
        ],
    );
    agent.start();
    wait_for_socket(&socket).await;

    // A bad line is answered with an error and never buffered.
    let mut stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    stream
        .write_all(b"{\"kind\":\"spo2\",\"value\":130}\n")
        .await
        .unwrap();
    let (reader, mut writer) = stream.into_split();
    let mut replies = BufReader::new(reader).lines();
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        reply.contains("error") && reply.contains("outside"),
        "{reply}"
    );
    for i in 1..=300u64 {
        writer.write_all(line(i).as_bytes()).await.unwrap();
    }
    writer.shutdown().await.unwrap();

    let done = wait_status(&status_file, "all PUBACKed", Duration::from_secs(30), |s| {
        s.acked_through == 300
    })
    .await;
    assert_eq!((done.buffered, done.input_rejected), (0, 1));
    assert!(done.epoch > 0);

    let mut lines = BufReader::new(sub.stdout.take().unwrap()).lines();
    let mut seqs = vec![];
    while seqs.len() < 300 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("batches reach the subscriber")
            .unwrap()
            .unwrap();
        let batch: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(batch["v"], 1);
        assert_eq!(batch["epoch"], done.epoch);
        seqs.extend(
            batch["readings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["seq"].as_u64().unwrap()),
        );
    }
    assert_eq!(seqs, (1..=300).collect::<Vec<_>>());

    // `episante-edge status` reads the same state.
    let out = Command::new(env!("CARGO_BIN_EXE_episante-edge"))
        .args([
            "status",
            "--output",
            "json",
            "--file",
            &status_file.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["device_id"], "mosqhub");
    assert_eq!(status["connection"], "connected");
    assert_eq!(status["epoch"], done.epoch);
    assert_eq!(status["agent_version"], env!("CARGO_PKG_VERSION"));
    let missing = Command::new(env!("CARGO_BIN_EXE_episante-edge"))
        .args(["status", "--file", "/nonexistent/status.json"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is the agent running"));
}
