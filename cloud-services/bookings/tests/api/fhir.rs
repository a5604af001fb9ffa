//! FHIR R4 views of bookings: every resource validated by an independent validator, searches
//! by the common parameters, the JSON API's access rules, errors as OperationOutcome.

use chrono::Duration;
use episante_kit::Role;
use episante_testkit::fhir::assert_valid_fhir;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn fhir(app: &TestApp, path: &str, token: &str, status: StatusCode) -> Value {
    let r = app.get(path, token).await;
    assert_eq!(r.status(), status, "{path}");
    assert_eq!(
        r.headers()["content-type"],
        "application/fhir+json",
        "{path}"
    );
    let body: Value = r.json().await.unwrap();
    if status.is_success() {
        assert_valid_fhir(path, &body);
    } else {
        assert_eq!(body["resourceType"], "OperationOutcome", "{path}: {body}");
    }
    body
}

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn practitioners_schedules_slots_and_appointments_are_valid_fhir_and_searchable() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    let other = open_practice(&app, "dermatology").await;
    let admin = app.admin().to_string();
    let p = practice.practitioner;

    let practitioner = fhir(
        &app,
        &format!("/v1/fhir/Practitioner/{p}"),
        &admin,
        StatusCode::OK,
    )
    .await;
    assert_eq!(practitioner["resourceType"], "Practitioner");
    assert_eq!(practitioner["name"][0]["text"], "Dr Test");
    let by_language = fhir(
        &app,
        "/v1/fhir/Practitioner?communication=fr&_count=1",
        &admin,
        StatusCode::OK,
    )
    .await;
    assert_eq!(by_language["total"], 2);
    assert_eq!(ids(&by_language).len(), 1, "_count pages");
    let schedule = fhir(
        &app,
        &format!("/v1/fhir/Schedule?actor=Practitioner/{p}"),
        &admin,
        StatusCode::OK,
    )
    .await;
    assert_eq!(ids(&schedule), vec![p.to_string()]);
    fhir(
        &app,
        &format!("/v1/fhir/Schedule/{p}"),
        &admin,
        StatusCode::OK,
    )
    .await;

    // Free slots of one schedule, in a start range, as the JSON search finds them.
    let start = practice.slot_after(Duration::hours(2));
    let end = start + Duration::hours(3);
    let range = format!(
        "start=ge{}&start=lt{}",
        start.format("%Y-%m-%dT%H:%M:%SZ"),
        end.format("%Y-%m-%dT%H:%M:%SZ")
    );
    let slots_path = format!(
        "/v1/fhir/Slot?service-type={}&schedule=Schedule/{p}&status=free&{range}",
        practice.kind
    );
    let slots = fhir(&app, &slots_path, &admin, StatusCode::OK).await;
    assert_eq!(
        slots["total"], 6,
        "six half-hour slots in three hours: {slots}"
    );
    let first = &slots["entry"][0]["resource"];
    assert_eq!(first["status"], "free");
    assert_eq!(first["schedule"]["reference"], format!("Schedule/{p}"));
    assert_eq!(
        first["start"],
        start.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );

    // Booking takes the slot out of the FHIR search and shows up as an Appointment.
    let patient = app.user(Role::Patient, "Ada").await;
    let booked = id_of(
        expect_status(
            app.book(&patient.token, &practice.booking(start, None), None)
                .await,
            StatusCode::CREATED,
        )
        .await,
    );
    let slots = fhir(&app, &slots_path, &admin, StatusCode::OK).await;
    assert_eq!(slots["total"], 5);
    let appointment = fhir(
        &app,
        &format!("/v1/fhir/Appointment/{booked}"),
        &patient.token,
        StatusCode::OK,
    )
    .await;
    assert_eq!(appointment["status"], "booked");
    assert_eq!(
        appointment["participant"][0]["actor"]["reference"],
        format!("Patient/{}", patient.id)
    );
    assert_eq!(
        appointment["participant"][1]["actor"]["reference"],
        format!("Practitioner/{p}")
    );
    for query in [
        format!("patient=Patient/{}", patient.id),
        format!("practitioner={p}&status=booked"),
        format!(
            "date=ge{}&date=lt{}",
            start.format("%Y-%m-%d"),
            (start + Duration::days(2)).format("%Y-%m-%d")
        ),
    ] {
        let found = fhir(
            &app,
            &format!("/v1/fhir/Appointment?{query}"),
            &admin,
            StatusCode::OK,
        )
        .await;
        assert_eq!(ids(&found), vec![booked.to_string()], "{query}");
        assert_eq!(found["total"], 1, "{query}");
    }
    let none = fhir(
        &app,
        &format!("/v1/fhir/Appointment?practitioner={}", other.practitioner),
        &admin,
        StatusCode::OK,
    )
    .await;
    assert_eq!(none["total"], 0);
    let cancelled = fhir(
        &app,
        "/v1/fhir/Appointment?status=cancelled",
        &admin,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["total"], 0);
}

#[tokio::test]
async fn fhir_searches_keep_the_json_access_rules_and_refuse_what_they_do_not_support() {
    let app = spawn_app().await;
    let practice = open_practice(&app, "cardiology").await;
    let start = practice.slot_after(Duration::hours(2));
    let ada = app.user(Role::Patient, "Ada").await;
    let bob = app.user(Role::Patient, "Bob").await;
    let booked = id_of(
        expect_status(
            app.book(&ada.token, &practice.booking(start, None), None)
                .await,
            StatusCode::CREATED,
        )
        .await,
    );
    // Another patient neither reads nor finds it.
    fhir(
        &app,
        &format!("/v1/fhir/Appointment/{booked}"),
        &bob.token,
        StatusCode::NOT_FOUND,
    )
    .await;
    let mine = fhir(&app, "/v1/fhir/Appointment", &bob.token, StatusCode::OK).await;
    assert_eq!(mine["total"], 0);
    fhir(
        &app,
        &format!("/v1/fhir/Appointment?patient={}", ada.id),
        &bob.token,
        StatusCode::FORBIDDEN,
    )
    .await;
    // Ada sees hers without saying whose.
    let hers = fhir(&app, "/v1/fhir/Appointment", &ada.token, StatusCode::OK).await;
    assert_eq!(ids(&hers), vec![booked.to_string()]);

    let admin = app.admin().to_string();
    for (path, status) in [
        ("/v1/fhir/Appointment?_sort=date", StatusCode::BAD_REQUEST),
        ("/v1/fhir/Appointment?status=maybe", StatusCode::BAD_REQUEST),
        ("/v1/fhir/Appointment?date=someday", StatusCode::BAD_REQUEST),
        (
            "/v1/fhir/Appointment?patient=Patient/1&patient=Patient/2",
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/fhir/Appointment/not-an-id", StatusCode::NOT_FOUND),
        ("/v1/fhir/Slot", StatusCode::BAD_REQUEST),
        (
            "/v1/fhir/Practitioner?_count=0",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/fhir/Appointment?_offset=9223372036854775807",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/v1/fhir/Encounter", StatusCode::NOT_FOUND),
    ] {
        fhir(&app, path, &admin, status).await;
    }
    let slot_status = format!("/v1/fhir/Slot?service-type={}&status=busy", practice.kind);
    fhir(&app, &slot_status, &admin, StatusCode::BAD_REQUEST).await;
    let too_long = format!(
        "/v1/fhir/Slot?service-type={}&start=ge2030-01-01&start=lt2031-01-01",
        practice.kind
    );
    fhir(&app, &too_long, &admin, StatusCode::BAD_REQUEST).await;
    let r = app
        .http
        .get(app.url("/v1/fhir/Practitioner"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["content-type"], "application/fhir+json");
}
