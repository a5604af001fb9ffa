//! Every read and write of a patient's appointments is published on `audit.events.v1` (records
//! chains them into the one trail) with who, role, patient, action, purpose, when — before the
//! answer leaves.

use std::time::Duration;

use chrono::Duration as Span;
use episante_kit::audit::{AuditEvent, AUDIT_TOPIC};
use episante_kit::events::EventBus;
use episante_kit::Role;
use reqwest::{Method, StatusCode};
use uuid::Uuid;

use crate::helpers::{expect_status, id_of, open_practice, spawn_app, TestApp};

/// Every audit event published so far.
async fn audit_events(app: &TestApp) -> Vec<AuditEvent> {
    let group = format!("test-{}", Uuid::new_v4());
    let mut sub = app.bus.subscribe(&group, &[AUDIT_TOPIC]).unwrap();
    let mut events = Vec::new();
    while let Ok(Ok(record)) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await {
        events.push(serde_json::from_slice(&record.payload).expect("audit event JSON"));
    }
    events
}

#[tokio::test]
async fn appointment_reads_and_marks_are_audited_with_who_why_and_whose() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    let patient = app.user(Role::Patient, "Pat Audit").await;
    let starts_at = practice.slot_after(Span::hours(3));
    let booked = app
        .book(&patient.token, &practice.booking(starts_at, None), None)
        .await;
    let appointment = id_of(expect_status(booked, StatusCode::CREATED).await);

    // The patient's practitioner reads it, giving a purpose.
    let read = app
        .http
        .get(app.url(&format!("/v1/appointments/{appointment}")))
        .bearer_auth(&practice.clinician.token)
        .header("x-purpose-of-use", "TREAT")
        .send()
        .await
        .unwrap();
    expect_status(read, StatusCode::OK).await;
    // An admin lists the patient's appointments, and lists a patient who has none.
    let listed = app
        .get(
            &format!("/v1/appointments?patient_id={}", patient.id),
            app.admin(),
        )
        .await;
    expect_status(listed, StatusCode::OK).await;
    let nobody = Uuid::new_v4();
    let empty = app
        .get(
            &format!("/v1/appointments?patient_id={nobody}"),
            app.admin(),
        )
        .await;
    expect_status(empty, StatusCode::OK).await;
    // The clinician marks the patient arrived.
    let marked = app
        .call(
            Method::POST,
            &format!("/v1/appointments/{appointment}/arrived"),
            Some(&practice.clinician.token),
            None,
        )
        .await;
    expect_status(marked, StatusCode::OK).await;
    // A bad purpose is a clear 400, and nothing is served.
    let bad = app
        .http
        .get(app.url(&format!("/v1/appointments/{appointment}")))
        .bearer_auth(app.admin())
        .header("x-purpose-of-use", "no spaces")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let events = audit_events(&app).await;
    let of = |action: &str| -> Vec<&AuditEvent> {
        events.iter().filter(|e| e.action == action).collect()
    };
    let reads = of("appointment.read");
    assert_eq!(reads.len(), 1, "{events:#?}");
    let read = reads[0];
    assert_eq!(read.service, "bookings");
    assert_eq!(read.actor, practice.clinician.id.to_string());
    assert_eq!(read.actor_role, "clinician");
    assert_eq!(read.patient_id, Some(patient.id));
    assert_eq!(read.purpose, "TREAT");
    assert!(read.at <= chrono::Utc::now());

    let lists = of("appointment.list");
    assert_eq!(lists.len(), 2, "{events:#?}");
    assert_eq!(lists[0].patient_id, Some(patient.id));
    assert_eq!(lists[0].actor_role, "admin");
    assert_eq!(lists[0].purpose, "unspecified");
    assert_eq!(lists[0].detail["appointments"], 1);
    // A list that found nothing still says whose appointments were asked for.
    assert_eq!(lists[1].patient_id, Some(nobody));
    assert_eq!(lists[1].detail["appointments"], 0);

    let marks = of("appointment.mark");
    assert_eq!(marks.len(), 1, "{events:#?}");
    assert_eq!(marks[0].patient_id, Some(patient.id));
    assert_eq!(marks[0].actor, practice.clinician.id.to_string());
}

#[tokio::test]
async fn appointment_and_waitlist_writes_are_audited_before_they_are_made() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "dermatology").await;
    let patient = app.user(Role::Patient, "Pat Writes").await;
    let first = practice.slot_after(Span::days(3));
    let booked = app
        .book(&patient.token, &practice.booking(first, None), None)
        .await;
    let booked = id_of(expect_status(booked, StatusCode::CREATED).await);
    let moved = app
        .post(
            &format!("/v1/appointments/{booked}/reschedule"),
            &patient.token,
            &serde_json::json!({ "starts_at": first + Span::hours(1) }),
        )
        .await;
    let moved = id_of(expect_status(moved, StatusCode::CREATED).await);
    let cancelled = app
        .post(
            &format!("/v1/appointments/{moved}/cancel"),
            &patient.token,
            &serde_json::json!({}),
        )
        .await;
    expect_status(cancelled, StatusCode::OK).await;
    let today = chrono::Utc::now().date_naive();
    let joined = app
        .post(
            "/v1/waitlist",
            &patient.token,
            &serde_json::json!({
                "practitioner_id": practice.practitioner,
                "from_date": today + Span::days(1),
                "to_date": today + Span::days(7),
            }),
        )
        .await;
    let entry = id_of(expect_status(joined, StatusCode::CREATED).await);
    let listed = app.get("/v1/waitlist", app.admin()).await;
    expect_status(listed, StatusCode::OK).await;
    let left = app
        .call(
            Method::DELETE,
            &format!("/v1/waitlist/{entry}"),
            Some(&patient.token),
            None,
        )
        .await;
    assert_eq!(left.status(), StatusCode::NO_CONTENT);

    let events = audit_events(&app).await;
    let of = |action: &str| -> Vec<&AuditEvent> {
        events.iter().filter(|e| e.action == action).collect()
    };
    for (action, detail_key, id) in [
        ("appointment.book", "appointment_id", booked),
        ("appointment.reschedule", "appointment_id", moved),
        ("appointment.cancel", "appointment_id", moved),
        ("waitlist.join", "waitlist_entry_id", entry),
        ("waitlist.leave", "waitlist_entry_id", entry),
    ] {
        let found = of(action);
        assert_eq!(found.len(), 1, "{action}: {events:#?}");
        assert_eq!(found[0].patient_id, Some(patient.id), "{action}");
        assert_eq!(found[0].actor, patient.id.to_string(), "{action}");
        assert_eq!(found[0].detail[detail_key], id.to_string(), "{action}");
    }
    assert_eq!(
        of("appointment.reschedule")[0].detail["rescheduled_from"],
        booked.to_string()
    );
    let reads = of("waitlist.read");
    assert!(
        reads
            .iter()
            .any(|e| e.patient_id == Some(patient.id) && e.actor_role == "admin"),
        "{events:#?}"
    );
}
