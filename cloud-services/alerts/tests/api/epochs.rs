//! Stream positions are `(epoch, seq)`: one huge seq cannot swallow a device's readings for good
//! (the duplicates are counted, and the dropout watchdog speaks up), a hub that starts over in a
//! new epoch is heard again, and replaying an epoch change changes nothing.

use std::time::Duration;

use episante_kit::Shutdown;
use episante_protocol::{ReadingBatch, MAX_SEQ};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{
    batches, call, eventually, metric, now_s, spawn_app_with, start_instance, Options, NORMAL,
    TACHY,
};
use crate::scenarios::wait_until_consumed;

const DUPLICATES: &str = "episante_alerts_duplicate_readings_total";

/// `batches(..)` of stream `epoch`.
fn in_epoch(epoch: u64, mut batches: Vec<ReadingBatch>) -> Vec<ReadingBatch> {
    for b in &mut batches {
        b.epoch = epoch;
    }
    batches
}

fn rule_alerts<'a>(alerts: &'a [Value], rule: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["rule_key"] == rule).collect()
}

#[tokio::test]
async fn a_huge_seq_counts_later_readings_as_duplicates_until_the_hub_starts_a_new_epoch() {
    let app = spawn_app_with(Options {
        kafka: true,
        tweak: |c| c.dropout_watchdog_secs = 3,
    })
    .await;
    let patient = app.monitored_patient("hubp", &[]).await;
    let pool = app.pool().await;
    let old_epoch = 1_764_000_000_000;
    let t0 = now_s() - 900;
    // Five minutes of normal readings, then one with the largest seq there is.
    let mut first = in_epoch(old_epoch, batches("hubp", 0, t0, 10, 30, NORMAL));
    let mut huge = in_epoch(old_epoch, batches("hubp", 0, t0 + 300, 10, 1, NORMAL));
    huge[0].readings[0].seq = MAX_SEQ;
    first.append(&mut huge);
    app.publish(&first).await;
    wait_until_consumed(&pool, 31).await;

    // The hub carries on with ordinary seqs in the same epoch, live: every one is a duplicate of
    // what the huge seq claimed, so the patient is unmonitored — and the watchdog must say so,
    // although the device is heard from every second.
    let mut seq = 31;
    let dropout = eventually(
        60,
        "a dropout alert for a device sending only duplicates",
        || {
            seq += 1;
            let mut live = in_epoch(old_epoch, batches("hubp", seq, now_s() - 1, 10, 1, NORMAL));
            live[0].received_at_ms = Some(chrono::Utc::now().timestamp_millis());
            let app = &app;
            async move {
                app.publish(&live).await;
                tokio::time::sleep(Duration::from_millis(900)).await;
                app.alerts_of(patient)
                    .await
                    .into_iter()
                    .find(|a| a["rule_key"] == "device.dropout")
            }
        },
    )
    .await;
    assert_eq!(dropout["state"], "active");
    let counted: i64 = sqlx::query_scalar("SELECT sum(count)::bigint FROM vitals_minute")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(counted, 31, "no duplicate reached the rollups");
    let dups = metric(&app.base, DUPLICATES, r#"device_id="hubp""#).await;
    assert!(dups >= 1.0, "duplicates are counted per device: {dups}");

    // The hub starts over: a new, larger epoch, seqs from 1. Tachycardia is heard and alerted.
    let restarted = in_epoch(
        old_epoch + 1,
        batches("hubp", 0, now_s() - 300, 10, 30, TACHY),
    );
    app.publish(&restarted).await;
    wait_until_consumed(&pool, 61).await;
    let tachy = app.wait_for_alert(patient, "heart_rate.high").await;
    assert_eq!(tachy["state"], "active");
}

#[tokio::test]
async fn replaying_an_epoch_change_changes_nothing() {
    let app = spawn_app_with(Options {
        kafka: true,
        ..Default::default()
    })
    .await;
    let patient = app.monitored_patient("hube", &[]).await;
    let pool = app.pool().await;
    let t0 = now_s() - 3600;
    // Epoch 1: five minutes of tachycardia. The hub then loses its buffer and starts epoch 2
    // (seqs from 1 again): seven minutes of recovery, long enough to auto-resolve.
    let old = in_epoch(1, batches("hube", 0, t0, 10, 30, TACHY));
    let new = in_epoch(2, batches("hube", 0, t0 + 300, 10, 40, NORMAL));
    app.publish(&old).await;
    app.publish(&new).await;
    wait_until_consumed(&pool, 70).await;
    let resolved = eventually(30, "the episode to auto-resolve", || async {
        let alerts = app.alerts_of(patient).await;
        let tachy = rule_alerts(&alerts, "heart_rate.high");
        (tachy.len() == 1 && tachy[0]["state"] == "resolved").then(|| tachy[0].clone())
    })
    .await;
    assert_eq!(resolved["resolved_by"], "system");
    let before = app.alerts_of(patient).await;

    // The old epoch's batches are delivered again after the new one's: all duplicates.
    app.publish(&old).await;
    eventually(30, "the redelivery to be consumed", || async {
        let dups = metric(&app.base, DUPLICATES, r#"device_id="hube""#).await;
        (dups >= 30.0).then_some(())
    })
    .await;
    // And a second deployment's consumer group replays the whole topic into the same database.
    let mut replay = app.settings.clone();
    replay.alerts.consumer_group = format!("{}-replay", replay.alerts.consumer_group);
    let shutdown = Shutdown::new();
    let base = start_instance(&replay, app.bus.clone(), &shutdown).await;
    eventually(60, "the replay to be consumed", || async {
        let dups = metric(&base, DUPLICATES, r#"device_id="hube""#).await;
        (dups >= 100.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let counted: i64 = sqlx::query_scalar("SELECT sum(count)::bigint FROM vitals_minute")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(counted, 70, "every reading counted once");
    let (_, body) = call(
        &app.http,
        &base,
        Method::GET,
        &format!("/v1/alerts?state=all&patient_id={patient}&limit=1000"),
        app.admin(),
        None,
    )
    .await;
    let after = body["alerts"].as_array().unwrap();
    assert_eq!(after, &before, "the replay raised and resolved nothing");
    assert_eq!(rule_alerts(after, "heart_rate.high").len(), 1);
    shutdown.trigger();
}
