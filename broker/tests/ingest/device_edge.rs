//! The device edge under attack and failure: no socket, device or bad reading can silence
//! another patient's monitoring (issue 14). Each test failed on the rumqttd-`Server` broker.

use std::time::{Duration, Instant};

use base64::Engine;
use episante_protocol::topics::{KAFKA_DEAD_LETTER, KAFKA_READINGS};
use rumqttc::{AsyncClient, MqttOptions, QoS, TlsConfiguration, Transport};
use serde_json::{json, Value};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::helpers::*;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A batch timed now (the skew check refuses the future, not the past).
fn fresh_batch(device: &str, epoch: u64, first: u64, n: u64) -> episante_protocol::ReadingBatch {
    let mut b = batch(device, 1, n);
    b.epoch = epoch;
    for (i, r) in b.readings.iter_mut().enumerate() {
        r.seq = first.saturating_add(i as u64);
        r.ts_ms = now_ms() - 1_000;
    }
    b
}

async fn letters_with(platform: &Platform, code: &str, within: Duration) -> Vec<Value> {
    read_topic_until(
        &platform.kafka.bootstrap,
        KAFKA_DEAD_LETTER,
        within,
        |records| records.iter().any(|(_, l)| l["reason_code"] == code),
    )
    .await
    .into_iter()
    .map(|(_, l)| l)
    .filter(|l| l["reason_code"] == code)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_and_stalled_sockets_do_not_delay_any_device() {
    let platform = start_platform_with(|c| {
        c.handshake_timeout_ms = 2_000;
        c.max_pending_handshakes_per_ip = 150;
    })
    .await;
    let mut creds = vec![];
    for i in 0..100 {
        creds.push(platform.register(&format!("door{i}")).await);
    }
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], platform.mqtt_port));

    // 200 silent sockets from another address: 150 held until their deadline, 50 over the
    // per-address limit closed at once.
    let mut idle = vec![];
    for _ in 0..200 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        idle.push(socket.connect(addr).await.unwrap());
    }
    // 10 clients that start a TLS handshake and stall in the middle of it.
    for _ in 0..10 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.3:0".parse().unwrap()).unwrap();
        let mut s = socket.connect(addr).await.unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            .await
            .unwrap();
        idle.push(s);
    }

    let started = Instant::now();
    let mut devices = JoinSet::new();
    for c in creds {
        let options = platform.mqtt_options(&c, c.secret());
        devices.spawn(async move {
            let t = Instant::now();
            let mut device = connect(options).await?;
            let id = device.id.clone();
            device.publish_batch(&batch(&id, 1, 3)).await;
            device.wait_ack(3, Duration::from_secs(20)).await?;
            Ok::<_, String>(t.elapsed())
        });
    }
    let mut slowest = Duration::ZERO;
    while let Some(result) = devices.join_next().await {
        let elapsed = result.unwrap().expect("every device connects and is acked");
        slowest = slowest.max(elapsed);
    }
    assert!(
        slowest < Duration::from_secs(8),
        "slowest device took {slowest:?} (all 100 in {:?})",
        started.elapsed()
    );

    // Every silent socket is closed by the broker: over-limit ones at once, the rest at their
    // handshake deadline.
    let mut buf = [0u8; 16];
    for s in &mut idle {
        let closed = tokio::time::timeout(Duration::from_secs(6), s.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "silent socket still open"
        );
    }
    let metrics = platform.metrics_text().await;
    for reason in ["source_limit", "handshake_timeout"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.contains(&format!("reason=\"{reason}\""))
                    && l.starts_with("episante_broker_connections_refused")),
            "{reason} counted:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn a_poisoned_seq_is_refused_and_a_new_epoch_starts_over() {
    let platform = start_platform().await;
    let creds = platform.register("hubseq").await;
    let mut device = platform.connect(&creds).await.unwrap();

    // seq 2^63−1 is no seq at all: dead-lettered, and never acked.
    device
        .publish_batch(&fresh_batch("hubseq", 0, (1 << 63) - 1, 1))
        .await;
    device.publish_batch(&fresh_batch("hubseq", 0, 1, 5)).await;
    assert_eq!(
        device.wait_epoch_ack(0, 5, Duration::from_secs(30)).await,
        Ok(5)
    );
    // A jump of more than the window past the stream: refused, not acked, not in Kafka.
    device
        .publish_batch(&fresh_batch("hubseq", 0, 5_000_000, 1))
        .await;
    device.publish_batch(&fresh_batch("hubseq", 0, 6, 5)).await;
    assert_eq!(
        device.wait_epoch_ack(0, 10, Duration::from_secs(30)).await,
        Ok(10)
    );
    // The hub lost its buffer and starts over under a new epoch: accepted as a new stream.
    device
        .publish_batch(&fresh_batch("hubseq", 7_000, 1, 3))
        .await;
    assert_eq!(
        device
            .wait_epoch_ack(7_000, 3, Duration::from_secs(30))
            .await,
        Ok(3)
    );
    // A late batch of the old stream is stale.
    device.publish_batch(&fresh_batch("hubseq", 0, 11, 1)).await;
    let acks = device.acks_within(Duration::from_secs(2)).await;
    assert!(
        acks.iter().all(|(_, seq)| *seq < 1_000),
        "no ack ever covers a poisoned seq: {acks:?}"
    );

    let records = read_topic_until(
        &platform.kafka.bootstrap,
        KAFKA_READINGS,
        Duration::from_secs(15),
        |r| r.iter().any(|(_, b)| b["epoch"] == 7_000),
    )
    .await;
    let mut seen = vec![];
    for (_, b) in &records {
        assert!(
            b["received_at_ms"].as_i64().is_some(),
            "stamped by the broker"
        );
        for r in b["readings"].as_array().unwrap() {
            seen.push((b["epoch"].as_u64().unwrap_or(0), r["seq"].as_u64().unwrap()));
        }
    }
    seen.sort_unstable();
    seen.dedup();
    let expected: Vec<(u64, u64)> = (1..=10)
        .map(|s| (0, s))
        .chain((1..=3).map(|s| (7_000, s)))
        .collect();
    assert_eq!(seen, expected);
    for code in ["seq_bound", "seq_jump", "stale_epoch"] {
        assert_eq!(
            letters_with(&platform, code, Duration::from_secs(10))
                .await
                .len(),
            1,
            "{code}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_publishes_are_refused_at_the_socket_and_memory_stays_bounded() {
    let platform = start_platform().await; // max_payload_bytes = 16 KiB
    let creds = platform.register("hubbig").await;
    let mut options = platform.mqtt_options(&creds, creds.secret());
    options.set_max_packet_size(1024 * 1024, 1024 * 1024);
    // A small request queue: the client must not be the one holding the payloads.
    let (client, mut eventloop) = AsyncClient::new(options, 4);
    let poller = tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let payload = vec![b'x'; 60_000];
    let hash = hex::encode(sha2::Sha256::digest(&payload));
    let before = rss_bytes();
    for _ in 0..1_000 {
        client
            .publish(
                "/tenants/hubbig/readings",
                QoS::AtMostOnce,
                false,
                payload.clone(),
            )
            .await
            .unwrap();
    }
    platform
        .wait_for_metric(
            "episante_broker_validation_failures_total{service=\"broker\",reason=\"oversized\"} 1000",
            Duration::from_secs(60),
        )
        .await;
    let grown = rss_bytes().saturating_sub(before);
    assert!(
        grown < 48 * 1024 * 1024,
        "60 MB of oversized publishes grew the process by {} MiB",
        grown / (1024 * 1024)
    );
    assert!(!poller.is_finished(), "the session survives refusals");

    let letters = letters_with(&platform, "oversized", Duration::from_secs(10)).await;
    let letter = &letters[0];
    assert_eq!(letter["payload_bytes"], 60_000);
    assert_eq!(letter["payload_sha256"], hash.as_str());
    assert_eq!(letter["truncated"], true);
    let kept = base64::engine::general_purpose::STANDARD
        .decode(letter["payload_base64"].as_str().unwrap())
        .unwrap();
    assert!(kept.len() <= episante_protocol::ack::DEAD_LETTER_HEAD_BYTES);
    assert!(
        letters.len() < 100,
        "dead letters of one device are rate-limited: {}",
        letters.len()
    );
}

#[tokio::test]
async fn revoking_or_rotating_cuts_the_live_session_within_a_second() {
    let platform = start_platform().await;
    for action in ["revoke", "rotate"] {
        let id = format!("hubcut{action}");
        let creds = platform.register(&id).await;
        let mut device = platform.connect(&creds).await.unwrap();
        device.publish_batch(&batch(&id, 1, 2)).await;
        assert_eq!(device.wait_ack(2, Duration::from_secs(30)).await, Ok(2));

        let t = Instant::now();
        let r = platform.device_action(&id, action).await;
        assert_eq!(r.status(), 200);
        assert!(
            device.wait_disconnect(Duration::from_secs(1)).await,
            "{action}: session still open after 1 s"
        );
        println!("{action}: session cut after {:?}", t.elapsed());
        // Publishing on: never acked (the old credentials cannot reconnect).
        let _ = device
            .client
            .publish(
                format!("/tenants/{id}/readings"),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&batch(&id, 3, 2)).unwrap(),
            )
            .await;
        assert!(
            platform.connect(&creds).await.is_err(),
            "{action}: old credentials refused"
        );
        if action == "rotate" {
            let fresh = DeviceCreds(r.json().await.unwrap());
            // The new secret with the replaced certificate: refused.
            let mut stale = fresh.clone();
            stale.0["certificate_pem"] = creds.0["certificate_pem"].clone();
            stale.0["private_key_pem"] = creds.0["private_key_pem"].clone();
            assert!(
                platform.connect(&stale).await.is_err(),
                "old certificate refused"
            );
            assert!(
                platform.connect(&fresh).await.is_ok(),
                "new credentials work"
            );
        }
    }
    let readings = read_topic(
        &platform.kafka.bootstrap,
        KAFKA_READINGS,
        100,
        Duration::from_secs(5),
    )
    .await;
    let seqs = seqs_by_device(&readings);
    for action in ["revoke", "rotate"] {
        assert_eq!(
            seqs[&format!("hubcut{action}")],
            vec![1, 2],
            "nothing after the cut"
        );
    }
}

#[tokio::test]
async fn the_certificate_of_one_device_never_works_with_the_login_of_another() {
    let platform = start_platform().await;
    let a = platform.register("hubcerta").await;
    let b = platform.register("hubcertb").await;
    // A's certificate, B's id and secret.
    let mut options = MqttOptions::new(b.id(), "127.0.0.1", platform.mqtt_port);
    options.set_credentials(b.id(), b.secret());
    options.set_keep_alive(Duration::from_secs(10));
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca: a.pem("ca_pem").into_bytes(),
        alpn: None,
        client_auth: Some((
            a.pem("certificate_pem").into_bytes(),
            a.pem("private_key_pem").into_bytes(),
        )),
    }));
    assert!(
        connect(options).await.is_err(),
        "A's certificate with B's login"
    );
    assert!(platform.connect(&a).await.is_ok());
    assert!(platform.connect(&b).await.is_ok());
    let metrics = platform.metrics_text().await;
    assert!(
        metrics.contains("reason=\"identity_mismatch\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn readings_from_the_future_are_dead_lettered_and_the_stream_goes_on() {
    let platform = start_platform().await;
    let creds = platform.register("hubclock").await;
    let mut device = platform.connect(&creds).await.unwrap();
    let mut ahead = fresh_batch("hubclock", 0, 1, 2);
    ahead.readings[1].ts_ms = now_ms() + 5 * 60_000; // a hub clock 5 minutes fast
    device.publish_batch(&ahead).await;
    device
        .publish_batch(&fresh_batch("hubclock", 0, 3, 2))
        .await;
    assert_eq!(device.wait_ack(4, Duration::from_secs(30)).await, Ok(4));
    let letters = letters_with(&platform, "clock_skew", Duration::from_secs(10)).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["truncated"], false, "the whole batch is kept");
    let readings = read_readings(
        &platform.kafka.bootstrap,
        &[("hubclock", 2)],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(seqs_by_device(&readings)["hubclock"], vec![3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hammering_device_is_rate_limited_and_its_neighbour_is_unaffected() {
    let platform = start_platform_with(|c| c.device_max_msgs_per_sec = 20).await;
    let hammer = platform.register("hubhammer").await;
    let neighbour = platform.register("hubcalm").await;
    let mut calm = platform.connect(&neighbour).await.unwrap();

    async fn latencies(calm: &mut MqttDevice, first: u64, rounds: u64) -> Vec<Duration> {
        let mut out = vec![];
        for i in 0..rounds {
            let seq = first + i;
            let t = Instant::now();
            calm.publish_batch(&batch("hubcalm", seq, 1)).await;
            calm.wait_ack(seq, Duration::from_secs(10)).await.unwrap();
            out.push(t.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out.sort();
        out
    }
    let quiet = latencies(&mut calm, 1, 15).await;

    let device = platform.connect(&hammer).await.unwrap();
    let flood = tokio::spawn(async move {
        let started = Instant::now();
        let mut seq = 1;
        while started.elapsed() < Duration::from_secs(4) {
            let _ = device
                .client
                .publish(
                    "/tenants/hubhammer/readings",
                    QoS::AtMostOnce,
                    false,
                    serde_json::to_vec(&batch("hubhammer", seq, 1)).unwrap(),
                )
                .await;
            seq += 1;
            if seq % 50 == 0 {
                tokio::task::yield_now().await;
            }
        }
        (seq - 1, device)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let loud = latencies(&mut calm, 100, 15).await;
    let (sent, _device) = flood.await.unwrap();

    let p90 = |v: &[Duration]| v[v.len() * 9 / 10];
    println!(
        "neighbour p90: quiet {:?}, while flooded {:?}; hammer sent {sent}",
        p90(&quiet),
        p90(&loud)
    );
    assert!(sent >= 2_000, "the hammer really hammered ({sent})");
    assert!(
        p90(&loud) < p90(&quiet) * 3 + Duration::from_millis(200),
        "neighbour latency p90 {:?} while flooded vs {:?} quiet",
        p90(&loud),
        p90(&quiet)
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let readings = read_topic(
        &platform.kafka.bootstrap,
        KAFKA_READINGS,
        10_000,
        Duration::from_secs(5),
    )
    .await;
    let accepted = seqs_by_device(&readings)
        .get("hubhammer")
        .map_or(0, Vec::len);
    assert!(
        accepted <= 40 + 20 * 5,
        "{accepted} of {sent} hammer readings got through a 20/s limit"
    );
    assert!(
        !letters_with(&platform, "rate_limited", Duration::from_secs(5))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn revocation_through_one_broker_cuts_the_session_on_another() {
    let platform = start_platform().await;
    let mut second = platform.settings.clone();
    second.broker.mqtt_bind = "127.0.0.1:0".into();
    let shutdown = episante_kit::Shutdown::new();
    let (_registry_b, port_b) = start_broker(second, &shutdown).await;

    let creds = platform.register("hubmulti").await;
    let mut device = connect(device_options(&creds, creds.secret(), port_b))
        .await
        .unwrap();
    device.publish_batch(&batch("hubmulti", 1, 2)).await;
    assert_eq!(device.wait_ack(2, Duration::from_secs(30)).await, Ok(2));
    let t = Instant::now();
    assert_eq!(
        platform.device_action("hubmulti", "revoke").await.status(),
        200
    );
    assert!(
        device.wait_disconnect(Duration::from_secs(1)).await,
        "the other instance kept the session"
    );
    println!("cut on the other instance after {:?}", t.elapsed());
    assert!(connect(device_options(&creds, creds.secret(), port_b))
        .await
        .is_err());
    shutdown.trigger();
}

#[tokio::test]
async fn fleet_health_shows_who_is_online_last_seen_and_backlog() {
    let platform = start_platform().await;
    let creds = platform.register("hubhealth").await;
    platform.register("hubsilent").await;
    let mut device = platform.connect(&creds).await.unwrap();
    device
        .publish_batch(&fresh_batch("hubhealth", 0, 1, 2))
        .await;
    device.wait_ack(2, Duration::from_secs(30)).await.unwrap();
    device
        .client
        .publish(
            "/tenants/hubhealth/status",
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&json!({"online": true, "buffered": 42, "agent_version": "9.9.9"}))
                .unwrap(),
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let health = loop {
        let devices = platform.devices("").await;
        let d = devices
            .into_iter()
            .find(|d| d["device_id"] == "hubhealth")
            .unwrap();
        if d["backlog"] == 42 || Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(health["online"], true, "{health}");
    assert_eq!(health["backlog"], 42);
    assert_eq!(health["agent_version"], "9.9.9");
    assert!(health["last_reading_at"].is_string());
    assert!(health["last_seen_at"].is_string());

    let offline: Vec<Value> = platform.devices("?offline=true").await;
    let ids: Vec<&str> = offline
        .iter()
        .map(|d| d["device_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["hubsilent"]);

    device.client.disconnect().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let offline = platform.devices("?offline=true").await;
        if offline.iter().any(|d| d["device_id"] == "hubhealth") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a disconnected hub is listed offline"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_second_connect_replaces_the_first_session_and_the_new_one_keeps_working() {
    let platform = start_platform().await;
    let creds = platform.register("hubtwice").await;
    for round in 0..5u64 {
        let mut first = platform.connect(&creds).await.unwrap();
        let mut second = platform.connect(&creds).await.unwrap();
        assert!(
            first.wait_disconnect(Duration::from_secs(5)).await,
            "round {round}: the replaced session is closed"
        );
        let seq = round * 10 + 1;
        second.publish_batch(&batch("hubtwice", seq, 2)).await;
        assert_eq!(
            second.wait_ack(seq + 1, Duration::from_secs(30)).await,
            Ok(seq + 1),
            "round {round}: the new session is not disturbed by the old one's goodbye"
        );
    }
}

#[tokio::test]
async fn devices_of_a_broker_that_died_without_goodbye_read_as_offline() {
    let platform = start_platform().await;
    platform.register("hubcrash").await;
    let server = episante_testkit::postgres::admin_url();
    let name = &platform.settings.broker.database.name;
    let url = format!("{}/{name}", server.rsplit_once('/').unwrap().0);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    // The session was held by an instance last seen a minute ago (then killed).
    sqlx::query("INSERT INTO broker_instances (instance_id, seen_at) VALUES ('gone', now() - interval '1 minute')")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO device_health (device_id, online, last_connect_at, instance_id) VALUES ('hubcrash', true, now() - interval '2 minutes', 'gone')")
        .execute(&mut conn)
        .await
        .unwrap();
    let all = platform.devices("").await;
    let d = all.iter().find(|d| d["device_id"] == "hubcrash").unwrap();
    assert_eq!(d["online"], false, "{d}");
    let offline = platform.devices("?offline=true").await;
    assert!(offline.iter().any(|d| d["device_id"] == "hubcrash"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_storm_acknowledges_every_device() {
    const DEVICES: usize = 300;
    // One source address for the whole storm (a fleet comes from many).
    let platform = start_platform_with(|c| {
        c.max_pending_handshakes_per_ip = DEVICES;
        c.max_pending_handshakes = DEVICES;
    })
    .await;
    let mut creds = vec![];
    for i in 0..DEVICES {
        creds.push(platform.register(&format!("hubstorm{i}")).await);
    }
    let port = platform.mqtt_port;
    let mut tasks = tokio::task::JoinSet::new();
    for c in creds {
        tasks.spawn(async move {
            let id = c.id().to_string();
            let mut device = connect(device_options(&c, c.secret(), port)).await?;
            device.publish_batch(&batch(&id, 1, 6)).await;
            device
                .wait_ack(6, Duration::from_secs(30))
                .await
                .map_err(|e| format!("{id}: {e}"))
        });
    }
    let mut failures = vec![];
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done.unwrap() {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {DEVICES} devices not acknowledged, e.g. {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        platform
            .metrics_text()
            .await
            .lines()
            .filter(|l| l.contains("readings_in")
                || l.contains("acks_sent")
                || l.contains("broker_sessions"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
