//! Who may connect, and what a connected device may touch.

use std::time::Duration;

use episante_protocol::topics::KAFKA_DEAD_LETTER;
use rumqttc::QoS;

use crate::helpers::*;

#[tokio::test]
async fn wrong_secrets_and_mismatched_ids_are_refused() {
    let platform = start_platform().await;
    let creds = platform.register("hubs").await;
    assert!(connect(platform.mqtt_options(&creds, "not-the-secret"))
        .await
        .is_err());
    let mut wrong_id = platform.mqtt_options(&creds, creds.secret());
    wrong_id.set_client_id("other".into());
    assert!(connect(wrong_id).await.is_err());
    assert!(
        platform.connect(&creds).await.is_ok(),
        "the right credentials work"
    );
    let metrics = platform.metrics_text().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "episante_broker_auth_failures_total{service=\"broker\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_revoked_device_is_refused_on_its_next_connect() {
    let platform = start_platform().await;
    let creds = platform.register("hubr").await;
    platform
        .connect(&creds)
        .await
        .expect("connects before revocation");
    let r = platform
        .http
        .post(format!("{}/v1/devices/hubr/revoke", platform.registry))
        .bearer_auth(&platform.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        platform.connect(&creds).await.is_err(),
        "refused after revocation"
    );
}

#[tokio::test]
async fn a_device_cannot_publish_or_subscribe_outside_its_own_topics() {
    let platform = start_platform().await;
    let attacker = platform.register("attacker").await;
    platform.register("victim").await;

    // Publishing a perfectly valid batch into the victim's topic: disconnected, never in Kafka.
    let mut device = platform.connect(&attacker).await.unwrap();
    device
        .client
        .publish(
            "/tenants/victim/readings",
            QoS::AtLeastOnce,
            false,
            serde_json::to_vec(&batch("victim", 1, 3)).unwrap(),
        )
        .await
        .unwrap();
    assert!(
        device.wait_disconnect(Duration::from_secs(10)).await,
        "cross-tenant publish drops the connection"
    );

    // Reading everyone's readings with a wildcard: disconnected too.
    let mut device = platform.connect(&attacker).await.unwrap();
    device
        .client
        .subscribe("/tenants/+/readings", QoS::AtLeastOnce)
        .await
        .unwrap();
    assert!(
        device.wait_disconnect(Duration::from_secs(10)).await,
        "wildcard subscribe drops the connection"
    );

    // Claiming to be the victim inside its own topic: dead-lettered, not a victim reading.
    let mut device = platform.connect(&attacker).await.unwrap();
    device.publish_batch(&batch("victim", 1, 3)).await;
    device.publish_batch(&batch("attacker", 4, 2)).await;
    assert_eq!(device.wait_ack(5, Duration::from_secs(30)).await, Ok(5));

    let readings = read_readings(
        &platform.kafka.bootstrap,
        &[("attacker", 5)],
        Duration::from_secs(10),
    )
    .await;
    assert!(
        readings.iter().all(|(key, _)| key != "victim"),
        "no victim record ever reaches Kafka"
    );
    assert_eq!(seqs_by_device(&readings)["attacker"], vec![4, 5]);
    let letters = read_topic(
        &platform.kafka.bootstrap,
        KAFKA_DEAD_LETTER,
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].0, "attacker");
    assert_eq!(letters[0].1["reason_code"], "device_mismatch");
}
