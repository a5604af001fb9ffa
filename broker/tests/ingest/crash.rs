//! `kill -9` of the broker process mid-stream: a publisher that resends what was not acked end to
//! end gets every reading into Kafka at least once.

use std::time::Duration;

use episante_protocol::topics::KAFKA_READINGS;
use episante_testkit::net::{free_port, wait_for_http};
use episante_testkit::process::RestartableProcess;
use episante_testkit::TestDb;

use crate::helpers::*;

#[tokio::test]
async fn kill_9_mid_stream_loses_no_reading() {
    let platform = start_platform().await;
    let db = TestDb::new();
    let data = tempfile::tempdir().unwrap();
    let (http_port, mqtt_port) = (free_port(), free_port());
    let mut broker = RestartableProcess::new(
        env!("CARGO_BIN_EXE_episante-broker"),
        &[],
        &[
            ("DATABASE_URL", episante_testkit::postgres::admin_url()),
            ("EPISANTE_BROKER__DATABASE__NAME", db.name.clone()),
            ("EPISANTE_BROKER__DATABASE__ROLE", db.name.clone()),
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
                data.path().display().to_string(),
            ),
            ("EPISANTE_KAFKA__BROKERS", platform.kafka.bootstrap.clone()),
            (
                "EPISANTE_TOKENS__JWKS_URL",
                format!("{}/.well-known/jwks.json", platform.auth_base),
            ),
        ],
    );
    broker.start();
    let registry = format!("http://127.0.0.1:{http_port}");
    wait_for_http(&format!("{registry}/ready"), Duration::from_secs(30))
        .await
        .unwrap();
    let creds = DeviceCreds(
        platform
            .http
            .post(format!("{registry}/v1/devices"))
            .bearer_auth(&platform.admin_token)
            .json(&serde_json::json!({"device_id": "crashy"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    );
    let options = device_options(&creds, creds.secret(), mqtt_port);

    const TOTAL: u64 = 3_000;
    const PER_BATCH: u64 = 10;
    const WINDOW: u64 = 600;
    let mut acked = 0u64;
    let mut killed = false;
    let mut reconnects = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    'session: while acked < TOTAL {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stuck at acked_through {acked}"
        );
        let Ok(mut device) = connect(options.clone()).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        reconnects += 1;
        // Resend everything not acknowledged end to end, then keep going.
        let mut sent_through = acked;
        loop {
            while sent_through < TOTAL && sent_through < acked + WINDOW {
                device
                    .publish_batch(&batch("crashy", sent_through + 1, PER_BATCH))
                    .await;
                sent_through += PER_BATCH;
            }
            match tokio::time::timeout(Duration::from_secs(5), device.events.recv()).await {
                Ok(Some(DeviceEvent::Ack(n, _))) => {
                    acked = acked.max(n);
                    if !killed && acked >= TOTAL / 3 {
                        broker.kill_9();
                        killed = true;
                        broker.start();
                        continue 'session;
                    }
                    if acked >= TOTAL {
                        break 'session;
                    }
                }
                _ => continue 'session,
            }
        }
    }
    assert!(killed && reconnects >= 2);
    let distinct = |records: &[(String, serde_json::Value)]| {
        let mut seqs = seqs_by_device(records).remove("crashy").unwrap_or_default();
        let delivered = seqs.len();
        seqs.sort();
        seqs.dedup();
        (seqs, delivered)
    };
    let records = read_topic_until(
        &platform.kafka.bootstrap,
        KAFKA_READINGS,
        Duration::from_secs(30),
        |r| distinct(r).0.len() as u64 >= TOTAL,
    )
    .await;
    let (seqs, delivered) = distinct(&records);
    let missing: Vec<u64> = (1..=TOTAL)
        .filter(|s| seqs.binary_search(s).is_err())
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "seqs missing from Kafka (first 10): {missing:?}"
    );
    assert_eq!(seqs.len() as u64, TOTAL);
    eprintln!("{delivered} readings delivered for {TOTAL} distinct (duplicates from resends are expected)");
}
