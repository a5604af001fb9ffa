//! The harness itself, against the real servers it starts.

use std::time::Duration;

use episante_testkit::{TestDb, TestKafka, TestVault};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};

#[tokio::test]
async fn tansu_carries_a_message_through_a_created_topic() {
    let kafka = TestKafka::start().await.expect("tansu starts");
    kafka
        .create_topics(&["harness.check"], 2)
        .await
        .expect("topic created");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to("harness.check")
                .key("hub-1")
                .payload("hello"),
            Duration::from_secs(10),
        )
        .await
        .expect("delivered");

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap)
        .set("group.id", "harness")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["harness.check"]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a message within 30 s")
        .expect("no consumer error");
    assert_eq!(message.key(), Some(&b"hub-1"[..]));
    assert_eq!(message.payload(), Some(&b"hello"[..]));
}

#[tokio::test]
async fn openbao_dev_server_serves_kv_and_transit() {
    let vault = TestVault::start().await.expect("OpenBao starts");
    vault
        .write(
            "secret/data/harness",
            serde_json::json!({"data": {"k": "v"}}),
        )
        .await
        .expect("kv write");
    vault.enable_transit().await.expect("transit mounted");
    vault
        .write("transit/keys/harness", serde_json::json!({}))
        .await
        .expect("transit key");
    let encrypted = vault
        .write(
            "transit/encrypt/harness",
            serde_json::json!({"plaintext": "aGVsbG8="}),
        )
        .await
        .expect("encrypt");
    assert!(encrypted["data"]["ciphertext"]
        .as_str()
        .unwrap()
        .starts_with("vault:v1:"));
}

#[tokio::test]
async fn test_databases_are_provisioned_and_dropped() {
    let admin = episante_testkit::postgres::admin_url();
    let name;
    {
        let db = TestDb::new();
        name = db.name.clone();
        let migrator = sqlx::migrate::Migrator::DEFAULT;
        let pool = episante_kit::db::provision(&db.config(), &db.service_database(), &migrator)
            .await
            .expect("provisioned");
        let who: String = sqlx::query_scalar("SELECT current_user")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(who, name, "the service connects as its own role");
        pool.close().await;
    }
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    let left: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!left, "dropped with the TestDb");
}

#[tokio::test]
async fn the_kafka_event_bus_publishes_consumes_and_resumes_after_commit() {
    use episante_kit::events::{kafka::KafkaBus, EventBus, EventBusConfig};
    let kafka = TestKafka::start().await.expect("tansu starts");
    let bus = KafkaBus::new(&EventBusConfig {
        brokers: Some(kafka.bootstrap.clone()),
        partitions: 1,
        ..Default::default()
    })
    .unwrap();
    bus.ensure_topics(&["bus.check"]).await.unwrap();
    bus.ensure_topics(&["bus.check"]).await.expect("idempotent");
    for i in 0..3 {
        bus.publish("bus.check", "k", format!("event {i}").into_bytes())
            .await
            .expect("delivered");
    }
    let mut first = bus.subscribe("group-a", &["bus.check"]).unwrap();
    let a = next_event(&mut first).await;
    let b = next_event(&mut first).await;
    assert_eq!(
        (a.payload.as_slice(), b.payload.as_slice()),
        (&b"event 0"[..], &b"event 1"[..])
    );
    assert_eq!(b.key.as_deref(), Some(&b"k"[..]));
    first.commit(&b).unwrap();
    // Give the async commit a moment, then leave the group.
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(first);

    let mut again = bus.subscribe("group-a", &["bus.check"]).unwrap();
    assert_eq!(
        next_event(&mut again).await.payload,
        b"event 2".to_vec(),
        "resumes after the commit"
    );
}

async fn next_event(
    subscription: &mut Box<dyn episante_kit::events::EventSubscription>,
) -> episante_kit::events::EventRecord {
    tokio::time::timeout(Duration::from_secs(30), subscription.next())
        .await
        .expect("an event within 30 s")
        .unwrap()
}
