//! The PostgreSQL log (`events::postgres`) against the machine's PostgreSQL: what it acknowledged
//! survives a crash, groups resume after their commits, a full topic refuses instead of dropping,
//! and one database serves one process.

use std::time::Duration;

use episante_kit::db::ServiceDatabase;
use episante_kit::events::postgres::{LogBusConfig, PostgresBus};
use episante_kit::events::{EventBus, EventBusError};
use episante_kit::{DatabaseConfig, Secret, Shutdown};

fn admin_url() -> String {
    std::env::var("EPISANTE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh database for one test, dropped at the end.
struct Scratch {
    config: LogBusConfig,
}

impl Scratch {
    fn new() -> Scratch {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        Scratch {
            config: LogBusConfig {
                database: ServiceDatabase::named(&name),
                ..LogBusConfig::default()
            },
        }
    }

    fn database(&self) -> DatabaseConfig {
        DatabaseConfig {
            admin_url: Secret::new(admin_url()),
            max_connections: 4,
        }
    }

    async fn open(&self) -> anyhow::Result<PostgresBus> {
        PostgresBus::open(&self.database(), &self.config, &Shutdown::new()).await
    }

    /// Opens the bus, waiting (a few seconds at most) for a crashed predecessor's lock to go.
    async fn reopen(&self) -> PostgresBus {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match self.open().await {
                Ok(bus) => return bus,
                Err(e) if std::time::Instant::now() < deadline => {
                    assert!(format!("{e:#}").contains("in use"), "{e:#}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{e:#}"),
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let name = self.config.database.name.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    use sqlx::Connection;
                    let mut admin = sqlx::PgConnection::connect(&admin_url()).await?;
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .await?;
                    sqlx::query(&format!("DROP ROLE IF EXISTS \"{name}\""))
                        .execute(&mut admin)
                        .await?;
                    Ok::<_, sqlx::Error>(())
                })
        })
        .join();
    }
}

#[tokio::test]
async fn acknowledged_events_survive_a_crash_and_groups_resume_after_their_commit() {
    let scratch = Scratch::new();
    // The first life runs on its own runtime, dropped without any clean stop: its tasks and
    // connections die mid-flight, as in a kill -9.
    let crashed = {
        let config = scratch.config.clone();
        let database = scratch.database();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let bus = PostgresBus::open(&database, &config, &Shutdown::new())
                    .await
                    .unwrap();
                let mut sub = bus.subscribe("g", &["t"]).unwrap();
                // Published concurrently: one group commit, offsets in publish order.
                let pending: Vec<_> = (0..10u8)
                    .map(|i| bus.publish("t", "k", vec![i; 100]))
                    .collect();
                for p in pending {
                    p.await.unwrap();
                }
                for expected in 0..4 {
                    let record = sub.next().await.unwrap();
                    assert_eq!(record.offset, expected);
                    assert_eq!(record.payload, vec![expected as u8; 100]);
                    sub.commit(&record).unwrap();
                }
                // Saved by the flusher.
                tokio::time::sleep(episante_kit::events::postgres::OFFSET_FLUSH * 5).await;
            });
            runtime.shutdown_background();
        })
    };
    crashed.join().unwrap();

    let bus = scratch.reopen().await;
    let mut sub = bus.subscribe("g", &["t"]).unwrap();
    for expected in 4..10 {
        let record = sub.next().await.unwrap();
        assert_eq!(
            (record.offset, record.payload.clone()),
            (expected, vec![expected as u8; 100]),
            "every acknowledged event, in order, from the group's commit"
        );
        assert_eq!(record.key.as_deref(), Some(&b"k"[..]));
        assert!(record.timestamp_ms.is_some());
    }
    // Offsets continue after the restart.
    bus.publish("t", "k", b"after".to_vec()).await.unwrap();
    let record = sub.next().await.unwrap();
    assert_eq!((record.offset, record.payload), (10, b"after".to_vec()));
}

#[tokio::test]
async fn one_database_serves_one_process() {
    let scratch = Scratch::new();
    let first = scratch.open().await.unwrap();
    let err = match scratch.open().await {
        Ok(_) => panic!("a second bus opened on the same database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("in use by another process"), "{err}");
    first.publish("t", "k", b"x".to_vec()).await.unwrap();
}

#[tokio::test]
async fn a_consumed_topic_at_its_bound_refuses_and_accepts_again_once_read() {
    let mut scratch = Scratch::new();
    scratch.config.topic_max_bytes = 10_000;
    let bus = scratch.open().await.unwrap();
    let mut sub = bus.subscribe("slow", &["t"]).unwrap();
    let mut accepted = 0;
    let mut refused = 0;
    for i in 0..200u32 {
        let mut payload = vec![0u8; 998];
        payload[..4].copy_from_slice(&i.to_le_bytes());
        match bus.publish("t", "k", payload).await {
            Ok(()) => accepted += 1,
            Err(EventBusError::Full { topic, max_bytes }) => {
                assert_eq!((topic.as_str(), max_bytes), ("t", 10_000));
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // 1,000 bytes an event (payload, key, topic name).
    assert_eq!((accepted, refused), (10, 190));
    let mut last = None;
    for i in 0..10u32 {
        let record = sub.next().await.unwrap();
        assert_eq!(
            record.payload[..4],
            i.to_le_bytes(),
            "nothing unread dropped"
        );
        last = Some(record);
    }
    sub.commit(last.as_ref().unwrap()).unwrap();
    // Read and committed: the topic takes events again (retention runs before refusing).
    bus.publish("t", "k", vec![7; 998]).await.unwrap();
    assert_eq!(sub.next().await.unwrap().payload, vec![7; 998]);
}

#[tokio::test]
async fn a_topic_nobody_reads_drops_its_oldest_at_its_bound() {
    let mut scratch = Scratch::new();
    scratch.config.dead_letter_max_bytes = 10_000;
    let bus = scratch.open().await.unwrap();
    let topic = "telemetry.dead-letter.v1";
    for _ in 0..100 {
        bus.publish(topic, "d", vec![0; 900])
            .await
            .expect("a topic nobody reads is never full");
    }
    let mut late = bus.subscribe("late", &[topic]).unwrap();
    let first = late.next().await.unwrap().offset;
    assert!(first > 80, "the oldest went first: starts at {first}");
}

#[tokio::test]
async fn consumers_far_behind_read_from_the_table_in_order() {
    let mut scratch = Scratch::new();
    // A tail of ~3 events: almost everything comes from the table.
    scratch.config.tail_cache_bytes = 3_000;
    let bus = scratch.open().await.unwrap();
    let mut sub = bus.subscribe("g", &["a", "b"]).unwrap();
    for i in 0..2_500u32 {
        let topic = if i % 2 == 0 { "a" } else { "b" };
        bus.publish(topic, "k", i.to_le_bytes().repeat(250))
            .await
            .unwrap();
    }
    let mut next = [0i64; 2];
    for _ in 0..2_500 {
        let record = sub.next().await.unwrap();
        let index = usize::from(record.topic == "b");
        assert_eq!(record.offset, next[index], "{}", record.topic);
        next[index] += 1;
        sub.commit(&record).unwrap();
    }
    assert_eq!(next, [1_250, 1_250], "both topics read (neither starves)");
}

#[tokio::test]
async fn concurrent_publishers_get_every_event_read_once_in_offset_order() {
    let scratch = Scratch::new();
    let bus = scratch.open().await.unwrap();
    let mut sub = bus.subscribe("g", &["t"]).unwrap();
    // Many rounds in flight at once: offsets are assigned in publish order and seen in order.
    let publishes: Vec<_> = (0..5_000u32)
        .map(|i| tokio::spawn(bus.publish("t", "k", i.to_le_bytes().repeat(64))))
        .collect();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::with_capacity(5_000);
        for expected in 0..5_000i64 {
            let record = sub.next().await.unwrap();
            assert_eq!(record.offset, expected, "no gap, no reordering");
            seen.push(u32::from_le_bytes(record.payload[..4].try_into().unwrap()));
        }
        seen
    });
    for p in publishes {
        p.await.unwrap().unwrap();
    }
    let seen = reader.await.unwrap();
    assert_eq!(seen, (0..5_000).collect::<Vec<_>>(), "publish order kept");
}
