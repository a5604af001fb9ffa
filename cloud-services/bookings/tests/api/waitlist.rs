//! Waitlist hand-over: a freed slot is offered to the first in line and held for them; when the
//! hold lapses, the next in line gets it.

use chrono::Duration;
use episante_bookings::events::EventKind;
use episante_kit::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

async fn join(app: &TestApp, token: &str, practice: &Practice, day: chrono::DateTime<chrono::Utc>) {
    let date = (day + Duration::hours(practice.zone_offset as i64)).date_naive();
    expect_status(
        app.post(
            "/v1/waitlist",
            token,
            &json!({"practitioner_id": practice.practitioner, "from_date": date, "to_date": date}),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn a_freed_slot_is_held_for_the_first_in_line() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    let holder = app.user(Role::Patient, "Holder").await;
    let first = app.user(Role::Patient, "First").await;
    let second = app.user(Role::Patient, "Second").await;
    let slot = practice.slot_after(Duration::days(2));
    let booked = id_of(
        expect_status(
            app.book(&holder.token, &practice.booking(slot, None), None)
                .await,
            StatusCode::CREATED,
        )
        .await,
    );
    join(&app, &first.token, &practice, slot).await;
    join(&app, &second.token, &practice, slot).await;

    expect_status(
        app.post(
            &format!("/v1/appointments/{booked}/cancel"),
            &holder.token,
            &json!({}),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let events = app
        .wait_for_events("the offer", |e| {
            e.iter().any(|e| e.kind == EventKind::SlotOffered)
        })
        .await;
    let offer = events
        .iter()
        .find(|e| e.kind == EventKind::SlotOffered)
        .unwrap();
    assert_eq!(offer.patient_id, first.id);
    assert_eq!(offer.starts_at, slot);
    assert!(offer.hold_expires_at.is_some());

    // Held: the second in line cannot book it, nor can it be seen in the search (except by the
    // first in line).
    let r = app
        .book(&second.token, &practice.booking(slot, None), None)
        .await;
    let problem = assert_problem(r, StatusCode::CONFLICT).await;
    assert!(problem["detail"].as_str().unwrap().contains("held"));
    let date = (slot + Duration::hours(practice.zone_offset as i64)).date_naive();
    let search = format!(
        "/v1/slots?appointment_type_id={}&practitioner_id={}&from={date}&to={date}&limit=500",
        practice.kind, practice.practitioner
    );
    let offered_to = |token: &str| {
        let url = search.clone();
        let token = token.to_string();
        let app = &app;
        async move {
            let page = expect_status(app.get(&url, &token).await, StatusCode::OK).await;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["starts_at"] == json!(slot))
        }
    };
    assert!(!offered_to(&second.token).await);
    assert!(offered_to(&first.token).await);
    // The first in line sees the offer on their waitlist entry; the second does not.
    let entries = expect_status(app.get("/v1/waitlist", &first.token).await, StatusCode::OK).await;
    assert_eq!(entries["items"][0]["status"], "offered");
    assert_eq!(entries["items"][0]["offer"]["starts_at"], json!(slot));
    assert!(entries["items"][0]["offer"]["expires_at"].is_string());
    let entries = expect_status(app.get("/v1/waitlist", &second.token).await, StatusCode::OK).await;
    assert!(entries["items"][0].get("offer").is_none());

    // The first in line takes it.
    expect_status(
        app.book(&first.token, &practice.booking(slot, None), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    let entries = expect_status(app.get("/v1/waitlist", &first.token).await, StatusCode::OK).await;
    assert_eq!(entries["items"][0]["status"], "fulfilled");
    let entries = expect_status(app.get("/v1/waitlist", &second.token).await, StatusCode::OK).await;
    assert_eq!(entries["items"][0]["status"], "waiting");
}

#[tokio::test]
async fn a_lapsed_hold_passes_to_the_next_in_line() {
    let app = spawn_app_with(|c| c.waitlist_hold_secs = 1).await;
    let practice = open_practice(&app, "cardiology").await;
    let holder = app.user(Role::Patient, "Holder").await;
    let first = app.user(Role::Patient, "First").await;
    let second = app.user(Role::Patient, "Second").await;
    let slot = practice.slot_after(Duration::days(2));
    let booked = id_of(
        expect_status(
            app.book(&holder.token, &practice.booking(slot, None), None)
                .await,
            StatusCode::CREATED,
        )
        .await,
    );
    join(&app, &first.token, &practice, slot).await;
    join(&app, &second.token, &practice, slot).await;
    expect_status(
        app.call(
            Method::POST,
            &format!("/v1/appointments/{booked}/cancel"),
            Some(app.admin()),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    // The first in line lets the hold lapse; the upkeep task offers the slot to the second.
    let events = app
        .wait_for_events("the second offer", |e| {
            e.iter()
                .any(|e| e.kind == EventKind::SlotOffered && e.patient_id == second.id)
        })
        .await;
    let offers: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::SlotOffered)
        .map(|e| e.patient_id)
        .collect();
    assert_eq!(offers, [first.id, second.id]);
    let entries = expect_status(app.get("/v1/waitlist", &first.token).await, StatusCode::OK).await;
    assert_eq!(entries["items"][0]["status"], "expired");
    expect_status(
        app.book(&second.token, &practice.booking(slot, None), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
}
