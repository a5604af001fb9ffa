//! Slot search: local wall-clock time across DST changes, exceptions, booked slots, paging.

use episante_kit::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn paris_weekend_mornings(app: &TestApp) -> (uuid::Uuid, uuid::Uuid) {
    let clinician = app.user(Role::Clinician, "Dr Paris").await;
    let practitioner = app
        .create_practitioner(&clinician, "cardiology", "Europe/Paris")
        .await;
    let weekly: Vec<_> = ["sat", "sun", "mon"]
        .iter()
        .map(|d| json!({"weekday": d, "start": "09:00", "end": "10:00"}))
        .collect();
    app.set_availability(practitioner, &json!({ "weekly": weekly }))
        .await;
    let kind = app.create_type("consultation", 30).await;
    (practitioner, kind)
}

fn starts(slots: &[serde_json::Value]) -> Vec<(&str, &str)> {
    slots
        .iter()
        .map(|s| {
            (
                s["starts_at"].as_str().unwrap(),
                s["local_start"].as_str().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn slots_keep_local_time_across_both_dst_changes() {
    let app = spawn_app().await;
    let (practitioner, kind) = paris_weekend_mornings(&app).await;

    // 2027-03-28: Europe/Paris springs forward (CET → CEST).
    let spring = app
        .slots(practitioner, kind, "2027-03-27", "2027-03-29")
        .await;
    assert_eq!(
        starts(&spring),
        [
            ("2027-03-27T08:00:00Z", "2027-03-27T09:00:00+01:00"),
            ("2027-03-27T08:30:00Z", "2027-03-27T09:30:00+01:00"),
            ("2027-03-28T07:00:00Z", "2027-03-28T09:00:00+02:00"),
            ("2027-03-28T07:30:00Z", "2027-03-28T09:30:00+02:00"),
            ("2027-03-29T07:00:00Z", "2027-03-29T09:00:00+02:00"),
            ("2027-03-29T07:30:00Z", "2027-03-29T09:30:00+02:00"),
        ]
    );
    // 2027-10-31: back to CET.
    let autumn = app
        .slots(practitioner, kind, "2027-10-30", "2027-11-01")
        .await;
    assert_eq!(
        starts(&autumn)
            .iter()
            .map(|(utc, _)| *utc)
            .collect::<Vec<_>>(),
        [
            "2027-10-30T07:00:00Z",
            "2027-10-30T07:30:00Z",
            "2027-10-31T08:00:00Z",
            "2027-10-31T08:30:00Z",
            "2027-11-01T08:00:00Z",
            "2027-11-01T08:30:00Z",
        ]
    );

    // Booking the DST-day slot works; booking an instant that is not a slot start does not.
    let patient = app.user(Role::Patient, "Pat").await;
    let body = |starts_at: &str| json!({"practitioner_id": practitioner, "appointment_type_id": kind, "starts_at": starts_at});
    expect_status(
        app.book(&patient.token, &body("2027-03-28T09:00:00+02:00"), None)
            .await,
        StatusCode::CREATED,
    )
    .await;
    let r = app
        .book(&patient.token, &body("2027-03-28T08:00:00Z"), None)
        .await;
    assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    // The booked slot is no longer offered.
    let spring = app
        .slots(practitioner, kind, "2027-03-28", "2027-03-28")
        .await;
    assert_eq!(starts(&spring).len(), 1);
    assert_eq!(spring[0]["starts_at"], "2027-03-28T07:30:00Z");
}

#[tokio::test]
async fn exceptions_filters_and_pages() {
    let app = spawn_app().await;
    let (practitioner, kind) = paris_weekend_mornings(&app).await;
    // A holiday on Sunday 2027-03-28 (a 23-hour local day).
    app.set_availability(
        practitioner,
        &json!({
            "weekly": [
                {"weekday": "sat", "start": "09:00", "end": "10:00"},
                {"weekday": "sun", "start": "09:00", "end": "10:00"},
                {"weekday": "mon", "start": "09:00", "end": "10:00"}
            ],
            "exceptions": [{"start_date": "2027-03-28", "end_date": "2027-03-28", "reason": "holiday"}]
        }),
    )
    .await;
    let slots = app
        .slots(practitioner, kind, "2027-03-27", "2027-03-29")
        .await;
    assert_eq!(slots.len(), 4);
    assert!(slots
        .iter()
        .all(|s| !s["starts_at"].as_str().unwrap().starts_with("2027-03-28")));
    let availability = expect_status(
        app.get(
            &format!("/v1/practitioners/{practitioner}/availability"),
            app.admin(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        availability["exceptions"][0]["starts_at"],
        "2027-03-27T23:00:00Z"
    );
    assert_eq!(
        availability["exceptions"][0]["ends_at"],
        "2027-03-28T22:00:00Z"
    );

    // Search by specialty and location, paged.
    let page = |offset: i64| {
        format!(
            "/v1/slots?appointment_type_id={kind}&specialty=Cardiology&location=paris&from=2027-03-27&to=2027-03-29&limit=3&offset={offset}"
        )
    };
    let first = expect_status(app.get(&page(0), app.admin()).await, StatusCode::OK).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    assert_eq!(first["next_offset"], 3);
    let second = expect_status(app.get(&page(3), app.admin()).await, StatusCode::OK).await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_offset"].is_null());
    let none = expect_status(
        app.get(
            &format!("/v1/slots?appointment_type_id={kind}&specialty=neurology&from=2027-03-27&to=2027-03-29"),
            app.admin(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);
    // Practitioners are searchable the same way.
    let found = expect_status(
        app.get(
            "/v1/practitioners?specialty=cardiology&language=fr",
            app.admin(),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["items"][0]["id"], json!(practitioner));
}
