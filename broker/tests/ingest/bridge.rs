//! Readings flow MQTT → Kafka, in order, acknowledged end to end; bad payloads are dead-lettered.

use std::time::Duration;

use episante_protocol::topics::{KAFKA_DEAD_LETTER, KAFKA_READINGS};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn rumqttc_readings_land_in_kafka_keyed_and_in_order_then_are_acked() {
    let platform = start_platform().await;
    let creds_a = platform.register("huba").await;
    let creds_b = platform.register("hubb").await;
    let mut a = platform.connect(&creds_a).await.expect("a connects");
    let mut b = platform.connect(&creds_b).await.expect("b connects");
    for i in 0..20u64 {
        a.publish_batch(&batch("huba", i * 5 + 1, 5)).await;
        b.publish_batch(&batch("hubb", i * 3 + 1, 3)).await;
    }
    assert_eq!(a.wait_ack(100, Duration::from_secs(30)).await, Ok(100));
    assert_eq!(b.wait_ack(60, Duration::from_secs(30)).await, Ok(60));

    let records = read_readings(
        &platform.kafka.bootstrap,
        &[("huba", 100), ("hubb", 60)],
        Duration::from_secs(30),
    )
    .await;
    let seqs = seqs_by_device(&records);
    assert_eq!(
        seqs["huba"],
        (1..=100).collect::<Vec<_>>(),
        "every reading, in order"
    );
    assert_eq!(seqs["hubb"], (1..=60).collect::<Vec<_>>());

    for (device, online) in [(&a, true), (&b, true), (&b, false), (&b, true), (&a, false)] {
        device
            .client
            .publish(
                format!("/tenants/{}/status", device.id),
                rumqttc::QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&json!({ "online": online })).unwrap(),
            )
            .await
            .unwrap();
    }
    platform
        .wait_for_metric(
            "episante_broker_connected_devices{service=\"broker\"} 1",
            Duration::from_secs(10),
        )
        .await;
    let metrics = platform.metrics_text().await;
    for line in [
        "episante_broker_messages_in_total{service=\"broker\"} 40",
        "episante_broker_readings_in_total{service=\"broker\"} 160",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn mosquitto_pub_is_a_first_class_client() {
    let platform = start_platform().await;
    let creds = platform.register("mosq1").await;
    let dir = tempfile::tempdir().unwrap();
    for (file, field) in [
        ("ca.pem", "ca_pem"),
        ("cert.pem", "certificate_pem"),
        ("key.pem", "private_key_pem"),
    ] {
        std::fs::write(dir.path().join(file), creds.pem(field)).unwrap();
    }
    let payload = serde_json::to_string(&batch("mosq1", 1, 4)).unwrap();
    let status = tokio::process::Command::new("mosquitto_pub")
        // By name: OpenSSL clients put an IP literal in SNI, which rustls rejects.
        .args(["-h", "localhost", "-p", &platform.mqtt_port.to_string()])
        .arg("--cafile")
        .arg(dir.path().join("ca.pem"))
        .arg("--cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--key")
        .arg(dir.path().join("key.pem"))
        .args(["-i", "mosq1", "-u", "mosq1", "-P", creds.secret()])
        .args(["-t", "/tenants/mosq1/readings", "-q", "1", "-m", &payload])
        .status()
        .await
        .expect("mosquitto_pub runs (apt-get install mosquitto-clients)");
    assert!(status.success());
    let records = read_topic(
        &platform.kafka.bootstrap,
        KAFKA_READINGS,
        1,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(seqs_by_device(&records)["mosq1"], vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn malformed_payloads_are_dead_lettered_with_a_reason_and_nothing_stalls() {
    let platform = start_platform().await;
    let creds = platform.register("hubd").await;
    let mut device = platform.connect(&creds).await.unwrap();
    let topic = "/tenants/hubd/readings";
    let publish = |payload: Vec<u8>| {
        device
            .client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
    };
    publish(b"{not json".to_vec()).await.unwrap();
    publish(
        json!({"v": 9, "device_id": "hubd", "readings": []})
            .to_string()
            .into_bytes(),
    )
    .await
    .unwrap();
    let mut out_of_range = batch("hubd", 1, 2);
    out_of_range.readings[1].value = 900.0;
    publish(serde_json::to_vec(&out_of_range).unwrap())
        .await
        .unwrap();
    publish(serde_json::to_vec(&batch("someoneelse", 3, 1)).unwrap())
        .await
        .unwrap();
    publish(vec![b' '; 20 * 1024]).await.unwrap();
    // A valid batch afterwards still goes through and is acked.
    device.publish_batch(&batch("hubd", 4, 2)).await;
    assert_eq!(device.wait_ack(5, Duration::from_secs(30)).await, Ok(5));

    let letters = read_topic(
        &platform.kafka.bootstrap,
        KAFKA_DEAD_LETTER,
        5,
        Duration::from_secs(30),
    )
    .await;
    let codes: Vec<&str> = letters
        .iter()
        .map(|(_, l)| l["reason_code"].as_str().unwrap())
        .collect();
    // The oversized payload is refused by the device's session at the socket, the others by the
    // bridge after the router: the four bridge letters keep their order.
    assert_eq!(
        codes
            .iter()
            .filter(|c| **c != "oversized")
            .collect::<Vec<_>>(),
        vec![
            &"malformed",
            &"version",
            &"out_of_range",
            &"device_mismatch"
        ]
    );
    assert!(codes.contains(&"oversized"), "{codes:?}");
    for (key, letter) in &letters {
        assert_eq!(key, "hubd");
        assert_eq!(letter["topic"], topic);
        assert!(!letter["reason"].as_str().unwrap().is_empty());
        assert!(letter["payload_base64"].is_string());
    }
    let readings = read_topic(
        &platform.kafka.bootstrap,
        KAFKA_READINGS,
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        seqs_by_device(&readings)["hubd"],
        vec![4, 5],
        "only the valid batch"
    );
    let metrics = platform.metrics_text().await;
    assert!(
        metrics.contains("episante_broker_validation_failures_total{"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "episante_broker_dead_lettered_total{service=\"broker\"} 5"),
        "{metrics}"
    );
}

#[tokio::test]
async fn while_kafka_is_down_nothing_is_acked_and_afterwards_everything_arrives() {
    let mut platform = start_platform().await;
    let creds = platform.register("hubk").await;
    let mut device = platform.connect(&creds).await.unwrap();
    device.publish_batch(&batch("hubk", 1, 10)).await;
    assert_eq!(device.wait_ack(10, Duration::from_secs(30)).await, Ok(10));

    platform.kafka.stop();
    for i in 1..=5u64 {
        device.publish_batch(&batch("hubk", i * 10 + 1, 10)).await;
    }
    assert!(
        device.wait_ack(11, Duration::from_secs(4)).await.is_err(),
        "no ack may go out while Kafka is unreachable"
    );
    platform.kafka.restart().await.unwrap();
    assert_eq!(device.wait_ack(60, Duration::from_secs(90)).await, Ok(60));
    let records = read_readings(
        &platform.kafka.bootstrap,
        &[("hubk", 60)],
        Duration::from_secs(30),
    )
    .await;
    let mut seqs = seqs_by_device(&records)["hubk"].clone();
    seqs.dedup();
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>());
}
