//! Reminders come from outbox rows: a restart loses none, and two instances relaying at once
//! (SKIP LOCKED) send none twice.

use episante_bookings::events::EventKind;
use std::collections::HashSet;
use std::time::Duration as StdDuration;

use chrono::{Duration, DurationRound, Utc};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_due_while_down_are_sent_after_restart_exactly_once() {
    let mut app = spawn_app().await;
    let clinician = app.user(episante_kit::Role::Clinician, "Dr Who").await;
    let (zone, offset) = morning_zone();
    let practitioner = app
        .create_practitioner(&clinician, "cardiology", &zone)
        .await;
    let kind = app.create_type("short", 5).await;

    // Two appointments whose reminders fall due in ~10 s: one an hour away (its 1 h reminder),
    // one a day away (its 24 h reminder). Windows start exactly at those local times.
    let lead = Duration::seconds(10);
    let due = Utc::now().duration_trunc(Duration::seconds(1)).unwrap() + lead;
    let in_an_hour = due + Duration::hours(1);
    let in_a_day = due + Duration::hours(24);
    let window = |t| {
        let start = local_time(t, offset);
        let end = local_time(t + Duration::minutes(5), offset);
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|d| json!({"weekday": d, "start": start, "end": end}))
            .collect::<Vec<_>>()
    };
    let mut weekly = window(in_an_hour);
    weekly.extend(window(in_a_day));
    app.set_availability(practitioner, &json!({ "weekly": weekly }))
        .await;
    let mut ids = Vec::new();
    for starts_at in [in_an_hour, in_a_day] {
        let body = json!({
            "practitioner_id": practitioner, "appointment_type_id": kind,
            "starts_at": starts_at, "patient_id": Uuid::new_v4()
        });
        ids.push(id_of(
            expect_status(
                app.book(app.admin(), &body, None).await,
                StatusCode::CREATED,
            )
            .await,
        ));
    }
    app.wait_for_events("two booked events", |e| {
        e.iter().filter(|e| e.kind == EventKind::Booked).count() == 2
    })
    .await;

    // The service goes down before the reminders are due…
    app.stop_first_instance().await;
    assert!(
        Utc::now() < due,
        "setup took longer than the reminder lead time"
    );
    assert!(app
        .events()
        .await
        .iter()
        .all(|e| e.kind != EventKind::Reminder));
    // …and stays down past the due time.
    let downtime = (due - Utc::now()).to_std().unwrap_or_default() + StdDuration::from_millis(500);
    tokio::time::sleep(downtime).await;

    // Two instances come back (started one after the other: provisioning is not meant to run
    // concurrently) and both relay.
    let a = app.start_instance().await;
    let b = app.start_instance().await;
    let events = app
        .wait_for_events("both reminders", |e| {
            e.iter().filter(|e| e.kind == EventKind::Reminder).count() >= 2
        })
        .await;
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND due_at <= now()",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(pending, 0);
    // Give both relays another pass, then count: nothing was sent twice.
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    let events = {
        let later = app.events().await;
        assert_eq!(later.len(), events.len(), "{later:#?}");
        later
    };
    let reminders: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Reminder)
        .collect();
    assert_eq!(reminders.len(), 2, "{reminders:#?}");
    assert!(reminders
        .iter()
        .any(|e| e.appointment_id == Some(ids[0]) && e.reminder.as_deref() == Some("1h")));
    assert!(reminders
        .iter()
        .any(|e| e.appointment_id == Some(ids[1]) && e.reminder.as_deref() == Some("24h")));
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == EventKind::Booked)
            .count(),
        2,
        "a restart must not resend what was sent"
    );
    let unique: HashSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(unique.len(), events.len());
    // The 24 h reminder of the first and the 1 h reminder of the second are still pending.
    let future: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND kind LIKE 'reminder%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        future, 1,
        "only the second appointment's 1 h reminder is still to come"
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_relays_send_each_outbox_row_exactly_once() {
    let mut app = spawn_app().await;
    app.stop_first_instance().await;
    sqlx::query(
        "INSERT INTO outbox (topic, event_id, kind, key, payload)
         SELECT 'bookings.events.v1', gen_random_uuid(), 'booked', 'k' || i,
                json_build_object('v', 1, 'event_id', gen_random_uuid(), 'type', 'appointment.booked',
                    'appointment_id', NULL, 'patient_id', gen_random_uuid(),
                    'practitioner_id', gen_random_uuid(), 'appointment_type_id', gen_random_uuid(),
                    'starts_at', now(), 'ends_at', now(), 'occurred_at', now())::text::bytea
         FROM generate_series(1, 300) AS i",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let mut relays = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (pool, bus) = (app.pool.clone(), app.bus.clone());
        relays.spawn(async move {
            let mut sent = 0;
            loop {
                let n = episante_kit::events::outbox::publish_due(&pool, &bus, 7)
                    .await
                    .unwrap();
                if n == 0 {
                    return sent;
                }
                sent += n;
            }
        });
    }
    let mut total = 0;
    while let Some(sent) = relays.join_next().await {
        total += sent.unwrap();
    }
    assert_eq!(total, 300);
    let events = app.events().await;
    assert_eq!(events.len(), 300);
    let unique: HashSet<_> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(unique.len(), 300);
}

#[tokio::test]
async fn published_rows_are_purged_after_a_week_and_nothing_else_is() {
    let app = spawn_app().await;
    sqlx::query(
        "INSERT INTO outbox (topic, event_id, kind, key, payload, due_at, published_at)
         SELECT 'bookings.events.v1', gen_random_uuid(), 'booked', 'k', '\\x7b7d',
                now() + interval '1 day', p
         FROM unnest(ARRAY[now() - interval '8 days', now() - interval '6 days', NULL]::timestamptz[]) AS p",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    // (The app's own relay purges when it starts and every ten minutes: the state is what counts.
    // The unpublished row is due tomorrow, so the relay leaves it alone.)
    episante_kit::events::outbox::purge_published(&app.pool)
        .await
        .unwrap();
    let left: Vec<Option<chrono::DateTime<Utc>>> =
        sqlx::query_scalar("SELECT published_at FROM outbox ORDER BY published_at NULLS LAST")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(left.len(), 2);
    assert!(left[0].is_some_and(|at| at < Utc::now() - Duration::days(5)));
    assert!(left[1].is_none());
}
