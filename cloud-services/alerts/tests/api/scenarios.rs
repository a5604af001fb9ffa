//! Labelled simulator scenarios through the real consumer: exactly the expected alerts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use episante_kit::events::EventBus;
use episante_kit::Shutdown;
use episante_protocol::{Reading, ReadingBatch};
use episante_sim::scenario::{plan, AnomalyKind, ScenarioName};
use episante_sim::vitals::VitalsModel;
use uuid::Uuid;

use crate::helpers::{
    eventually, kafka_bus, settings_for, spawn_app_with, start_instance, Options, TestApp,
};

/// The rule each anomaly must raise.
pub fn expected_rule(kind: AnomalyKind) -> &'static str {
    match kind {
        AnomalyKind::Tachycardia => "heart_rate.high",
        AnomalyKind::Bradycardia => "heart_rate.low",
        AnomalyKind::Hypoxia => "spo2.low",
        AnomalyKind::Fever => "temperature.high",
        AnomalyKind::Hypotension => "systolic_bp.low",
        AnomalyKind::Flatline => "heart_rate.flatline",
        AnomalyKind::Dropout | AnomalyKind::Offline => "device.dropout",
    }
}

/// An hour of simulated traces (one sample every 10 s) for `devices` devices of `scenario`.
pub fn traces(
    devices: usize,
    seed: u64,
) -> (
    Vec<String>,
    Vec<ReadingBatch>,
    BTreeSet<(String, &'static str)>,
) {
    let ids: Vec<String> = (0..devices).map(|i| format!("sim{i:03}")).collect();
    let start_ms = (chrono::Utc::now().timestamp() - 7200) * 1000;
    let duration_ms = 3_600_000;
    let windows = plan(ScenarioName::Mixed, &ids, seed, start_ms, duration_ms);
    let expected = windows
        .iter()
        .map(|w| (w.device.clone(), expected_rule(w.kind)))
        .collect();
    let mut batches = Vec::new();
    let mut models: Vec<VitalsModel> = (0..devices)
        .map(|i| VitalsModel::new(seed, i as u64))
        .collect();
    let mut seqs = vec![0u64; devices];
    let step_ms = 10_000;
    let mut t = start_ms;
    while t < start_ms + duration_ms {
        for (i, id) in ids.iter().enumerate() {
            let sample = models[i].sample(t, 10.0, id, &windows);
            if sample.is_empty() {
                continue;
            }
            let readings = sample
                .into_iter()
                .map(|(kind, value)| {
                    seqs[i] += 1;
                    Reading {
                        seq: seqs[i],
                        ts_ms: t,
                        kind,
                        value,
                        unit: kind.unit().into(),
                    }
                })
                .collect();
            batches.push(ReadingBatch {
                v: 1,
                device_id: id.clone(),
                epoch: 0,
                // Received when measured, as the broker stamps a live hub's batches.
                received_at_ms: Some(t),
                readings,
            });
        }
        t += step_ms;
    }
    (ids, batches, expected)
}

/// (device, rule) → number of alerts, read from the database.
pub async fn alert_counts(
    app: &TestApp,
    pool: &sqlx::PgPool,
    patients: &BTreeMap<Uuid, String>,
) -> BTreeMap<(String, String), i64> {
    let _ = app;
    let rows: Vec<(Uuid, String, i64)> =
        sqlx::query_as("SELECT patient_id, rule_key, count(*) FROM alerts GROUP BY 1, 2")
            .fetch_all(pool)
            .await
            .unwrap();
    rows.into_iter()
        .map(|(p, rule, n)| ((patients[&p].clone(), rule), n))
        .collect()
}

pub async fn wait_until_consumed(pool: &sqlx::PgPool, readings: i64) {
    eventually(120, "every reading to be applied", || {
        let pool = pool.clone();
        async move {
            let n: Option<i64> = sqlx::query_scalar("SELECT sum(count)::bigint FROM vitals_minute")
                .fetch_one(&pool)
                .await
                .ok()?;
            (n == Some(readings)).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn labelled_scenarios_produce_exactly_the_expected_alerts() {
    let app = spawn_app_with(Options {
        kafka: true,
        ..Default::default()
    })
    .await;
    let (ids, batches, expected) = traces(24, 7);
    let mut patients = BTreeMap::new();
    for id in &ids {
        let p = app.monitored_patient(id, &[]).await;
        patients.insert(p, id.clone());
    }
    // One more device, unassigned, in tachycardia: stored, no alert.
    let stray = crate::helpers::batches(
        "stray",
        0,
        crate::helpers::now_s() - 600,
        10,
        30,
        crate::helpers::TACHY,
    );
    app.publish(&batches).await;
    app.publish(&stray).await;
    let total: i64 = batches
        .iter()
        .chain(&stray)
        .map(|b| b.readings.len() as i64)
        .sum();
    let pool = app.pool().await;
    wait_until_consumed(&pool, total).await;
    // Let the last transactions' alerts land.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let counts = alert_counts(&app, &pool, &patients).await;
    let got: BTreeSet<(String, &str)> = counts
        .keys()
        .map(|(d, r)| (d.clone(), r.as_str()))
        .collect();
    assert_eq!(got, expected, "alerts raised vs ground truth");
    for (key, n) in &counts {
        assert_eq!(*n, 1, "one alert per episode for {key:?}");
    }
    let stray_rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM vitals_minute WHERE device_id = 'stray' AND patient_id IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(stray_rows > 0, "unassigned readings are stored");
}

#[tokio::test]
async fn two_instances_in_one_group_split_partitions_and_agree_with_one() {
    let app = spawn_app_with(Options {
        kafka: true,
        ..Default::default()
    })
    .await;
    let kafka = app.kafka.as_ref().unwrap();
    // A second deployment: two instances sharing one group and one database.
    let pair_db = episante_testkit::TestDb::new();
    let pair_settings = settings_for(&app.auth, &pair_db, |_| {});
    let pair_shutdown = Shutdown::new();
    let bus_a: Arc<dyn EventBus> = kafka_bus(kafka);
    let bus_b: Arc<dyn EventBus> = kafka_bus(kafka);
    let a = start_instance(&pair_settings, bus_a, &pair_shutdown).await;
    let b = start_instance(&pair_settings, bus_b, &pair_shutdown).await;

    let (ids, batches, _) = traces(16, 11);
    let mut patients = BTreeMap::new();
    for id in &ids {
        let p = app.monitored_patient(id, &[]).await;
        patients.insert(p, id.clone());
    }
    let single = app.pool().await;
    let pair = {
        let url = pair_db.admin_url();
        sqlx::PgPool::connect(&url).await.unwrap()
    };
    eventually(60, "the pair to learn the assignments", || {
        let pair = pair.clone();
        async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM device_patients")
                .fetch_one(&pair)
                .await
                .ok()?;
            (n == 16).then_some(())
        }
    })
    .await;
    app.publish(&batches).await;
    let total: i64 = batches.iter().map(|b| b.readings.len() as i64).sum();
    wait_until_consumed(&single, total).await;
    wait_until_consumed(&pair, total).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let one = alert_counts(&app, &single, &patients).await;
    let two = alert_counts(&app, &pair, &patients).await;
    assert!(!one.is_empty());
    assert_eq!(one, two, "one instance and a pair raise the same alerts");
    // Both instances of the pair did work.
    for base in [&a, &b] {
        let metrics = reqwest::get(format!("{base}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let applied: f64 = metrics
            .lines()
            .find(|l| l.starts_with("episante_alerts_readings_total"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        assert!(
            applied > 0.0,
            "instance {base} consumed nothing:\n{metrics}"
        );
    }
    pair_shutdown.trigger();
}

/// An instance killed outright (no clean leave, as `kill -9`) holds its partitions only until its
/// leases expire; then the other instance reads them from the last commit. (With Kafka group
/// membership deciding, tansu never moved a dead member's partitions: this failed.)
#[tokio::test]
async fn a_killed_instance_hands_its_partitions_to_the_other() {
    let app = spawn_app_with(Options {
        kafka: true,
        ..Default::default()
    })
    .await;
    let kafka = app.kafka.as_ref().unwrap();
    let pair_db = episante_testkit::TestDb::new();
    let pair_settings = settings_for(&app.auth, &pair_db, |a| a.partition_lease_ms = 2_000);

    // Instance A on a runtime of its own, so that it can be killed: shutting the runtime down
    // drops its tasks where they stand, without the clean leave a stop would do.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    let (settings_a, bus_a) = (pair_settings.clone(), kafka_bus(kafka));
    let a_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let base = runtime.block_on(start_instance(&settings_a, bus_a, &Shutdown::new()));
        ready_tx.send(base).unwrap();
        kill_rx.recv().unwrap();
        runtime.shutdown_background();
    });
    let _a = tokio::task::spawn_blocking(move || ready_rx.recv().unwrap())
        .await
        .unwrap();
    let b_shutdown = Shutdown::new();
    let _b = start_instance(&pair_settings, kafka_bus(kafka), &b_shutdown).await;
    let pair = sqlx::PgPool::connect(&pair_db.admin_url()).await.unwrap();
    let owners = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT owner FROM consumer_leases WHERE expires_at > now()",
        )
        .fetch_all(&pool)
        .await
        .ok()
    };
    eventually(60, "both instances to hold leases", || {
        let pair = pair.clone();
        async move { owners(pair).await.filter(|o| o.len() == 2).map(|_| ()) }
    })
    .await;

    kill_tx.send(()).unwrap();
    a_thread.join().unwrap();
    let (ids, batches, _) = traces(8, 12);
    for id in &ids {
        app.monitored_patient(id, &[]).await;
    }
    app.publish(&batches).await;
    let total: i64 = batches.iter().map(|b| b.readings.len() as i64).sum();
    wait_until_consumed(&pair, total).await;
    // Leases last 2 s here: on a loaded machine a renewal can land just after one expired, so
    // the count is read until it settles rather than once.
    eventually(30, "one instance holding every partition", || {
        let pair = pair.clone();
        async move { owners(pair).await.filter(|o| o.len() == 1).map(|_| ()) }
    })
    .await;
    b_shutdown.trigger();
}
