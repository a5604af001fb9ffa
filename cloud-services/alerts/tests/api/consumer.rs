//! The consumer's delivery guarantees: duplicates and restarts create no duplicate alerts and no
//! double-counted readings; unassigned devices raise nothing.

use std::time::Duration;

use episante_kit::Shutdown;

use crate::helpers::{
    batches, eventually, now_s, spawn_app_with, start_instance, Options, NORMAL, TACHY,
};
use crate::scenarios::wait_until_consumed;

#[tokio::test]
async fn a_restart_mid_stream_and_redelivered_readings_create_no_duplicates() {
    let app = spawn_app_with(Options {
        kafka: true,
        ..Default::default()
    })
    .await;
    let patient = app.monitored_patient("hubr", &[]).await;
    let pool = app.pool().await;
    let t0 = now_s() - 3600;
    // Ten minutes normal, then tachycardia…
    let normal = batches("hubr", 0, t0, 10, 60, NORMAL);
    let tachy_a = batches("hubr", 60, t0 + 600, 10, 30, TACHY);
    app.publish(&normal).await;
    app.publish(&tachy_a).await;
    wait_until_consumed(&pool, 90).await;
    let first = app.wait_for_alert(patient, "heart_rate.high").await;

    // …the service stops mid-episode; meanwhile more tachycardia arrives, and the broker
    // redelivers the last batches (a producer retry).
    app.shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tachy_b = batches("hubr", 90, t0 + 900, 10, 30, TACHY);
    app.publish(&tachy_b).await;
    app.publish(&tachy_a[20..]).await;

    // A new instance, same database and group, picks up where the old one committed.
    let shutdown = Shutdown::new();
    let base = start_instance(&app.settings, app.bus.clone(), &shutdown).await;
    wait_until_consumed(&pool, 120).await;
    // Recovery, long enough to auto-resolve.
    let recovery = batches("hubr", 120, t0 + 1200, 10, 40, NORMAL);
    app.publish(&recovery).await;
    wait_until_consumed(&pool, 160).await;

    let alerts = eventually(30, "auto-resolution", || async {
        let (_, body) = crate::helpers::call(
            &app.http,
            &base,
            reqwest::Method::GET,
            &format!("/v1/alerts?state=all&patient_id={patient}"),
            app.admin(),
            None,
        )
        .await;
        let alerts = body["alerts"].as_array()?.clone();
        alerts
            .iter()
            .all(|a| a["state"] == "resolved")
            .then_some(alerts)
    })
    .await;
    let tachy: Vec<_> = alerts
        .iter()
        .filter(|a| a["rule_key"] == "heart_rate.high")
        .collect();
    assert_eq!(tachy.len(), 1, "one alert for the episode: {alerts:?}");
    assert_eq!(tachy[0]["id"], first["id"]);
    assert_eq!(tachy[0]["resolved_by"], "system");
    // Every reading counted once despite the redelivery.
    let counted: i64 = sqlx::query_scalar("SELECT sum(count)::bigint FROM vitals_minute")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(counted, 160);
    let dups: f64 = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .lines()
        .find(|l| l.starts_with("episante_alerts_duplicate_readings_total"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .unwrap();
    assert!(
        dups >= 10.0,
        "the redelivered readings were recognised: {dups}"
    );
    shutdown.trigger();
}
