//! Booking under contention, idempotent retries, the booking rules, cancel and reschedule.

use chrono::Duration;
use episante_bookings::events::EventKind;
use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_attempts_on_one_slot_book_it_exactly_once() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    let start = practice.slot_after(Duration::days(2));
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let http = app.http.clone();
        let url = app.url("/v1/appointments");
        let token = app.admin().to_string();
        // A different patient each time: nothing but the slot is contended. Half the attempts
        // carry an idempotency key, which takes them past the early check straight into the
        // transaction, where only the exclusion constraint can stop them.
        let body = practice.booking(start, Some(Uuid::new_v4()));
        attempts.spawn(async move {
            let mut request = http.post(url).bearer_auth(token).json(&body);
            if i % 2 == 0 {
                request = request.header("Idempotency-Key", format!("attempt-{i}"));
            }
            request.send().await.map(|r| r.status())
        });
    }
    let mut created = 0;
    let mut conflicts = 0;
    let mut other = Vec::new();
    while let Some(result) = attempts.join_next().await {
        match result.unwrap() {
            Ok(StatusCode::CREATED) => created += 1,
            Ok(StatusCode::CONFLICT) => conflicts += 1,
            unexpected => other.push(format!("{unexpected:?}")),
        }
    }
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert_eq!((created, conflicts), (1, 999));
    let booked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM appointments WHERE practitioner_id = $1 AND status <> 'cancelled'",
    )
    .bind(practice.practitioner)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(booked, 1);
    // The database itself refuses an overlap, whatever the code above it does.
    let overlap = sqlx::query(
        "INSERT INTO appointments (id, practitioner_id, patient_id, appointment_type_id, specialty,
            starts_at, ends_at, booked_by)
         SELECT $1, practitioner_id, $2, appointment_type_id, specialty,
                starts_at + interval '10 minutes', ends_at + interval '10 minutes', 'test'
         FROM appointments WHERE practitioner_id = $3",
    )
    .bind(Uuid::new_v4())
    .bind(Uuid::new_v4())
    .bind(practice.practitioner)
    .execute(&app.pool)
    .await
    .unwrap_err();
    let constraint = overlap.as_database_error().and_then(|e| e.constraint());
    assert_eq!(constraint, Some("appointments_no_overlap"));
    // Exactly one booked event leaves through the outbox.
    let events = app
        .wait_for_events("the booked event", |e| {
            e.iter().any(|e| e.kind == EventKind::Booked)
        })
        .await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.kind == EventKind::Booked)
            .count(),
        1
    );
}

#[tokio::test]
async fn retries_with_an_idempotency_key_get_the_same_answer() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "dermatology").await;
    let patient = app.user(Role::Patient, "Pat").await;
    let start = practice.slot_after(Duration::days(1));
    let body = practice.booking(start, None);

    let first = expect_status(
        app.book(&patient.token, &body, Some("key-1")).await,
        StatusCode::CREATED,
    )
    .await;
    let retry = app.book(&patient.token, &body, Some("key-1")).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(retry.headers().get("idempotent-replayed").unwrap(), "true");
    let retry: serde_json::Value = retry.json().await.unwrap();
    assert_eq!(retry, first);

    // Same key, another request: refused, and nothing booked.
    let other = practice.booking(start + Duration::hours(1), None);
    let r = app.book(&patient.token, &other, Some("key-1")).await;
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("Idempotency-Key"));

    // Keys are per caller: another patient may use the same key for their own booking.
    let other_patient = app.user(Role::Patient, "Other").await;
    let r = app.book(&other_patient.token, &body, Some("key-1")).await;
    assert_problem(r, StatusCode::CONFLICT).await;

    // A conflict is remembered too: the retry gets the same 409 even after the slot frees up.
    let r = app.book(&other_patient.token, &body, Some("key-2")).await;
    assert_problem(r, StatusCode::CONFLICT).await;
    let cancel = app
        .post(
            &format!("/v1/appointments/{}/cancel", id_of(first.clone())),
            &patient.token,
            &json!({}),
        )
        .await;
    expect_status(cancel, StatusCode::OK).await;
    let r = app.book(&other_patient.token, &body, Some("key-2")).await;
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    assert_problem(r, StatusCode::CONFLICT).await;

    // Concurrent retries of one new request book once and all see the same appointment.
    let third = app.user(Role::Patient, "Third").await;
    let body = practice.booking(start + Duration::hours(2), None);
    let mut retries = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let http = app.http.clone();
        let url = app.url("/v1/appointments");
        let token = third.token.clone();
        let body = body.clone();
        retries.spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "same-click")
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        });
    }
    let mut ids = std::collections::HashSet::new();
    while let Some(result) = retries.join_next().await {
        let (status, body) = result.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.insert(id_of(body));
    }
    assert_eq!(ids.len(), 1);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM appointments WHERE patient_id = $1")
        .bind(third.id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);

    // A malformed key is a client error.
    let r = app.book(&third.token, &body, Some(&"k".repeat(300))).await;
    assert_problem(r, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn a_patient_cannot_hold_two_appointments_of_one_specialty_within_n_days() {
    let app = spawn_app_with(|c| c.same_specialty_min_days = 7).await;
    let cardio = open_practice(&app, "cardiology").await;
    let derma = open_practice(&app, "dermatology").await;
    let patient = app.user(Role::Patient, "Pat").await;
    let day1 = cardio.slot_after(Duration::days(1));
    expect_status(
        app.book(&patient.token, &cardio.booking(day1, None), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    let r = app
        .book(
            &patient.token,
            &cardio.booking(day1 + Duration::days(3), None),
            None,
        )
        .await;
    let problem = assert_problem(r, StatusCode::CONFLICT).await;
    assert!(problem["detail"].as_str().unwrap().contains("cardiology"));
    // Another specialty the same week is fine, and so is cardiology 8 days later.
    expect_status(
        app.book(
            &patient.token,
            &derma.booking(day1 + Duration::days(3), None),
            None,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.book(
            &patient.token,
            &cardio.booking(day1 + Duration::days(8), None),
            None,
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn cancellation_closes_n_hours_before_for_patients_and_withdraws_reminders() {
    let app = spawn_app().await; // default window: 4 h
    let practice = open_practice(&app, "cardiology").await;
    let patient = app.user(Role::Patient, "Pat").await;
    let other = app.user(Role::Patient, "Other").await;

    let soon = practice.slot_after(Duration::hours(2));
    let soon_id = id_of(
        expect_status(
            app.book(&patient.token, &practice.booking(soon, None), None)
                .await,
            StatusCode::CREATED,
        )
        .await,
    );
    let r = app
        .post(
            &format!("/v1/appointments/{soon_id}/cancel"),
            &patient.token,
            &json!({}),
        )
        .await;
    let problem = assert_problem(r, StatusCode::CONFLICT).await;
    assert!(problem["detail"]
        .as_str()
        .unwrap()
        .contains("cancellation closed"));
    // Admins may still cancel (the practitioner is ill), saying why; a body that is not the
    // documented one is refused, an empty one (with a JSON content type, as clients send it)
    // cancels without a reason.
    let cancel = app.url(&format!("/v1/appointments/{soon_id}/cancel"));
    let refused = app
        .http
        .post(&cancel)
        .bearer_auth(app.admin())
        .header("content-type", "application/json")
        .body("{\"why\": 1}")
        .send()
        .await
        .unwrap();
    assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    let cancelled = expect_status(
        app.post(
            &format!("/v1/appointments/{soon_id}/cancel"),
            app.admin(),
            &json!({"reason": "Dr Martin is ill"}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancelled_by"], "practice");
    assert_eq!(cancelled["cancellation_reason"], "Dr Martin is ill");

    let later = practice.slot_after(Duration::hours(30));
    let later_id = id_of(
        expect_status(
            app.book(&other.token, &practice.booking(later, None), None)
                .await,
            StatusCode::CREATED,
        )
        .await,
    );
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE appointment_id = $1 AND kind LIKE 'reminder%'
         AND published_at IS NULL",
    )
    .bind(later_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(pending, 2, "24 h and 1 h reminders");
    // Another patient cannot cancel it (and does not learn it exists).
    let r = app
        .post(
            &format!("/v1/appointments/{later_id}/cancel"),
            &patient.token,
            &json!({}),
        )
        .await;
    assert_problem(r, StatusCode::NOT_FOUND).await;
    expect_status(
        app.post(
            &format!("/v1/appointments/{later_id}/cancel"),
            &other.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE appointment_id = $1 AND kind LIKE 'reminder%'
         AND published_at IS NULL",
    )
    .bind(later_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(pending, 0, "reminders withdrawn");
    // Cancelling twice is a conflict; the slot is free again.
    let r = app
        .post(
            &format!("/v1/appointments/{later_id}/cancel"),
            &other.token,
            &json!({}),
        )
        .await;
    assert_problem(r, StatusCode::CONFLICT).await;
    expect_status(
        app.book(&patient.token, &practice.booking(later, None), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    let events = app
        .wait_for_events("two cancellations", |e| {
            e.iter().filter(|e| e.kind == EventKind::Cancelled).count() == 2
        })
        .await;
    assert!(events
        .iter()
        .any(|e| e.kind == EventKind::Cancelled && e.appointment_id == Some(later_id)));
}

#[tokio::test]
async fn rescheduling_moves_the_appointment_and_its_reminders() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    let patient = app.user(Role::Patient, "Pat").await;
    let first = practice.slot_after(Duration::days(2));
    let old_id = id_of(
        expect_status(
            app.book(&patient.token, &practice.booking(first, None), None)
                .await,
            StatusCode::CREATED,
        )
        .await,
    );
    // Overlapping the old slot is fine: the old one is released in the same transaction.
    let next = first + Duration::minutes(30);
    let new = expect_status(
        app.call(
            Method::POST,
            &format!("/v1/appointments/{old_id}/reschedule"),
            Some(&patient.token),
            Some(&json!({ "starts_at": next })),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(new["rescheduled_from"], json!(old_id));
    assert_eq!(new["status"], "booked");
    let old = expect_status(
        app.get(&format!("/v1/appointments/{old_id}"), &patient.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(old["status"], "cancelled");
    assert_eq!(old["rescheduled_to"], new["id"]);
    let reminders: Vec<(uuid::Uuid, bool)> = sqlx::query_as(
        "SELECT appointment_id, published_at IS NULL FROM outbox WHERE kind LIKE 'reminder%'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let new_id = id_of(new);
    assert_eq!(
        reminders
            .iter()
            .filter(|(a, live)| *a == new_id && *live)
            .count(),
        2
    );
    assert_eq!(
        reminders
            .iter()
            .filter(|(a, live)| *a == old_id && *live)
            .count(),
        0
    );
    // Into a taken slot: 409, and the original stays booked.
    let someone = app.user(Role::Patient, "Someone").await;
    let taken = first + Duration::hours(3);
    expect_status(
        app.book(&someone.token, &practice.booking(taken, None), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    let r = app
        .call(
            Method::POST,
            &format!("/v1/appointments/{new_id}/reschedule"),
            Some(&patient.token),
            Some(&json!({ "starts_at": taken })),
        )
        .await;
    assert_problem(r, StatusCode::CONFLICT).await;
    let still = expect_status(
        app.get(&format!("/v1/appointments/{new_id}"), &patient.token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(still["status"], "booked");
    app.wait_for_events("the rescheduled event", |e| {
        e.iter().any(|e| {
            e.kind == EventKind::Rescheduled
                && e.appointment_id == Some(new_id)
                && e.previous_appointment_id == Some(old_id)
        })
    })
    .await;
}
