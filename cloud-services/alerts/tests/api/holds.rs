//! Holds run on the platform's clock: a hub whose clock runs ahead cannot auto-resolve an alert
//! earlier, in received (wall) time, than the hold.

use episante_protocol::{Reading, ReadingBatch, VitalKind};
use serde_json::Value;

use crate::helpers::{batches, now_s, spawn_app_with, Options, TestApp, TACHY};
use crate::scenarios::wait_until_consumed;

/// One batch received at `received_s` carrying normal heart rates measured at `ts_s` (seconds).
fn normal(seq: &mut u64, received_s: i64, ts_s: &[i64]) -> ReadingBatch {
    ReadingBatch {
        v: 1,
        device_id: "hubk".into(),
        epoch: 0,
        received_at_ms: Some(received_s * 1000),
        readings: ts_s
            .iter()
            .map(|ts| {
                *seq += 1;
                Reading {
                    seq: *seq,
                    ts_ms: ts * 1000,
                    kind: VitalKind::HeartRate,
                    // Never flat (that is the flatline rule's business).
                    value: 72.0 + (*seq % 2) as f64,
                    unit: VitalKind::HeartRate.unit().into(),
                }
            })
            .collect(),
    }
}

async fn tachycardia(app: &TestApp, patient: uuid::Uuid) -> Value {
    app.alerts_of(patient)
        .await
        .into_iter()
        .find(|a| a["rule_key"] == "heart_rate.high")
        .expect("the tachycardia alert")
}

#[tokio::test]
async fn device_clocks_running_ahead_cannot_end_the_hold_early() {
    let app = spawn_app_with(Options {
        kafka: true,
        ..Default::default()
    })
    .await;
    let patient = app.monitored_patient("hubk", &[]).await;
    let pool = app.pool().await;
    // Five minutes of tachycardia, received as measured.
    let t0 = now_s() - 3600;
    let tachy = batches("hubk", 0, t0, 10, 30, TACHY);
    app.publish(&tachy).await;
    wait_until_consumed(&pool, 30).await;
    app.wait_for_alert(patient, "heart_rate.high").await;

    // Recovery, received at `r`: the hub's clock has raced ahead, its batch covers five minutes,
    // then it stays five minutes ahead of the broker. The hold (120 s) is over in device time at
    // once, but only 110 s of it have passed on the broker's clock.
    let r = t0 + 300;
    let mut seq = 30;
    let mut recovery = vec![normal(
        &mut seq,
        r,
        &(0..30).map(|i| r + i * 10).collect::<Vec<_>>(),
    )];
    for k in 1..=11 {
        recovery.push(normal(&mut seq, r + k * 10, &[r + k * 10 + 300]));
    }
    app.publish(&recovery).await;
    wait_until_consumed(&pool, 30 + 30 + 11).await;
    let alert = tachycardia(&app, patient).await;
    assert_eq!(
        alert["state"], "active",
        "resolved before the hold had passed on the broker's clock: {alert}"
    );

    // Received 120 s and more after recovery began: the hold is over.
    let more: Vec<_> = (12..=15)
        .map(|k| normal(&mut seq, r + k * 10, &[r + k * 10 + 300]))
        .collect();
    app.publish(&more).await;
    wait_until_consumed(&pool, 30 + 30 + 15).await;
    let alert = crate::helpers::eventually(30, "auto-resolution after the hold", || async {
        let alert = tachycardia(&app, patient).await;
        (alert["state"] == "resolved").then_some(alert)
    })
    .await;
    assert_eq!(alert["resolved_by"], "system");
}
